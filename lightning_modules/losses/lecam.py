"""LeCam regularisation (Tseng et al. 2021) for a discriminator trained on limited data.

R = mean(relu(D(x_real) - a_fake)^2) + mean(relu(a_real - D(G(z)))^2), where the anchors a_real
and a_fake are exponential moving averages (decay 0.99) of D's mean outputs on real and fake
inputs. Added to L_D only (weight 0.3 with hinge BigGAN in StudioGAN's BigGAN-DiffAug-LeCam).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lecam_regularizer(
    logits_real: torch.Tensor,
    logits_fake: torch.Tensor,
    ema_real: torch.Tensor | float,
    ema_fake: torch.Tensor | float,
) -> torch.Tensor:
    """logits_real [N], logits_fake [M], anchors (0-d) -> the scalar R above."""
    real_term = F.relu(logits_real - ema_fake).pow(2).mean()
    fake_term = F.relu(ema_real - logits_fake).pow(2).mean()
    return real_term + fake_term


class LeCamAnchors(nn.Module):
    """The anchors a_real, a_fake as buffers (so checkpoints carry them), starting at 0.

    update(): a <- decay * a + (1 - decay) * mean(logits), detached, no host sync.
    """

    def __init__(self, decay: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"LeCam anchor decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.register_buffer("ema_real", torch.zeros(()))
        self.register_buffer("ema_fake", torch.zeros(()))

    @torch.no_grad()
    def update(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> None:
        # logits_real [N], logits_fake [M]
        self.ema_real.lerp_(logits_real.detach().float().mean(), 1.0 - self.decay)
        self.ema_fake.lerp_(logits_fake.detach().float().mean(), 1.0 - self.decay)
