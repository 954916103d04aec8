"""Kernel Audio Distance against a direct NumPy double loop, and its properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import evaluation.kad as kad_mod
from evaluation.kad import kernel_audio_distance, median_pairwise_distance


def direct_kad(x: np.ndarray, y: np.ndarray, bw: float | None = None) -> float:
    """The definition, one pair at a time."""
    if bw is None:
        bw = np.median(
            [np.linalg.norm(y[i] - y[j]) for i, j in itertools.combinations(range(len(y)), 2)]
        )

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * bw**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return 100.0 * (xx + yy - 2 * xy)


def test_matches_direct_double_loop(monkeypatch) -> None:
    monkeypatch.setattr(kad_mod, "CHUNK", 7)  # several chunks, one ragged
    rng = np.random.default_rng(0)
    x = rng.standard_normal((23, 5)) + 0.3
    y = rng.standard_normal((17, 5)) * 1.2
    assert kernel_audio_distance(x, y) == pytest.approx(direct_kad(x, y), rel=1e-10)
    assert kernel_audio_distance(x, y, bandwidth=0.7) == pytest.approx(
        direct_kad(x, y, 0.7), rel=1e-10
    )


def test_bandwidth_is_median_of_reference_pairs(monkeypatch) -> None:
    monkeypatch.setattr(kad_mod, "CHUNK", 4)
    rng = np.random.default_rng(1)
    y = rng.standard_normal((12, 3))  # 66 pairs: an even count, median = mean of the middle two
    pairs = [np.linalg.norm(y[i] - y[j]) for i, j in itertools.combinations(range(12), 2)]
    assert median_pairwise_distance(y) == pytest.approx(np.median(pairs), rel=1e-12)
    x = rng.standard_normal((10, 3)) * 5.0  # the generated set must not change the bandwidth
    bw = np.median(pairs)
    assert kernel_audio_distance(x, y) == pytest.approx(kernel_audio_distance(x, y, bw), rel=1e-12)


def test_identical_sets_give_about_zero_and_shift_increases_it() -> None:
    rng = np.random.default_rng(2)
    y = rng.standard_normal((400, 16))
    same = rng.standard_normal((400, 16))
    # the same rows on both sides: the cross term includes the n pairs k(y_i, y_i) = 1 that the
    # unbiased within-set terms leave out, so KAD = -200 (1 - mean_{i != j} k) / n: small, < 0
    identical = kernel_audio_distance(y, y)
    within = kad_mod.self_kernel_mean(y, median_pairwise_distance(y))
    assert identical == pytest.approx(-200.0 * (1.0 - within) / 400, rel=1e-9)
    assert -0.5 < identical < 0.0
    assert abs(kernel_audio_distance(same, y)) < 0.5  # same distribution: unbiased, near 0
    values = [kernel_audio_distance(same + shift, y) for shift in (0.25, 0.5, 1.0)]
    assert abs(kernel_audio_distance(same, y)) < values[0] < values[1] < values[2]


def test_torch_and_float32_inputs_are_computed_in_float64() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((25, 4)) + 0.1
    expected = kernel_audio_distance(x, y)
    got = kernel_audio_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert got == pytest.approx(expected, rel=1e-5)


def test_large_reference_bandwidth_uses_a_seeded_subset(monkeypatch) -> None:
    monkeypatch.setattr(kad_mod, "MEDIAN_MAX_ROWS", 50)
    y = np.random.default_rng(4).standard_normal((200, 3))
    first, second = median_pairwise_distance(y), median_pairwise_distance(y)
    assert first == second  # seeded
    full = np.median(
        [np.linalg.norm(y[i] - y[j]) for i, j in itertools.combinations(range(200), 2)]
    )
    assert first == pytest.approx(full, rel=0.1)


def test_bad_input_explains() -> None:
    with pytest.raises(ValueError, match=r"embeddings \[N, D\]"):
        kernel_audio_distance(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        kernel_audio_distance(np.zeros((1, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="one backbone"):
        kernel_audio_distance(np.zeros((3, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="all identical"):
        kernel_audio_distance(np.random.rand(3, 2), np.ones((5, 2)))
