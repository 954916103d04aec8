"""Frechet Audio Distance: Gaussian statistics and the Frechet distance between two Gaussians.

FAD = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)).

`frechet_distance` follows the official DCASE 2023 Task 7 evaluation exactly (scipy's `sqrtm`,
retry with 1e-7 * I on a non-finite square root, fail on an imaginary diagonal above 1e-3, keep
the real part). `frechet_distance_eig` computes the same trace with two symmetric
eigendecompositions (Tr(sqrtm(S1 S2)) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1)))), which is faster and
never complex for positive semi-definite inputs.

Precision: everything here runs in float64 and returns float64 statistics. The official code
accumulates in float64 but stores mu and sigma as float32 before the distance; `round_stats`
does that rounding when exact parity with stored official statistics is wanted.

`fad_inf` / `fad_inf_fit` extrapolate FAD to infinitely many clips (fadtk's FAD-inf) from subsets
of the generated clips, scored with `evaluation.frechet_reference.FrechetToReference`.

The Metric lives in `evaluation/fad_metric.py` and is re-exported here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch

ArrayLike = np.ndarray | torch.Tensor

SQRTM_EPS = 1e-7  # added to both covariances when sqrtm(S1 S2) is not finite
IMAG_TOLERANCE = 1e-3  # largest imaginary part allowed on the diagonal of sqrtm(S1 S2)


def _as_numpy64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu")
        return x.double().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_shapes(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> None:
    if mu1.ndim != 1 or mu2.ndim != 1:
        raise ValueError(
            f"frechet_distance expects 1-D means [D], got shapes {mu1.shape} and {mu2.shape}; "
            "pass the per-class mean vectors, not the embeddings"
        )
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"the two means have different sizes {mu1.shape} and {mu2.shape}; both sets must be "
            "embedded with the same backbone"
        )
    d = mu1.shape[0]
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(
                f"{name} has shape {sigma.shape}, expected ({d}, {d}) to match the means; "
                "pass the covariance matrix of the same embeddings"
            )


def gaussian_stats(embeddings: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """embeddings [M, D] -> (mu [D], sigma [D, D]) in float64, unbiased (M - 1) covariance."""
    x = torch.as_tensor(embeddings).detach().double()
    if x.dim() != 2:
        raise ValueError(
            f"gaussian_stats expects embeddings [M, D], got shape {tuple(x.shape)}; "
            "flatten the batch and window dimensions first"
        )
    if x.shape[0] < 2:
        raise ValueError(
            f"gaussian_stats needs at least 2 embeddings for a covariance, got {x.shape[0]}; "
            "embed more clips"
        )
    mu = x.mean(dim=0)
    centred = x - mu
    sigma = centred.T @ centred / (x.shape[0] - 1)
    return mu, sigma


def stats_from_sums(
    total: torch.Tensor, outer: torch.Tensor, count: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum x [D], sum x x^T [D, D], n) -> (mu [D], unbiased sigma [D, D]) in float64."""
    n = float(count)
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {int(n)}; embed more clips")
    total, outer = total.double(), outer.double()
    mu = total / n
    sigma = (outer - n * torch.outer(mu, mu)) / (n - 1)
    return mu, 0.5 * (sigma + sigma.T)


def round_stats(mu: ArrayLike, sigma: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Round statistics to float32 as the official code stores them (then back to float64)."""
    return (
        _as_numpy64(mu).astype(np.float32).astype(np.float64),
        _as_numpy64(sigma).astype(np.float32).astype(np.float64),
    )


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * SQRTM_EPS
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag)
        if not np.all(imag <= IMAG_TOLERANCE):
            largest = np.max(np.abs(covmean.imag))
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) has an imaginary component of {largest:.3g} "
                f"on its diagonal (> {IMAG_TOLERANCE}); the covariances are too ill-conditioned: "
                "embed more samples than dimensions or use frechet_distance_eig"
            )
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Frechet distance of N(mu1, sigma1) and N(mu2, sigma2), the official FAD formula.

    mu [D], sigma [D, D] (numpy or torch, any float dtype; computed in float64).
    """
    mu1, sigma1, mu2, sigma2 = (_as_numpy64(x) for x in (mu1, sigma1, mu2, sigma2))
    _check_shapes(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    tr_covmean = _trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    eigvals, eigvecs = torch.linalg.eigh(0.5 * (sigma + sigma.T))
    return (eigvecs * eigvals.clamp(min=0.0).sqrt()) @ eigvecs.T


def frechet_distance_eig(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike
) -> float:
    """The Frechet distance with Tr(sqrtm(S1 S2)) from symmetric eigendecompositions (float64).

    sqrt(S1) S2 sqrt(S1) is similar to S1 S2 and symmetric positive semi-definite, so the trace
    of sqrtm(S1 S2) is the sum of the square roots of its (clamped >= 0) eigenvalues.
    Singular covariances need no regularisation here.
    """
    arrays = [_as_numpy64(x) for x in (mu1, sigma1, mu2, sigma2)]
    _check_shapes(*arrays)
    m1, s1, m2, s2 = (torch.from_numpy(x) for x in arrays)
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    eigvals = torch.linalg.eigvalsh(0.5 * (middle + middle.T))
    tr_covmean = eigvals.clamp(min=0.0).sqrt().sum()
    diff = m1 - m2
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean)


class FadInfFit(NamedTuple):
    score: float  # FAD-inf: the intercept of FAD against 1 / N at 1 / N = 0
    slope: float
    r2: float
    sizes: list[int]  # N of each subset (clips when clip ids are given, else rows)
    values: list[float]  # FAD of each subset


def _subset_sizes(units: int, num_sizes: int, min_fraction: float) -> list[int]:
    low = max(2, int(np.ceil(min_fraction * units)))
    sizes = sorted({int(round(n)) for n in np.linspace(low, units, num_sizes)})
    if len(sizes) < 2:
        raise ValueError(
            f"FAD-inf needs subsets of at least 2 sizes; {units} clip(s) with min_fraction "
            f"{min_fraction} give {sizes}: use more clips or a lower min_fraction"
        )
    return sizes


def fad_inf_fit(
    x: ArrayLike,
    y: ArrayLike,
    clip_ids: ArrayLike | None = None,
    num_sizes: int = 10,
    repeats: int = 4,
    min_fraction: float = 0.5,
    seed: int = 0,
) -> FadInfFit:
    """FAD-inf (fadtk; Chong & Forsyth 2020's extrapolation) of generated x [m, D] vs reference y.

    The reference statistics come from all of y [n, D]. The generated set is cut into units:
    whole clips when `clip_ids` [m] is given (all rows of a clip stay together), else single rows.
    For `num_sizes` sizes N from ceil(min_fraction * units) to all units (e.g. 50..100 of 100
    clips), `repeats` random subsets of N units are drawn WITHOUT replacement (a subset of an i.i.d.
    sample is an i.i.d. sample of size N, so FAD(N) ~ FAD + c / N; fadtk draws frames with
    replacement from a large pool, which on a fixed 100-clip set would keep the bias of the full
    set), the whole set once. Clips are the units because a clip's ten VGGish windows overlap and
    are not independent samples. A least-squares line of FAD against 1 / N gives the intercept.
    """
    from evaluation.frechet_reference import FrechetToReference

    rows = _as_numpy64(x)
    distance = FrechetToReference.from_embeddings(y)
    ids = np.arange(rows.shape[0]) if clip_ids is None else np.asarray(clip_ids).reshape(-1)
    if ids.shape[0] != rows.shape[0]:
        raise ValueError(f"clip_ids has {ids.shape[0]} entries for {rows.shape[0]} rows of x")
    units, inverse = np.unique(ids, return_inverse=True)
    projected = distance.project(rows)
    rng = np.random.default_rng(seed)
    sizes, values = [], []
    for size in _subset_sizes(len(units), num_sizes, min_fraction):
        for _ in range(repeats if size < len(units) else 1):
            chosen = np.zeros(len(units), dtype=bool)
            chosen[rng.choice(len(units), size=size, replace=False)] = True
            sizes.append(size)
            values.append(distance.distance(projected, chosen[inverse].astype(np.float64)))
    inv, fads = 1.0 / np.asarray(sizes, dtype=np.float64), np.asarray(values)
    slope, intercept = np.polyfit(inv, fads, 1)
    residual = np.sum((fads - (slope * inv + intercept)) ** 2)
    spread = np.sum((fads - fads.mean()) ** 2)
    r2 = 1.0 - residual / spread if spread > 0 else 1.0
    return FadInfFit(float(intercept), float(slope), float(r2), sizes, values)


def fad_inf(x: ArrayLike, y: ArrayLike, clip_ids: ArrayLike | None = None, **kwargs) -> float:
    """FAD-inf of generated x [m, D] against reference y [n, D]: `fad_inf_fit(...).score`."""
    return fad_inf_fit(x, y, clip_ids, **kwargs).score


def __getattr__(name: str):  # lazy re-export keeps this module importable on its own
    if name == "FrechetAudioDistance":
        from evaluation.fad_metric import FrechetAudioDistance

        return FrechetAudioDistance
    raise AttributeError(f"module 'evaluation.fad' has no attribute {name!r}")
