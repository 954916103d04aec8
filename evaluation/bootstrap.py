"""Bootstrap intervals for per-class FAD and KAD, resampling whole clips.

A class's generated embeddings are rows [m, D] with a clip id per row (VGGish: ten 1 s windows
per 4 s clip; PANNs: one row per clip). A resample draws as many clip ids as there are clips,
with replacement, and takes ALL rows of each drawn clip (a clip drawn twice contributes its rows
twice): windows of one clip overlap and are not independent, so frames are never resampled one
by one. The reference set is held fixed (it is the evaluation set every system is compared to),
so the interval is the uncertainty due to the finite generated sample. Seeded.

The interval: both statistics are biased upwards by a resample's duplicates (it holds ~63 %
distinct clips: FAD's small-sample bias grows, KAD counts the pairs of a duplicated row as
distinct). On 100 clips x 10 windows x 128 dims the plain percentile interval of the replicates
lay entirely above the point estimate (FAD 82 vs [98, 107]). `bootstrap_interval` therefore
reports the percentile interval of the replicates' deviations from their own mean, placed at the
point estimate: estimate + [q_2.5, q_97.5] of (replicate - mean replicate). It says how much the
reported number moves with another draw of the same number of clips, which is what comparing two
systems at the official 100 clips per class needs. `percentile_interval` is the plain one.
"""

from __future__ import annotations

import numpy as np
import torch

from evaluation.fad import ArrayLike
from evaluation.frechet_reference import FrechetToReference
from evaluation.kad import (
    SCALE,
    as_float64,
    check_bandwidth,
    kernel_matrix,
    kernel_row_sums,
    median_pairwise_distance,
    self_kernel_mean,
)

N_BOOT_FAD = 200  # each replicate needs an eigendecomposition
N_BOOT_KAD = 200


def clip_resamples(clip_ids: ArrayLike, n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """n_boot row-index arrays, each the rows of len(unique clips) clips drawn with replacement.

    The rows of one clip appear together and in their original order, once per draw of it.
    """
    ids = np.asarray(clip_ids).reshape(-1)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    clips, inverse = np.unique(ids, return_inverse=True)
    if len(clips) < 2:
        raise ValueError(
            f"a clip bootstrap needs at least 2 clips, got {len(clips)}; pass one clip id per row"
        )
    rows_of = [np.flatnonzero(inverse == c) for c in range(len(clips))]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(clips), size=(n_boot, len(clips)))
    return [np.concatenate([rows_of[c] for c in draw]) for draw in draws]


def percentile_interval(replicates: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """(lo, hi): the (1 - level) / 2 and (1 + level) / 2 quantiles of the replicates."""
    values = np.asarray(replicates, dtype=np.float64)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_interval(
    estimate: float, replicates: ArrayLike, level: float = 0.95
) -> tuple[float, float]:
    """(lo, hi) = estimate + the percentile interval of (replicates - mean(replicates))."""
    values = np.asarray(replicates, dtype=np.float64)
    lo, hi = percentile_interval(values - values.mean(), level)
    return float(estimate) + lo, float(estimate) + hi


def resample_counts(clip_ids: ArrayLike, n_boot: int, seed: int = 0) -> np.ndarray:
    """[n_boot, m] how often each row appears in each of `clip_resamples`' resamples."""
    rows = np.asarray(clip_ids).reshape(-1).shape[0]
    return np.stack(
        [np.bincount(idx, minlength=rows) for idx in clip_resamples(clip_ids, n_boot, seed)]
    ).astype(np.float64)


def _check_rows(x: torch.Tensor, clip_ids: ArrayLike) -> None:
    if np.asarray(clip_ids).reshape(-1).shape[0] != x.shape[0]:
        raise ValueError(
            f"clip_ids has {np.asarray(clip_ids).size} entries for {x.shape[0]} embedding rows; "
            "give one clip id per row"
        )


def fad_replicates(
    x: ArrayLike,
    clip_ids: ArrayLike,
    y: ArrayLike,
    n_boot: int = N_BOOT_FAD,
    seed: int = 0,
) -> np.ndarray:
    """[n_boot] FAD of clip resamples of generated x [m, D] against the reference y [n, D]."""
    rows = as_float64(x, "generated embeddings x")
    _check_rows(rows, clip_ids)
    distance = FrechetToReference.from_embeddings(as_float64(y, "reference embeddings y"))
    projected = distance.project(rows.numpy())
    counts = resample_counts(clip_ids, n_boot, seed)
    return np.array([distance.distance(projected, weights) for weights in counts])


def kad_replicates(
    x: ArrayLike,
    clip_ids: ArrayLike,
    y: ArrayLike,
    bandwidth: float | None = None,
    n_boot: int = N_BOOT_KAD,
    seed: int = 0,
) -> np.ndarray:
    """[n_boot] KAD of clip resamples of x [m, D] against y [n, D], bandwidth from y when None.

    A resample is a count c_r per original row; with K the generated Gram matrix, the sum over
    distinct positions i != j of the resampled rows is c^T K c - sum_r c_r (k(x, x) = 1), and the
    cross term is c . (row sums of k(x, y)): exactly KAD on the concatenated resampled rows.
    """
    rows = as_float64(x, "generated embeddings x")
    ref = as_float64(y, "reference embeddings y")
    _check_rows(rows, clip_ids)
    bw = check_bandwidth(median_pairwise_distance(ref) if bandwidth is None else bandwidth)
    gram = kernel_matrix(rows, rows, bw)  # [m, m]
    cross = kernel_row_sums(rows, ref, bw) / ref.shape[0]  # [m]
    yy = self_kernel_mean(ref, bw)
    counts = torch.from_numpy(resample_counts(clip_ids, n_boot, seed))  # [n_boot, m]
    total = counts.sum(1)
    xx = (((counts @ gram) * counts).sum(1) - total) / (total * (total - 1.0))
    xy = (counts @ cross) / total
    return (SCALE * (xx + yy - 2.0 * xy)).numpy()
