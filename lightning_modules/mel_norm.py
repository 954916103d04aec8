"""Per-band min/max scaling of raw log-mel to the generator's tanh range [-1, 1].

The statistics are buffers, so a GAN checkpoint carries them and synthesis needs no data.
"""

from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-5


class MelNormalizer(nn.Module):
    """normalize: mel [B, n_mels, T] -> [-1, 1] (clamped); denormalize: the inverse map."""

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.register_buffer("lo", torch.zeros(n_mels))
        self.register_buffer("hi", torch.ones(n_mels))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def fit(self, stats: dict[str, torch.Tensor]) -> MelNormalizer:
        """Take per-band 'min' and 'max' [n_mels] (e.g. `FoleyDataModule.mel_stats()`)."""
        missing = [k for k in ("min", "max") if k not in stats]
        if missing:
            raise ValueError(
                f"mel stats lack {missing}: expected a dict with per-band 'min' and 'max' "
                f"tensors [{self.n_mels}] such as FoleyDataModule.mel_stats() returns"
            )
        lo = torch.as_tensor(stats["min"], dtype=torch.float32).flatten()
        hi = torch.as_tensor(stats["max"], dtype=torch.float32).flatten()
        if lo.shape != (self.n_mels,) or hi.shape != (self.n_mels,):
            raise ValueError(
                f"mel stats must be per band [{self.n_mels}], got min {tuple(lo.shape)} and "
                f"max {tuple(hi.shape)}; check the datamodule's n_mels"
            )
        if bool((hi < lo).any()):
            raise ValueError("mel stats have max < min in some band; recompute the statistics")
        self.lo.copy_(lo)
        self.hi.copy_(hi)
        self.fitted.fill_(True)
        return self

    def _check(self, x: torch.Tensor) -> None:
        if not self.is_fitted:
            raise RuntimeError(
                "MelNormalizer is not fitted: call fit(datamodule.mel_stats()) or load a "
                "checkpoint that carries the statistics"
            )
        if x.dim() != 3 or x.shape[1] != self.n_mels:
            raise ValueError(f"expected mel [B, {self.n_mels}, T], got shape {tuple(x.shape)}")

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo = self.lo.view(1, -1, 1)
        span = (self.hi - self.lo).clamp_min(_EPS).view(1, -1, 1)
        return lo, span

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] raw log-mel -> [B, n_mels, T] in [-1, 1]
        self._check(mel)
        lo, span = self._scale()
        return (2.0 * (mel.float() - lo) / span - 1.0).clamp(-1.0, 1.0)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, n_mels, T] in [-1, 1] -> raw log-mel [B, n_mels, T]
        self._check(x)
        lo, span = self._scale()
        return (x.float() + 1.0) * 0.5 * span + lo
