"""LeCam regulariser against its formula; anchors as EMAs in buffers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_modules.losses.lecam import LeCamAnchors, lecam_regularizer


def _direct(real: np.ndarray, fake: np.ndarray, a_real: float, a_fake: float) -> float:
    real_term = np.mean([max(r - a_fake, 0.0) ** 2 for r in real])
    fake_term = np.mean([max(a_real - f, 0.0) ** 2 for f in fake])
    return float(real_term + fake_term)


@pytest.mark.parametrize("anchors", [(0.0, 0.0), (0.7, -0.4), (-1.5, 2.0)])
def test_matches_the_formula(anchors) -> None:
    real, fake = torch.randn(9, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    a_real, a_fake = (torch.tensor(a, dtype=torch.float64) for a in anchors)
    got = lecam_regularizer(real, fake, a_real, a_fake)
    assert float(got) == pytest.approx(_direct(real.numpy(), fake.numpy(), *anchors), rel=1e-12)


def test_zero_when_real_below_fake_anchor_and_fake_above_real_anchor() -> None:
    real, fake = torch.tensor([-2.0, -1.0]), torch.tensor([1.0, 3.0])
    assert float(lecam_regularizer(real, fake, 0.5, 0.0)) == 0.0


def test_gradient_only_through_the_logits() -> None:
    real = torch.tensor([1.0, 2.0], requires_grad=True)
    fake = torch.tensor([-1.0], requires_grad=True)
    lecam_regularizer(real, fake, 0.0, 0.0).backward()
    # d/dr mean(relu(r - 0)^2) = 2 r / N; d/df mean(relu(0 - f)^2) = -2 (0 - f) / M
    assert torch.allclose(real.grad, torch.tensor([1.0, 2.0]))
    assert torch.allclose(fake.grad, torch.tensor([-2.0]))


def test_anchors_are_emas_of_the_mean_logits() -> None:
    anchors = LeCamAnchors(decay=0.9)
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-4.0])
    anchors.update(real, fake)
    anchors.update(real, fake)
    assert float(anchors.ema_real) == pytest.approx(2.0 * (1 - 0.9 ** 2))
    assert float(anchors.ema_fake) == pytest.approx(-4.0 * (1 - 0.9 ** 2))
    assert set(anchors.state_dict()) == {"ema_real", "ema_fake"}


def test_bad_decay() -> None:
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        LeCamAnchors(decay=1.0)
