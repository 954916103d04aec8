"""Kernel Audio Distance (Chung et al. 2025, kadtk): 100 x the unbiased MMD^2, Gaussian kernel.

KAD(x, y) = 100 * [ 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
                    - 2/(m n) sum_{i, j} k(x_i, y_j) ],   k(a, b) = exp(-|a - b|^2 / (2 bw^2)),

x the generated embeddings [m, D], y the reference [n, D], bw the median pairwise L2 distance of
the reference embeddings (distinct pairs i < j) unless given. Unbiased, so it can be slightly
negative when both sets come from one distribution; no covariance is estimated, so it works with
fewer samples than dimensions (PANNs' 2,048-d clip embeddings).

Everything runs in float64 in row chunks: memory is O(chunk x n), never the full n x n matrix
(except `kernel_matrix`, used by the bootstrap on the generated side only).
"""

from __future__ import annotations

import numpy as np
import torch

SCALE = 100.0
CHUNK = 1024  # rows per block of distances
MEDIAN_MAX_ROWS = 5000  # above this, the bandwidth comes from a seeded subset of the reference

ArrayLike = np.ndarray | torch.Tensor


def as_float64(x: ArrayLike, name: str, min_rows: int = 2) -> torch.Tensor:
    """[N, D] numpy or torch -> float64 CPU tensor, with a clear error for wrong shapes."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.detach().to("cpu", torch.float64)
    if t.dim() != 2:
        raise ValueError(
            f"{name} must be embeddings [N, D], got shape {tuple(t.shape)}; flatten clips and "
            "windows into rows first"
        )
    if t.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} embeddings, got {t.shape[0]}")
    return t


def sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # a [p, D], b [q, D] -> squared L2 distances [p, q], clamped at 0
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d2.clamp_(min=0.0)


def median_pairwise_distance(y: ArrayLike, seed: int = 0) -> float:
    """Median L2 distance over distinct pairs i < j of y [n, D] (numpy's median: mean of the
    two middle values for an even count). Above MEDIAN_MAX_ROWS rows a seeded random subset of
    that many rows is used (the median of 12.5 M pairs is already exact to a few 1e-3)."""
    t = as_float64(y, "reference embeddings")
    if t.shape[0] > MEDIAN_MAX_ROWS:
        rows = np.random.default_rng(seed).choice(t.shape[0], MEDIAN_MAX_ROWS, replace=False)
        t = t[torch.from_numpy(np.sort(rows))]
    parts = []
    for start in range(0, t.shape[0] - 1, CHUNK):
        block = t[start : start + CHUNK]
        d2 = sq_dists(block, t[start:])
        upper = torch.triu(torch.ones_like(d2, dtype=torch.bool), diagonal=1)
        parts.append(d2[upper].sqrt())
    return float(np.median(torch.cat(parts).numpy()))


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, same: bool) -> float:
    """sum_{i, j} exp(-gamma |a_i - b_j|^2), without the i == j terms when `same`."""
    total = 0.0
    for start in range(0, a.shape[0], CHUNK):
        k = torch.exp(-gamma * sq_dists(a[start : start + CHUNK], b))
        if same:
            rows = torch.arange(k.shape[0])
            k[rows, rows + start] = 0.0
        total += float(k.sum())
    return total


def kernel_row_sums(a: ArrayLike, b: ArrayLike, bandwidth: float) -> torch.Tensor:
    """[p] float64: sum_j k(a_i, b_j) for every row of a (the bootstrap's cross term)."""
    ta, tb = as_float64(a, "a", 1), as_float64(b, "b", 1)
    gamma = 1.0 / (2.0 * bandwidth**2)
    return torch.cat(
        [
            torch.exp(-gamma * sq_dists(ta[s : s + CHUNK], tb)).sum(1)
            for s in range(0, ta.shape[0], CHUNK)
        ]
    )


def self_kernel_mean(y: ArrayLike, bandwidth: float) -> float:
    """1/(n(n-1)) sum_{i != j} k(y_i, y_j): the reference term of KAD."""
    ty = as_float64(y, "reference embeddings y")
    n = ty.shape[0]
    return _kernel_sum(ty, ty, 1.0 / (2.0 * bandwidth**2), same=True) / (n * (n - 1))


def kernel_matrix(a: ArrayLike, b: ArrayLike, bandwidth: float) -> torch.Tensor:
    """Gaussian kernel matrix [p, q] in float64 (the bootstrap's generated-side Gram matrix)."""
    ta, tb = as_float64(a, "a", 1), as_float64(b, "b", 1)
    gamma = 1.0 / (2.0 * bandwidth**2)
    return torch.cat(
        [torch.exp(-gamma * sq_dists(ta[s : s + CHUNK], tb)) for s in range(0, ta.shape[0], CHUNK)]
    )


def check_bandwidth(bandwidth: float) -> float:
    bw = float(bandwidth)
    if not np.isfinite(bw) or bw <= 0.0:
        raise ValueError(
            f"KAD bandwidth must be a positive number, got {bandwidth!r}: the reference "
            "embeddings are all identical (median distance 0); check the reference set"
        )
    return bw


def kernel_audio_distance(x: ArrayLike, y: ArrayLike, bandwidth: float | None = None) -> float:
    """KAD of generated x [m, D] against reference y [n, D] (float64); see the module doc."""
    tx, ty = as_float64(x, "generated embeddings x"), as_float64(y, "reference embeddings y")
    if tx.shape[1] != ty.shape[1]:
        raise ValueError(
            f"x has {tx.shape[1]} dimensions and y {ty.shape[1]}; embed both with one backbone"
        )
    bw = check_bandwidth(median_pairwise_distance(ty) if bandwidth is None else bandwidth)
    gamma = 1.0 / (2.0 * bw**2)
    m, n = tx.shape[0], ty.shape[0]
    xx = _kernel_sum(tx, tx, gamma, same=True) / (m * (m - 1))
    yy = self_kernel_mean(ty, bw)
    xy = _kernel_sum(tx, ty, gamma, same=False) / (m * n)
    return SCALE * (xx + yy - 2.0 * xy)
