"""SupCon loss against a direct double loop over anchors and positives (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_modules.losses.supcon import supcon_loss


def _loop_supcon(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Khosla et al. eq. 2 written out anchor by anchor, positive by positive."""
    n, v, _ = features.shape
    anchors = []
    for i in range(n):
        for j in range(v):
            z = features[i, j]
            anchors.append((z / z.norm(), int(labels[i])))
    per_anchor = []
    for a, (za, ya) in enumerate(anchors):
        denominator = sum(
            math.exp(float(za @ zk) / temperature) for k, (zk, _) in enumerate(anchors) if k != a
        )
        terms = [
            math.log(math.exp(float(za @ zp) / temperature) / denominator)
            for p, (zp, yp) in enumerate(anchors)
            if p != a and yp == ya
        ]
        if terms:
            per_anchor.append(-sum(terms) / len(terms))
    return sum(per_anchor) / len(per_anchor)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_two_views_matches_loop(temperature: float) -> None:
    features = torch.randn(6, 2, 5, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 1])
    got = supcon_loss(features, labels, temperature=temperature)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(_loop_supcon(features, labels, temperature), rel=1e-10)


def test_single_view_matches_loop() -> None:
    features = torch.randn(8, 1, 4, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])  # class 3 once: that anchor has no positive
    got = supcon_loss(features, labels, temperature=0.1)
    assert float(got) == pytest.approx(_loop_supcon(features, labels, 0.1), rel=1e-10)


def test_lone_class_two_views_is_its_own_positive() -> None:
    features = torch.randn(5, 2, 3, dtype=torch.float64)
    labels = torch.tensor([4, 0, 0, 1, 1])
    got = supcon_loss(features, labels, temperature=0.2)
    assert float(got) == pytest.approx(_loop_supcon(features, labels, 0.2), rel=1e-10)


def test_no_positive_anywhere_gives_zero_with_gradient() -> None:
    features = torch.randn(4, 1, 3, requires_grad=True)
    loss = supcon_loss(features, torch.arange(4))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(features.grad, torch.zeros_like(features))


def test_perfect_clusters_beat_random() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])[:, None, :]
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])[:, None, :]
    assert supcon_loss(clustered, labels) < supcon_loss(mixed, labels)


def test_scale_invariant_because_normalised_inside() -> None:
    features = torch.randn(4, 2, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1])
    a = supcon_loss(features, labels)
    b = supcon_loss(features * 7.5, labels)
    assert torch.allclose(a, b)


def test_extreme_temperature_is_finite() -> None:
    features = torch.randn(16, 2, 8)
    labels = torch.randint(0, 3, (16,))
    assert torch.isfinite(supcon_loss(features, labels, temperature=1e-3))


def test_gradcheck() -> None:
    features = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0])
    assert torch.autograd.gradcheck(lambda f: supcon_loss(f, labels, 0.3), (features,))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"features \[N, V, D\]"):
        supcon_loss(torch.randn(4, 3), torch.arange(4))
    with pytest.raises(ValueError, match=r"labels \[N\] with N = features.shape\[0\] = 4"):
        supcon_loss(torch.randn(4, 2, 3), torch.arange(5))
    with pytest.raises(ValueError, match="integer class labels"):
        supcon_loss(torch.randn(4, 2, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        supcon_loss(torch.randn(4, 2, 3), torch.arange(4), temperature=0.0)
