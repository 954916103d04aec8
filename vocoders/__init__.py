"""mel -> wav: HiFi-GAN V1 (the challenge's vocoder) and Griffin-Lim (no weights needed).

Every vocoder: `forward(mel [B, 80, T]) -> wav [B, 256 T]` at 22,050 Hz.
"""

from vocoders.griffin_lim import GriffinLimVocoder
from vocoders.hifigan import HiFiGANGenerator, HiFiGANVocoder
from vocoders.loading import load_vocoder

__all__ = ["GriffinLimVocoder", "HiFiGANGenerator", "HiFiGANVocoder", "load_vocoder"]
