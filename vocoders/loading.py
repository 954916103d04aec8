"""`load_vocoder(name_or_path)`: one string selects the vocoder (CLI `--vocoder`, YAML)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vocoders.griffin_lim import GriffinLimVocoder
from vocoders.hifigan import DEFAULT_CHECKPOINT, WHERE_TO_GET, HiFiGANVocoder

GRIFFIN_LIM_NAMES = ("griffin-lim", "griffinlim")
CHOICES = (
    "'griffin-lim' (no weights needed)",
    f"'hifigan' (reads {DEFAULT_CHECKPOINT})",
    "'hifigan:<checkpoint>'",
    "'hifigan:<checkpoint>:<config.json>'",
    "a path to a HiFi-GAN checkpoint file",
)


def load_vocoder(name_or_path: str, device: str | torch.device = "cpu") -> nn.Module:
    """A vocoder in eval mode on `device`: `forward(mel [B, 80, T]) -> wav [B, 256 T]`.

    "griffin-lim" / "griffinlim"; "hifigan" (the challenge's checkpoint at
    checkpoints/hifigan/g_00935000 with configs/vocoder/hifigan_v1.json, or a config.json beside
    it); "hifigan:<ckpt>" or "hifigan:<ckpt>:<config.json>"; or a bare checkpoint path.
    """
    name = str(name_or_path).strip()
    if name.lower() in GRIFFIN_LIM_NAMES:
        return GriffinLimVocoder().eval().to(device)
    if name.lower() == "hifigan":
        checkpoint, config = DEFAULT_CHECKPOINT, None
    elif name.lower().startswith("hifigan:"):
        checkpoint, _, config = name[len("hifigan:") :].partition(":")
        config = config or None
        if not checkpoint:
            raise ValueError(f"Vocoder {name!r} names no checkpoint; use 'hifigan:<checkpoint>'.")
    elif Path(name).is_file():
        checkpoint, config = name, None
    else:
        raise ValueError(
            f"Unknown vocoder {name!r} (not a known name or an existing file); valid choices: "
            + ", ".join(CHOICES)
            + "."
        )
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(
            f"HiFi-GAN weights not found at {checkpoint}. {WHERE_TO_GET} Without weights, "
            "`--vocoder griffin-lim` works (lower quality, no download)."
        )
    return HiFiGANVocoder.from_checkpoint(checkpoint, config, map_location=device).eval()
