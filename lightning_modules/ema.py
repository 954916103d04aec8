"""Exponential moving average of a module's parameters, with its buffers copied.

The averaged copy is a submodule (saved in the owner's state_dict, so checkpoints restore it),
always in eval mode and without gradients. `update` touches all parameters with one foreach
lerp and all buffers with one foreach copy; given the step as a tensor it never reads a value
back to the host (no GPU sync in the training step).
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
        """True once at least one averaging update (step >= start) has happened (reads the host)."""
        return int(self.num_updates) > 0

    @torch.no_grad()
    def update(self, source: nn.Module, step: int | torch.Tensor) -> None:
        """Average parameters (copy them while step < start); copy all buffers.

        `step` is a Python int or a 0-d integer tensor (e.g. the owner's step buffer on the
        GPU). A copy is a lerp with weight 1 (`end - (end - start) * 0` is exactly `end`), so
        with a tensor step the weight is `where(step >= start, 1 - decay, 1)` and nothing is
        read back; the numbers equal the per-parameter `copy_` / `lerp_(p, 1 - decay)` loop.
        """
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        _check_same_count("parameters", ema_params, src_params)
        if isinstance(step, torch.Tensor):
            averaging = step.detach().reshape(()) >= self.start  # 0-d bool, stays on its device
            self._lerp_where(ema_params, src_params, averaging)
            self.num_updates += averaging.to(self.num_updates.device, torch.long)
        elif step >= self.start:
            _foreach_lerp_scalar(ema_params, src_params, 1.0 - self.decay)
            self.num_updates += 1
        else:
            torch._foreach_copy_(ema_params, src_params)
        ema_buffers, src_buffers = list(self.module.buffers()), list(source.buffers())
        _check_same_count("buffers", ema_buffers, src_buffers)
        if ema_buffers:
            torch._foreach_copy_(ema_buffers, src_buffers)

    def _lerp_where(
        self, ema: list[torch.Tensor], src: list[torch.Tensor], averaging: torch.Tensor
    ) -> None:
        """ema.lerp_(src, w) with a 0-d tensor weight w = 1 - decay if averaging else 1."""
        weights: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}
        per_tensor = []
        for e in ema:
            key = (e.dtype, e.device)
            if key not in weights:
                one = torch.ones((), dtype=e.dtype, device=e.device)
                avg = torch.full((), 1.0 - self.decay, dtype=e.dtype, device=e.device)
                weights[key] = torch.where(averaging.to(e.device), avg, one)
            per_tensor.append(weights[key])
        src = [s if s.dtype == e.dtype else s.to(e.dtype) for e, s in zip(ema, src, strict=True)]
        torch._foreach_lerp_(ema, src, per_tensor)

    def forward(self, *args, **kwargs):
        # same signature as the averaged module
        return self.module(*args, **kwargs)


def _foreach_lerp_scalar(ema: list[torch.Tensor], src: list[torch.Tensor], weight: float) -> None:
    src = [s if s.dtype == e.dtype else s.to(e.dtype) for e, s in zip(ema, src, strict=True)]
    torch._foreach_lerp_(ema, src, weight)


def _check_same_count(kind: str, ema: list, src: list) -> None:
    if len(ema) != len(src):
        raise ValueError(
            f"EMA.update: the source module has {len(src)} {kind}, the averaged copy "
            f"{len(ema)}; pass the module the EMA was built from"
        )
