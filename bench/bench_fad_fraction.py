"""FAD of a folder against VGGish's own forward cost on the same clips, in the same run.

`fad_fraction_of_vggish`: the seconds VGGish's forward alone takes on the examples of the
generated clips (made beforehand, fed in chunks of 256 as `VGGishBackbone` does) over the
seconds of `evaluation.fad_folders.fad_of_folders` on that folder (read, frame, embed,
statistics, Frechet distances; reference statistics cached first, as the official evaluation
ships them). 1.0 would be a FAD that costs nothing but the network. Random VGGish weights: the
cost is the architecture's. CPU: 7 x 3 clips (quick: 7 x 1); CUDA: 7 x 100.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from datamodules.classes import SNAKE_NAMES
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE


def _write_clips(root: Path, n_per_class: int, seed: int) -> list[Path]:
    rng, paths = np.random.default_rng(seed), []
    for label, name in enumerate(SNAKE_NAMES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            noise = rng.standard_normal(CLIP_SAMPLES)
            wav = np.convolve(noise, np.ones(label + 1) / (label + 1), mode="same") * 0.2
            paths.append(root / name / f"{i:03d}.wav")
            sf.write(paths[-1], wav.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return paths


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def vggish_forward_seconds(vggish: torch.nn.Module, paths: list[Path], device: str,
                           chunk: int = 256) -> tuple[float, int]:
    """Seconds of VGGish's forward alone on the clips' examples (framed beforehand)."""
    from encoders.vggish import waveform_to_examples

    wavs = [torch.from_numpy(sf.read(str(p), dtype="float32")[0]) for p in paths]
    examples = torch.cat([waveform_to_examples(w.to(device)) for w in wavs]).float()
    with torch.no_grad():
        vggish(examples[:2])  # warm-up
        _synchronize(device)
        start = time.perf_counter()
        for first in range(0, len(examples), chunk):
            vggish(examples[first : first + chunk])
        _synchronize(device)
    return time.perf_counter() - start, len(examples)


def run(quick: bool = False, device: str | None = None) -> dict:
    from encoders.vggish import VGGish
    from evaluation.backbones import VGGishBackbone
    from evaluation.fad_folders import fad_of_folders
    from evaluation.reference_stats import reference_stats

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    n_per_class = 100 if device.startswith("cuda") and not quick else (1 if quick else 3)
    torch.manual_seed(0)
    vggish = VGGish().eval().to(device)
    backbone = VGGishBackbone(vggish)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _write_clips(root / "gen", n_per_class, seed=1)
        _write_clips(root / "ref", 2, seed=2)
        reference_stats(root / "ref", backbone, cache_dir=root / "cache")  # cached beforehand
        start = time.perf_counter()
        fad_of_folders(root / "gen", root / "ref", backbone=backbone, n_per_class=n_per_class,
                       batch_size=32, device=device, cache_dir=root / "cache")
        fad_s = time.perf_counter() - start
        forward_s, n_examples = vggish_forward_seconds(vggish, paths, device)
    return {
        "fad_clips": len(paths),
        "fad_examples": n_examples,
        "fad_s": round(fad_s, 3),
        "vggish_forward_s": round(forward_s, 3),
        "fad_fraction_of_vggish": round(forward_s / fad_s, 3),
        "fad_device": device,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
