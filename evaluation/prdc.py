"""Precision, recall, density and coverage (Naeem et al. 2020) of generated embeddings.

Each point's radius is the distance to its k-th nearest neighbour within its own set, the point
itself excluded. With real points r_i (radius R_i) and fake points f_j (radius F_j):
- precision = share of fake points inside at least one real ball (d(r_i, f_j) < R_i): fidelity;
- recall    = share of real points inside at least one fake ball (d(r_i, f_j) < F_j): diversity;
- density   = 1 / (k M) * number of (fake j, real ball i) pairs with d(r_i, f_j) < R_i: how many
  real neighbourhoods a fake point sits in, on average, over k (about 1 when the sets match);
- coverage  = share of real points whose ball holds at least one fake point (nearest fake point
  closer than R_i): diversity that is robust to fake outliers.
M = number of fake points. Inequalities are strict, as in the authors' code. float64, row chunks.
"""

from __future__ import annotations

import torch

from evaluation.kad import CHUNK, ArrayLike, as_float64, sq_dists

PRDC_NAMES = ("precision", "recall", "density", "coverage")


def knn_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """[N] distance of each row to its k-th nearest neighbour in `points`, itself excluded."""
    radii = []
    for start in range(0, points.shape[0], CHUNK):
        d2 = sq_dists(points[start : start + CHUNK], points)
        rows = torch.arange(d2.shape[0])
        d2[rows, rows + start] = float("inf")  # the point itself is not its own neighbour
        radii.append(torch.kthvalue(d2, k, dim=1).values.sqrt())
    return torch.cat(radii)


def _check(real: torch.Tensor, fake: torch.Tensor, k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"prdc needs an integer k >= 1, got {k!r}")
    smallest = min(real.shape[0], fake.shape[0])
    if smallest <= k:
        raise ValueError(
            f"prdc with k={k} needs more than k points in each set, got {real.shape[0]} real and "
            f"{fake.shape[0]} fake; lower k or embed more clips"
        )
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real has {real.shape[1]} dimensions and fake {fake.shape[1]}; embed both with one "
            "backbone"
        )


def prdc(real: ArrayLike, fake: ArrayLike, k: int = 5) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of fake [M, D] against real [N, D]."""
    r, f = as_float64(real, "real embeddings"), as_float64(fake, "fake embeddings")
    _check(r, f, k)
    real_radii, fake_radii = knn_radii(r, k), knn_radii(f, k)
    in_real_balls = torch.zeros(f.shape[0], dtype=torch.float64)  # per fake point: # real balls
    recalled = torch.zeros(r.shape[0], dtype=torch.bool)
    covered = torch.zeros(r.shape[0], dtype=torch.bool)
    for start in range(0, r.shape[0], CHUNK):
        dist = sq_dists(r[start : start + CHUNK], f).sqrt()  # [chunk of real, M]
        radius = real_radii[start : start + CHUNK, None]
        inside = dist < radius
        in_real_balls += inside.double().sum(0)
        covered[start : start + CHUNK] = inside.any(1)
        recalled[start : start + CHUNK] = (dist < fake_radii[None, :]).any(1)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_real_balls.sum() / (k * f.shape[0])),
        "coverage": float(covered.double().mean()),
    }
