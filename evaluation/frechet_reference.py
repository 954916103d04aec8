"""The Frechet distance of many sample sets to one fixed reference, and of two embedding sets.

For a reference N(mu_ref, S_ref) and any P [D, k] with P P^T = S_ref, the nonzero eigenvalues of
S_ref S_x equal those of P^T S_x P = Z^T Z, Z = xc P / sqrt(n - 1) (xc the centred rows of x), so
Tr sqrtm(S_ref S_x) is the nuclear norm of Z [n, k]: the sum of the square roots of the eigenvalues
of the smaller of Z^T Z and Z Z^T. P is sqrt(S_ref) [D, D] (one symmetric eigendecomposition), or,
when the reference has fewer rows than dimensions (PANNs: 100 clips of 2,048 dims), its centred
rows A^T / sqrt(n_ref - 1) [D, n_ref] (no D x D matrix at all). Exact either way; the value is
`frechet_distance_eig`'s, the official `frechet_distance` up to rounding, in float64.

On 100 x 2,048 PANNs clip embeddings the official scipy sqrtm takes ~100 s per class on 2 CPU
cores and the D x D eigen path ~30 s; the low-rank path takes milliseconds.
"""

from __future__ import annotations

import numpy as np
import torch

from evaluation.fad import (
    ArrayLike,
    _as_numpy64,
    _check_shapes,
    _psd_sqrt,
    frechet_distance,
    gaussian_stats,
)


class FrechetToReference:
    """distance(x [n, D], weights [n] | None) -> Frechet distance to a fixed reference.

    Weights (non-negative counts per row) give the statistics of the rows repeated that often (a
    bootstrap resample) or 0/1 (a subset); `project` computes x P once for many weightings.
    """

    def __init__(self, mu: ArrayLike, sigma: ArrayLike) -> None:
        self.mu, sigma64 = _as_numpy64(mu), _as_numpy64(sigma)
        _check_shapes(self.mu, sigma64, self.mu, sigma64)
        self.projection = _psd_sqrt(torch.from_numpy(sigma64)).numpy()  # [D, D]
        self.trace = float(np.trace(sigma64))

    @classmethod
    def from_embeddings(cls, y: ArrayLike) -> FrechetToReference:
        """The reference of embeddings y [n, D]; low-rank (no D x D matrix) when n < D."""
        rows = _as_numpy64(y)
        if rows.ndim != 2 or rows.shape[0] < 2:
            raise ValueError(
                f"reference embeddings must be [n >= 2, D], got shape {rows.shape}; "
                "embed more clips"
            )
        if rows.shape[0] >= rows.shape[1]:
            return cls(*gaussian_stats(rows))
        self = cls.__new__(cls)
        self.mu = rows.mean(axis=0)
        factor = (rows - self.mu) / np.sqrt(rows.shape[0] - 1.0)  # S_ref = factor^T factor
        self.projection, self.trace = factor.T, float(np.sum(factor**2))
        return self

    def project(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """x [n, D] -> (x, x P) in float64, for `distance`."""
        rows = _as_numpy64(x)
        if rows.ndim != 2 or rows.shape[1] != self.mu.shape[0]:
            raise ValueError(
                f"expected embeddings [n, {self.mu.shape[0]}] (the reference's size), got shape "
                f"{rows.shape}; embed both sets with one backbone"
            )
        return rows, rows @ self.projection

    def distance(self, projected: tuple[np.ndarray, np.ndarray], weights=None) -> float:
        rows, rooted = projected
        w = np.ones(rows.shape[0]) if weights is None else _as_numpy64(weights).reshape(-1)
        total = float(w.sum())
        if total < 2:
            raise ValueError(f"a covariance needs a total weight of at least 2, got {total}")
        mu = w @ rows / total
        scale = np.sqrt(w / (total - 1.0))[:, None]
        z = scale * (rooted - w @ rooted / total)
        gram = z.T @ z if z.shape[0] >= z.shape[1] else z @ z.T
        tr_covmean = np.sqrt(np.linalg.eigvalsh(0.5 * (gram + gram.T)).clip(min=0.0)).sum()
        diff = mu - self.mu
        trace_x = float(np.sum((scale * (rows - mu)) ** 2))
        return float(diff @ diff + trace_x + self.trace - 2.0 * tr_covmean)

    def __call__(self, x: ArrayLike, weights: ArrayLike | None = None) -> float:
        # x [n, D], weights [n] or None -> Frechet distance to the reference
        return self.distance(self.project(x), weights)


def frechet_distance_embeddings(x: ArrayLike, y: ArrayLike) -> float:
    """FAD of generated x [m, D] against reference y [n, D] from the embeddings themselves.

    Both sets with more rows than dimensions (VGGish: 1,000 windows of 128): the official
    `frechet_distance(mu_y, S_y, mu_x, S_x)`. Otherwise (PANNs clips) the exact low-rank path of
    `FrechetToReference.from_embeddings(y)`, where the official sqrtm is slow and ill-conditioned.
    """
    rows, ref = _as_numpy64(x), _as_numpy64(y)
    if rows.ndim == 2 and ref.ndim == 2 and min(rows.shape[0], ref.shape[0]) > rows.shape[1]:
        return frechet_distance(*gaussian_stats(ref), *gaussian_stats(rows))
    return FrechetToReference.from_embeddings(ref)(rows)
