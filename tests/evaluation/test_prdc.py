"""Precision / recall / density / coverage against a direct NumPy implementation."""

from __future__ import annotations

import numpy as np
import pytest

import evaluation.prdc as prdc_mod
from evaluation.prdc import knn_radii, prdc


def direct_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Naeem et al.'s definitions with full distance matrices and explicit loops."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(points):
        d = dist(points, points)
        return np.array([np.sort(np.delete(d[i], i))[k - 1] for i in range(len(points))])

    r_rad, f_rad = radii(real), radii(fake)
    d = dist(real, fake)  # [N real, M fake]
    inside_real = d < r_rad[:, None]
    return {
        "precision": float(np.mean([inside_real[:, j].any() for j in range(len(fake))])),
        "recall": float(np.mean([(d[i] < f_rad).any() for i in range(len(real))])),
        "density": float(inside_real.sum() / (k * len(fake))),
        "coverage": float(np.mean([d[i].min() < r_rad[i] for i in range(len(real))])),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_direct_numpy(monkeypatch, k) -> None:
    monkeypatch.setattr(prdc_mod, "CHUNK", 16)  # several chunks, one ragged
    rng = np.random.default_rng(k)
    real = rng.standard_normal((60, 4))
    fake = rng.standard_normal((45, 4)) * 1.3 + 0.4
    got, expected = prdc(real, fake, k=k), direct_prdc(real, fake, k)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name
    assert 0.0 < got["precision"] < 1.0 and 0.0 < got["coverage"] < 1.0  # a non-trivial case


def test_radius_excludes_the_point_itself() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(prdc_mod.as_float64(points, "p"), 1), [1, 1, 2, 4])
    np.testing.assert_allclose(knn_radii(prdc_mod.as_float64(points, "p"), 2), [3, 2, 3, 6])


def test_identical_sets_give_one() -> None:
    real = np.random.default_rng(0).standard_normal((80, 6))
    got = prdc(real, real.copy(), k=5)
    assert got == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0})


def test_far_disjoint_sets_give_zero() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((50, 3)), rng.standard_normal((40, 3)) + 100.0
    assert prdc(real, fake, k=5) == {
        "precision": 0.0,
        "recall": 0.0,
        "density": 0.0,
        "coverage": 0.0,
    }


def test_fidelity_and_diversity_move_apart() -> None:
    rng = np.random.default_rng(2)
    real = rng.standard_normal((300, 2))
    collapsed = rng.standard_normal((300, 2)) * 0.1  # faithful but not diverse
    got = prdc(real, collapsed, k=5)
    assert got["precision"] > 0.9 and got["recall"] < 0.3 and got["coverage"] < 0.3


def test_bad_k_and_sizes_explain() -> None:
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="more than k points"):
        prdc(x, np.ones((5, 2)), k=5)
    with pytest.raises(ValueError, match="integer k >= 1"):
        prdc(x, x, k=0)
    with pytest.raises(ValueError, match="one backbone"):
        prdc(np.zeros((9, 2)), np.zeros((9, 3)), k=2)
