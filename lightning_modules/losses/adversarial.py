"""Hinge adversarial losses, report eq. 1, averaged over the batch (eq. 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """l_D = -min(0, -1 + D(x)) - min(0, -1 - D(G(z))) = relu(1 - D(x)) + relu(1 + D(G(z)))."""
    return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()


def hinge_g(logits_fake: torch.Tensor) -> torch.Tensor:
    """l_G = -D(G(z))."""
    return -logits_fake.mean()
