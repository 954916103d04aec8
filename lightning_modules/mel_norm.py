"""Per-band affine map of raw log-mel to the generator's tanh range [-1, 1], centred on the mean.

normalize(x) = (x - mean) / half_span with half_span = max(max - mean, mean - min) per band, so
the training data lie in [-1, 1] and the band's mean maps to 0. Centring on the mean (rather
than on (min + max) / 2) matters for Foley log-mels, which sit near the floor most of the time:
an untrained G, whose tanh output starts around 0, then starts at the data's average level
instead of a loud mid-range, and the last layer's bias need not travel there first.
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
        self.register_buffer("center", torch.full((n_mels,), 0.5))
        self.register_buffer("fitted", torch.tensor(False))
        self._fitted_seen = False  # `fitted` read True once: calls need not read it back again

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def fit(self, stats: dict[str, torch.Tensor]) -> MelNormalizer:
        """Take per-band 'min', 'max' and optional 'mean' [n_mels] (`datamodule.mel_stats()`).

        Without 'mean' the centre is (min + max) / 2: a plain min/max scaling.
        """
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
        center = stats.get("mean", (lo + hi) / 2)
        center = torch.as_tensor(center, dtype=torch.float32).flatten()
        if center.shape != (self.n_mels,):
            raise ValueError(
                f"mel stats 'mean' must be per band [{self.n_mels}], got "
                f"{tuple(center.shape)}; check the datamodule's n_mels"
            )
        self.lo.copy_(lo)
        self.hi.copy_(hi)
        self.center.copy_(torch.minimum(torch.maximum(center, lo), hi))
        self.fitted.fill_(True)
        self._fitted_seen = True
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._fitted_seen = False  # the loaded `fitted` is read again on the next call

    def _check(self, x: torch.Tensor) -> None:
        # reads `fitted` back to the host only until it was seen True (no GPU sync per step)
        if not self._fitted_seen and not self.is_fitted:
            raise RuntimeError(
                "MelNormalizer is not fitted: call fit(datamodule.mel_stats()) or load a "
                "checkpoint that carries the statistics"
            )
        self._fitted_seen = True
        if x.dim() != 3 or x.shape[1] != self.n_mels:
            raise ValueError(f"expected mel [B, {self.n_mels}, T], got shape {tuple(x.shape)}")

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        half = torch.maximum(self.hi - self.center, self.center - self.lo).clamp_min(_EPS)
        return self.center.view(1, -1, 1), half.view(1, -1, 1)

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] raw log-mel -> [B, n_mels, T] in [-1, 1]
        self._check(mel)
        center, half = self._scale()
        return ((mel.float() - center) / half).clamp(-1.0, 1.0)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, n_mels, T] in [-1, 1] -> raw log-mel [B, n_mels, T]
        self._check(x)
        center, half = self._scale()
        return x.float() * half + center
