"""Exponential moving average of a module's parameters, with its buffers copied.

The averaged copy is a submodule (saved in the owner's state_dict, so checkpoints restore it),
always in eval mode and without gradients.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """ema = decay * ema + (1 - decay) * param once `step >= start`; before that a plain copy."""

    def __init__(self, source: nn.Module, decay: float = 0.9999, start: int = 1000) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        if start < 0:
            raise ValueError(f"EMA start step must be >= 0, got {start}")
        self.decay, self.start = float(decay), int(start)
        self.module = copy.deepcopy(source).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long))

    def train(self, mode: bool = True) -> EMA:
        super().train(mode)
        self.module.eval()  # always in eval: BN uses the copied running statistics
        return self

    @property
    def started(self) -> bool:
        """True once at least one averaging update (step >= start) has happened."""
        return int(self.num_updates) > 0

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        """Average parameters (copy them while step < start); copy all buffers."""
        averaging = step >= self.start
        decay = self.decay if averaging else 0.0
        for ema_p, p in zip(self.module.parameters(), source.parameters(), strict=True):
            if decay == 0.0:
                ema_p.copy_(p.detach())
            else:
                ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - decay)
        for ema_b, b in zip(self.module.buffers(), source.buffers(), strict=True):
            ema_b.copy_(b)
        if averaging:
            self.num_updates += 1

    def forward(self, *args, **kwargs):
        # same signature as the averaged module
        return self.module(*args, **kwargs)
