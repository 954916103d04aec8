"""D's overfitting signal: its mean logit on real training batches minus on held-out real clips.

The report's diagnosis is a D that wins too fast on a small dataset; a D that memorises its
training clips scores them higher than held-out clips of the same classes, so the gap grows.
`LogitGap` keeps [sum, count] of both sides as non-persistent buffers (not checkpointed; they
follow the module's device), updated without reading anything back to the host.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class LogitGap(nn.Module):
    """add_train / add_val: logits [N]; compute_and_reset -> (gap, held-out mean) or None."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("train_sums", torch.zeros(2), persistent=False)  # [sum, count]
        self.register_buffer("val_sums", torch.zeros(2), persistent=False)

    @staticmethod
    def _sums(logits: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        logits = logits.detach().to(like.dtype).flatten()
        return torch.stack([logits.sum(), torch.full((), logits.numel(), dtype=like.dtype,
                                                     device=like.device)])

    @torch.no_grad()
    def add_train(self, logits: torch.Tensor) -> None:
        self.train_sums += self._sums(logits, self.train_sums)

    @torch.no_grad()
    def add_val(self, logits: torch.Tensor) -> None:
        self.val_sums += self._sums(logits, self.val_sums)

    @torch.no_grad()
    def compute_and_reset(
        self, reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(train mean - held-out mean, held-out mean) over all processes (`reduce_sum` sums a
        tensor over them), or None when a side saw nothing; both sides start again from 0."""
        train, val = self.train_sums.clone(), self.val_sums.clone()
        if reduce_sum is not None:
            train, val = reduce_sum(train), reduce_sum(val)
        self.train_sums.zero_()  # in place: a buffer made under inference_mode would break
        self.val_sums.zero_()  # the next training step's in-place update
        if float(train[1]) <= 0 or float(val[1]) <= 0:  # host read, at validation time only
            return None
        val_mean = val[0] / val[1]
        return train[0] / train[1] - val_mean, val_mean
