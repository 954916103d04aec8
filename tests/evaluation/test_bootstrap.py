"""Clip-bootstrap intervals of FAD and KAD: whole clips resampled, seeded, sensible widths."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.bootstrap import (
    bootstrap_interval,
    clip_resamples,
    fad_replicates,
    kad_replicates,
    percentile_interval,
    resample_counts,
)
from evaluation.fad import frechet_distance, gaussian_stats
from evaluation.frechet_reference import FrechetToReference
from evaluation.kad import kernel_audio_distance, median_pairwise_distance


def _clips(rng, n_clips: int, frames: int = 4, d: int = 6, shift: float = 0.0):
    """Rows of n_clips clips: a clip centre plus per-window noise (windows of a clip correlate)."""
    centres = rng.normal(size=(n_clips, d)) + shift
    rows = np.repeat(centres, frames, axis=0) + 0.5 * rng.normal(size=(n_clips * frames, d))
    return rows, np.repeat(np.arange(n_clips), frames)


def test_resamples_keep_the_rows_of_a_clip_together() -> None:
    ids = np.array([7, 7, 7, 3, 3, 9, 9, 9, 9])  # clips of 3, 2 and 4 rows, not sorted by id
    for idx in clip_resamples(ids, n_boot=50, seed=0):
        assert len(np.unique(ids[idx])) <= 3
        pos = 0
        while pos < len(idx):  # walk the resample clip by clip
            clip = ids[idx[pos]]
            rows = np.flatnonzero(ids == clip)
            np.testing.assert_array_equal(idx[pos : pos + len(rows)], rows)
            pos += len(rows)
    draws = [len(idx) for idx in clip_resamples(ids, n_boot=200, seed=0)]
    assert len(set(draws)) > 1  # clips of unequal length are drawn, not rows


def test_resamples_are_seeded_and_draw_with_replacement() -> None:
    ids = np.repeat(np.arange(20), 3)
    first, again = clip_resamples(ids, 5, seed=1), clip_resamples(ids, 5, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], clip_resamples(ids, 5, seed=2)[0])
    counts = resample_counts(ids, 100, seed=1)
    assert counts.shape == (100, 60) and np.all(counts.sum(1) == 60)
    assert counts.max() >= 2 and (counts == 0).any()  # duplicates and left-out clips


def test_replicates_equal_the_statistic_on_the_resampled_rows() -> None:
    rng = np.random.default_rng(0)
    x, ids = _clips(rng, 12)
    y, _ = _clips(rng, 15, shift=0.3)
    idx = clip_resamples(ids, 3, seed=4)
    fad = fad_replicates(x, ids, y, n_boot=3, seed=4)
    kad = kad_replicates(x, ids, y, n_boot=3, seed=4)
    mu_y, sigma_y = gaussian_stats(y)
    bw = median_pairwise_distance(y)
    for b in range(3):
        rows = x[idx[b]]
        expected = frechet_distance(mu_y, sigma_y, *gaussian_stats(rows))
        assert fad[b] == pytest.approx(expected, rel=1e-7)
        assert kad[b] == pytest.approx(kernel_audio_distance(rows, y, bandwidth=bw), rel=1e-9)


def test_interval_contains_the_estimate_and_narrows_with_more_clips() -> None:
    rng = np.random.default_rng(1)
    y, _ = _clips(rng, 300)
    widths = {}
    for n_clips in (25, 400):
        x, ids = _clips(rng, n_clips, shift=0.4)
        fad = frechet_distance(*gaussian_stats(y), *gaussian_stats(x))
        kad = kernel_audio_distance(x, y)
        f_lo, f_hi = bootstrap_interval(fad, fad_replicates(x, ids, y, n_boot=100, seed=0))
        k_lo, k_hi = bootstrap_interval(kad, kad_replicates(x, ids, y, n_boot=100, seed=0))
        assert f_lo < fad < f_hi and k_lo < kad < k_hi
        widths[n_clips] = (f_hi - f_lo, k_hi - k_lo)
    assert widths[400][0] < 0.5 * widths[25][0] and widths[400][1] < 0.5 * widths[25][1]


def test_bootstrap_spread_matches_the_spread_over_independent_sets() -> None:
    """The width that matters: how much the number moves with another draw of as many clips."""
    rng = np.random.default_rng(2)
    y, _ = _clips(rng, 400)
    reference = FrechetToReference(*gaussian_stats(y))
    fresh = [reference(_clips(rng, 60, shift=0.3)[0]) for _ in range(40)]
    x, ids = _clips(rng, 60, shift=0.3)
    boot = fad_replicates(x, ids, y, n_boot=200, seed=0)
    assert 0.6 < np.std(boot) / np.std(fresh) < 1.7


def test_plain_percentile_interval_and_centring() -> None:
    values = np.arange(1, 101, dtype=float)
    lo, hi = percentile_interval(values, 0.9)
    assert (lo, hi) == pytest.approx(np.percentile(values, [5, 95]))
    lo_c, hi_c = bootstrap_interval(10.0, values, 0.9)  # the same width placed at the estimate
    assert (lo_c, hi_c) == pytest.approx((10.0 + lo - 50.5, 10.0 + hi - 50.5))
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        percentile_interval(values, 95)


def test_bad_input_explains() -> None:
    x = np.zeros((6, 2))
    with pytest.raises(ValueError, match="at least 2 clips"):
        clip_resamples(np.zeros(6), 10)
    with pytest.raises(ValueError, match="n_boot must be at least 1"):
        clip_resamples(np.arange(6), 0)
    with pytest.raises(ValueError, match="one clip id per row"):
        fad_replicates(x, np.arange(5), np.random.rand(9, 2), n_boot=2)
