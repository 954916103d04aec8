"""The FAD callback's work, timed: generate -> HiFi-GAN V1 -> VGGish -> per-class statistics.

Random weights everywhere (nothing is downloaded; the cost is the shapes'): the SAGAN
generator, HiFi-GAN V1 built from `configs/vocoder/hifigan_v1.json`, VGGish. The loop is
`FADCallback._generate` + `metric.compute()`: batches of `batch_size` class-ordered items,
`evaluation.synthesis.generate_mel_wav` (G, vocoder, crop to 4 s, to the CPU), then
`FrechetAudioDistance.update` on the device and one `compute()` (float64 Frechet distances).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from bench.gan_iteration import synchronize
from lightning_modules.mel_norm import MelNormalizer
from lightning_modules.sagan import Generator

HIFIGAN_V1 = Path(__file__).resolve().parents[1] / "configs" / "vocoder" / "hifigan_v1.json"


class _Sampler(nn.Module):
    """The `generate(labels)` surface the callback drives: G (eval) -> raw log-mel [B, 80, T]."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator.eval()
        n_mels = generator.mel_shape[0]
        self.mel_norm = MelNormalizer(n_mels).fit(
            {"min": torch.full((n_mels,), -11.5), "max": torch.full((n_mels,), 2.0)})

    @torch.no_grad()
    def generate(self, labels: torch.Tensor) -> torch.Tensor:
        # labels [B] -> mel [B, 80, T]
        z = torch.randn(labels.shape[0], self.generator.z_dim, device=labels.device)
        return self.mel_norm.denormalize(self.generator(z, labels))


def build(device: str, width: int, num_classes: int = 7):
    """-> (sampler, vocoder, metric) on `device`, random weights, unit reference statistics."""
    from encoders.vggish import VGGish
    from evaluation.backbones import VGGishBackbone
    from evaluation.fad_metric import FrechetAudioDistance
    from vocoders.hifigan import HiFiGANGenerator, HiFiGANVocoder

    torch.manual_seed(0)
    sampler = _Sampler(Generator(num_classes=num_classes, width=width)).to(device)
    vocoder = HiFiGANVocoder(HiFiGANGenerator.from_config_file(HIFIGAN_V1)).to(device).eval()
    metric = FrechetAudioDistance(VGGishBackbone(VGGish()), num_classes=num_classes).to(device)
    d = metric.num_features if hasattr(metric, "num_features") else 128
    metric.set_reference({"mu": torch.zeros(num_classes, d, dtype=torch.float64),
                          "sigma": torch.eye(d, dtype=torch.float64).repeat(num_classes, 1, 1)})
    return sampler, vocoder, metric


def fad_wall_time(device: str, n_per_class: int, width: int, batch_size: int = 32,
                  num_classes: int = 7, warmup_clips: int | None = None) -> dict:
    """Seconds of the callback's generate + vocode + embed + statistics for n_per_class x C.

    One untimed warm-up batch of `warmup_clips` (default: a full batch; 0: none) comes first.
    """
    from evaluation.synthesis import generate_mel_wav

    sampler, vocoder, metric = build(device, width, num_classes)
    warm = torch.arange(batch_size if warmup_clips is None else warmup_clips) % num_classes
    if len(warm):
        wav = generate_mel_wav(sampler, vocoder, warm, seed=0)[1]
        metric.update(wav.to(device), warm.to(device))
        metric.reset()  # warm-up done (cuDNN autotuning, allocator)
    items = [c for c in range(num_classes) for _ in range(n_per_class)]
    gen_s = embed_s = 0.0
    synchronize(device)
    start = time.perf_counter()
    for b, first in enumerate(range(0, len(items), batch_size)):
        labels = torch.tensor(items[first : first + batch_size], dtype=torch.long)
        t0 = time.perf_counter()
        _, wav = generate_mel_wav(sampler, vocoder, labels, seed=b)  # ends on the CPU: synced
        t1 = time.perf_counter()
        metric.update(wav.to(device), labels.to(device))
        synchronize(device)
        gen_s, embed_s = gen_s + t1 - t0, embed_s + time.perf_counter() - t1
    t2 = time.perf_counter()
    results = metric.compute()
    stats_s = time.perf_counter() - t2
    total = time.perf_counter() - start
    return {
        "wall_s": round(total, 3),
        "clips": len(items),
        "generate_vocode_s": round(gen_s, 3),
        "embed_update_s": round(embed_s, 3),
        "compute_s": round(stats_s, 3),
        "fad_mean": round(float(results["mean"]), 3),
        "synthesis_clips_per_s": round(len(items) / gen_s, 2),
        "parts": f"SAGAN G width {width} (eval) + HiFi-GAN V1 + VGGish, random weights, "
                 f"batch {batch_size}",
    }
