"""What D sees: DiffAugment of every D input, with the silence floor as the fill.

`DInputAugmenter(policy, translation_ratio, cutout_ratio)` is called on every batch that goes
into D (real and fake in the D step, fake in the G step) with the GAN's mel normaliser, so the
fill of shifted / cut cells is ln(1e-5) (`datamodules.mel.LOG_FLOOR`, log-mel silence) through
that normaliser, one value per band. With policy '' it returns its input untouched and draws no
random numbers, so a GAN without DiffAugment computes exactly what it did before the option.
"""

from __future__ import annotations

import torch

from datamodules.mel import LOG_FLOOR
from lightning_modules.diffaug import diff_augment, parse_policy
from lightning_modules.mel_norm import MelNormalizer


def silence_fill(mel_norm: MelNormalizer) -> torch.Tensor:
    """[n_mels] the normalised value of log-mel silence (LOG_FLOOR) in each band."""
    floor = torch.full((1, mel_norm.n_mels, 1), LOG_FLOOR, device=mel_norm.lo.device)
    return mel_norm.normalize(floor).view(-1)


class DInputAugmenter:
    """x [B, H, T] normalised mels -> the same, DiffAugment'ed per sample (identity for '')."""

    def __init__(
        self, policy: str = "", translation_ratio: float = 0.125, cutout_ratio: float = 0.5
    ) -> None:
        self.names = parse_policy(policy)
        for name, ratio in (("translation", translation_ratio), ("cutout", cutout_ratio)):
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(
                    f"diffaug_{name}_ratio must be in [0, 1] (a fraction of the map), got {ratio}"
                )
        self.policy = ",".join(self.names)
        self.translation_ratio, self.cutout_ratio = float(translation_ratio), float(cutout_ratio)

    @property
    def active(self) -> bool:
        return bool(self.names)

    def __call__(
        self,
        x: torch.Tensor,
        mel_norm: MelNormalizer,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        # x [B, H, T] -> [B, H, T]
        if not self.names:
            return x
        return diff_augment(
            x, self.policy, silence_fill(mel_norm).to(x.dtype), self.translation_ratio,
            self.cutout_ratio, generator=generator,
        )
