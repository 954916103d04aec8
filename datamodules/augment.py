"""Log-mel augmentations of the report's encoder pretraining: fade in/out and time masking.

All modules take and return `mel [B, n_mels, T]` log-mels (the `datamodules.mel` contract),
draw independent random parameters per item, and run batched on the input's device.
They are always active: the caller applies them to training batches only (the DataModule does
so in `on_after_batch_transfer`), so `train()` / `eval()` do not change them.

Randomness: with `seed=None` the global torch RNG is used; with a seed each module owns a
`torch.Generator`, created lazily on the input's device (so CUDA works) and reseeded when the
input moves to another device. Under DDP give each rank a different seed (e.g. `seed + rank`),
or all ranks draw the same augmentation parameters for their different data.
"""

from __future__ import annotations

import torch
from torch import nn

from datamodules.mel import LOG_FLOOR

RAMP_FLOOR = 1e-12  # smallest fade gain: its log stays finite, and -27.6 silences any log-mel


def _check_mel(mel: torch.Tensor, name: str) -> None:
    if mel.dim() != 3 or not mel.is_floating_point():
        raise ValueError(
            f"{name} expects a float log-mel [B, n_mels, T], got {mel.dtype} of shape "
            f"{tuple(mel.shape)}; add a batch dimension with mel.unsqueeze(0)"
        )


def _check_probability(p: float, name: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be a probability in [0, 1], got {p}")


def apply_fade(
    mel: torch.Tensor, fade_in_frames: torch.Tensor | int, fade_out_frames: torch.Tensor | int
) -> torch.Tensor:
    """Fade-in over the first and fade-out over the last frames of each item.

    mel [B, n_mels, T]; fade_in_frames / fade_out_frames: int or long [B] (0 = no fade).
    A linear amplitude ramp r(t) (fade-in: t / L for t < L; fade-out: (T - 1 - t) / L over the
    last L frames) scales every mel magnitude, so the log-mel gains ln(max(r, RAMP_FLOOR)); the
    mel is of magnitudes, not power, hence ln and not 2 ln. The result is clamped at LOG_FLOOR
    (silence) and never exceeds the input: a fade only attenuates.
    """
    _check_mel(mel, "apply_fade")
    batch, _, frames = mel.shape
    device = mel.device
    t = torch.arange(frames, device=device, dtype=mel.dtype).unsqueeze(0)  # [1, T]
    fade_in = torch.as_tensor(fade_in_frames, device=device).expand(batch).unsqueeze(1)
    fade_out = torch.as_tensor(fade_out_frames, device=device).expand(batch).unsqueeze(1)
    fade_in, fade_out = fade_in.to(mel.dtype), fade_out.to(mel.dtype)
    ramp_in = torch.where(t < fade_in, t / fade_in.clamp(min=1.0), torch.ones_like(t))
    tail = frames - 1 - t
    ramp_out = torch.where(tail < fade_out, tail / fade_out.clamp(min=1.0), torch.ones_like(t))
    log_gain = torch.log((ramp_in * ramp_out).clamp(min=RAMP_FLOOR)).unsqueeze(1)  # [B, 1, T]
    faded = torch.clamp(mel + log_gain, min=LOG_FLOOR)
    return torch.minimum(mel, faded)


def time_mask(mel: torch.Tensor, starts: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Set frames [start, start + width) of each item to LOG_FLOOR (silence in log-mel).

    mel [B, n_mels, T]; starts, widths: long [B, n_masks].
    """
    _check_mel(mel, "time_mask")
    t = torch.arange(mel.shape[-1], device=mel.device).view(1, 1, -1)  # [1, 1, T]
    starts, widths = starts.unsqueeze(-1), widths.unsqueeze(-1)  # [B, n, 1]
    masked = ((t >= starts) & (t < starts + widths)).any(dim=1)  # [B, T]
    return mel.masked_fill(masked.unsqueeze(1), LOG_FLOOR)


class _RandomAugmentation(nn.Module):
    """Holds the optional seed and the lazily created per-device generator."""

    def __init__(self, seed: int | None) -> None:
        super().__init__()
        self.seed = seed
        self._generator: torch.Generator | None = None

    def generator_for(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator

    def _uniform(self, size: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return torch.rand(size, generator=self.generator_for(device), device=device)

    def _integers(self, low: int, high: int, size: tuple[int, ...], device) -> torch.Tensor:
        """Uniform integers in [low, high] (inclusive)."""
        gen = self.generator_for(device)
        return torch.randint(low, high + 1, size, generator=gen, device=device)

    def __getstate__(self) -> dict:
        # A copy (deepcopy, pickling to workers) restarts from the seed.
        return {**self.__dict__, "_generator": None}


class RandomFade(_RandomAugmentation):
    """With probability p per item: a fade-in, a fade-out or both (equally likely), each over
    a random length of 1 to max_fraction * T frames. See `apply_fade` for the formula."""

    def __init__(self, max_fraction: float = 0.3, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 0.0 < max_fraction <= 1.0:
            raise ValueError(
                f"RandomFade: max_fraction must be in (0, 1], got {max_fraction}; "
                "it is the longest fade as a fraction of the clip (0.3 = 30%)"
            )
        _check_probability(p, "RandomFade")
        self.max_fraction = max_fraction
        self.p = p

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] -> [B, n_mels, T]
        _check_mel(mel, "RandomFade")
        batch, _, frames = mel.shape
        device = mel.device
        longest = max(1, int(self.max_fraction * frames))
        applied = self._uniform((batch,), device) < self.p
        mode = self._integers(0, 2, (batch,), device)  # 0: in, 1: out, 2: both
        fade_in = self._integers(1, longest, (batch,), device)
        fade_out = self._integers(1, longest, (batch,), device)
        fade_in = torch.where(applied & (mode != 1), fade_in, torch.zeros_like(fade_in))
        fade_out = torch.where(applied & (mode != 0), fade_out, torch.zeros_like(fade_out))
        return apply_fade(mel, fade_in, fade_out)

    def extra_repr(self) -> str:
        return f"max_fraction={self.max_fraction}, p={self.p}, seed={self.seed}"


class TimeMask(_RandomAugmentation):
    """With probability p per item: n_masks time masks, each of a uniform width in
    [0, max_width] frames at a uniform position, filled with LOG_FLOOR (log-mel silence).

    The draw follows torchaudio's `mask_along_axis_iid` (per-item widths and starts), written
    here because torchaudio draws from the global RNG and cannot take a seeded generator.
    """

    def __init__(
        self, max_width: int = 40, n_masks: int = 2, p: float = 1.0, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if max_width < 0 or n_masks < 0:
            raise ValueError(
                f"TimeMask: max_width and n_masks must be >= 0, got max_width={max_width}, "
                f"n_masks={n_masks}; use n_masks=0 to disable masking"
            )
        _check_probability(p, "TimeMask")
        self.max_width = max_width
        self.n_masks = n_masks
        self.p = p

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] -> [B, n_mels, T]
        _check_mel(mel, "TimeMask")
        batch, _, frames = mel.shape
        device = mel.device
        applied = self._uniform((batch, 1), device) < self.p
        widths = self._integers(0, min(self.max_width, frames), (batch, self.n_masks), device)
        starts = (self._uniform((batch, self.n_masks), device) * (frames - widths + 1)).long()
        widths = torch.where(applied, widths, torch.zeros_like(widths))
        return time_mask(mel, starts, widths)

    def extra_repr(self) -> str:
        return f"max_width={self.max_width}, n_masks={self.n_masks}, p={self.p}, seed={self.seed}"


def default_augment(seed: int | None = None) -> nn.Sequential:
    """The report's pretraining augmentation: RandomFade then TimeMask (default settings).

    mel [B, n_mels, T] -> [B, n_mels, T]. With a seed the two modules get seed and seed + 1.
    """
    return nn.Sequential(
        RandomFade(seed=seed),
        TimeMask(seed=None if seed is None else seed + 1),
    )
