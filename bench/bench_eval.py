"""Evaluation benchmark: synthesis speed, and a 7-class FAD run against a per-file reference loop.

- `synth_clips_per_s`: a small FoleyGAN generator (g_width 16) + Griffin-Lim, through
  `evaluation.synthesis.synthesize` (batched, 16-bit wav writes included).
- `fad_700_seconds`: `evaluation.fad_folders.fad_of_folders` on the generated folder, reference
  statistics already cached (as the official evaluation ships its ground-truth statistics), with
  the VGGish architecture on random weights (no weights here: the cost is the same).
- `fad_700_reference_seconds`: the straightforward loop on the same clips, same process, same
  reference statistics: soundfile-read one file, its examples, VGGish on that clip alone, then
  numpy mean / cov and scipy sqrtm per class.
VGGish costs ~1 s per clip on 2 CPU cores, so on a CPU-only machine the FAD figures are measured
on fewer clips (`fad_clips`) and scaled linearly to 700 (`fad_700_extrapolated: true`); with
CUDA the full 700 clips run.
- `metric_<name>_<backbone>_seconds`: the metrics alone, from embeddings already computed, for 7
  classes x 100 clips (`bench_metrics`): random embeddings of VGGish size (1,000 windows x 128 per
  class, reference the same size) and of PANNs size (100 clips x 2,048). Names: fad (the
  official formula; the low-rank exact path for PANNs), kad, prdc (k 5), fad_inf (10 sizes x 4
  subsets), fad_boot / kad_boot (`metric_n_boot` clip-bootstrap replicates: 200, 20 in the quick
  mode). The quick mode measures one class and scales to 7 (`metric_extrapolated: true`).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import soundfile as sf
import torch

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE


def _tiny_generator() -> tuple[torch.nn.Module, str]:
    try:
        from lightning_modules.gan import FoleyGANModule

        module = FoleyGANModule(loss="hinge", g_width=16, d_width=16).eval()
    except ImportError as err:
        raise RuntimeError(f"FoleyGANModule is not importable ({err}); no synthesis bench") from err
    n_mels = module.mel_norm.n_mels  # untrained G: any fitted range gives the same cost
    module.mel_norm.fit({"min": torch.full((n_mels,), -11.5), "max": torch.full((n_mels,), 2.0)})
    return module, "FoleyGANModule"


def bench_synthesis(root: Path, n_per_class: int, device: str) -> dict:
    from evaluation.synthesis import synthesize
    from vocoders import GriffinLimVocoder

    module, kind = _tiny_generator()
    module = module.to(device)
    vocoder = GriffinLimVocoder().to(device)
    synthesize(module, vocoder, root / "warmup", n_per_class=1, batch_size=7, progress=False)
    start = time.perf_counter()
    synthesize(
        module, vocoder, root / "synth", n_per_class=n_per_class, batch_size=16, progress=False
    )
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in module.generator.parameters())
    return {
        "synth_clips_per_s": round(7 * n_per_class / seconds, 3),
        "synth_clips": 7 * n_per_class,
        "synth_generator": f"{kind} g_width=16 ({params / 1e6:.2f} M G parameters) + Griffin-Lim",
    }


def _write_clips(root: Path, n_per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(SNAKE_NAMES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            noise = rng.standard_normal(CLIP_SAMPLES)
            wav = np.convolve(noise, np.ones(label + 1) / (label + 1), mode="same") * 0.2
            sf.write(
                root / name / f"{i:03d}.wav", wav.astype(np.float32), SAMPLE_RATE, subtype="PCM_16"
            )


def reference_loop(gen_dir: Path, vggish: torch.nn.Module, ref: dict, device: str) -> dict:
    """The per-file loop: one file, one clip's examples, one forward; numpy stats; scipy sqrtm."""
    from encoders.vggish import waveform_to_examples

    results = {}
    for label, name in enumerate(SNAKE_NAMES):
        embeddings = []
        for path in sorted((gen_dir / name).glob("*.wav")):
            wav, _ = sf.read(str(path), dtype="float32")
            examples = waveform_to_examples(torch.from_numpy(wav).to(device))
            with torch.no_grad():
                embeddings.append(vggish(examples).cpu().numpy())
        emb = np.concatenate(embeddings).astype(np.float64)
        mu, sigma = emb.mean(axis=0), np.cov(emb, rowvar=False)
        mu_r, sigma_r = ref["mu"][label].numpy(), ref["sigma"][label].numpy()
        covmean = scipy.linalg.sqrtm(sigma_r @ sigma).real
        diff = mu_r - mu
        fad = diff @ diff + np.trace(sigma_r) + np.trace(sigma) - 2 * np.trace(covmean)
        results[CLASS_NAMES[label]] = float(fad)
    return results


def bench_fad(root: Path, n_per_class: int, device: str, repeats: int = 1) -> dict:
    from encoders.vggish import VGGish
    from evaluation.backbones import VGGishBackbone
    from evaluation.fad_folders import fad_of_folders
    from evaluation.reference_stats import reference_stats

    torch.manual_seed(0)
    vggish = VGGish().eval().to(device)
    backbone = VGGishBackbone(vggish)
    gen, ref_dir, cache = root / "gen", root / "ref", root / "cache"
    _write_clips(gen, n_per_class, seed=1)
    _write_clips(ref_dir, 3, seed=2)
    ref = reference_stats(ref_dir, backbone, cache_dir=cache)  # cached, as in the official repo
    fast_s, slow_s = float("inf"), float("inf")
    for _ in range(repeats):  # alternate the two and keep the best: shared cores are noisy
        start = time.perf_counter()
        fast = fad_of_folders(
            gen,
            ref_dir,
            backbone=backbone,
            n_per_class=n_per_class,
            batch_size=32,
            device=device,
            cache_dir=cache,
        )
        fast_s = min(fast_s, time.perf_counter() - start)
        start = time.perf_counter()
        slow = reference_loop(gen, vggish, ref, device)
        slow_s = min(slow_s, time.perf_counter() - start)
    clips, scale = 7 * n_per_class, 700 / (7 * n_per_class)
    return {
        "fad_700_seconds": round(fast_s * scale, 2),
        "fad_700_reference_seconds": round(slow_s * scale, 2),
        "fad_speedup": round(slow_s / fast_s, 2),
        "fad_clips": clips,
        "fad_700_extrapolated": clips != 700,
        "fad_max_abs_diff_vs_reference": max(abs(fast[k] - slow[k]) for k in slow),
        "fad_device": device,
    }


METRIC_SIZES = {"vggish": (100, 10, 128), "panns": (100, 1, 2048)}  # clips, rows per clip, dims


def _class_embeddings(rng, clips: int, frames: int, dim: int, shift: float):
    centres = rng.standard_normal((clips, dim)) + shift
    rows = np.repeat(centres, frames, axis=0) + 0.5 * rng.standard_normal((clips * frames, dim))
    return rows, np.repeat(np.arange(clips), frames)


def _metric_costs(gen, clips, ref, n_boot: int) -> dict:
    from evaluation.bootstrap import fad_replicates, kad_replicates
    from evaluation.fad import fad_inf
    from evaluation.frechet_reference import frechet_distance_embeddings
    from evaluation.kad import kernel_audio_distance
    from evaluation.prdc import prdc

    calls = {
        "fad": lambda: frechet_distance_embeddings(gen, ref),
        "kad": lambda: kernel_audio_distance(gen, ref),
        "prdc": lambda: prdc(ref, gen, k=5),
        "fad_inf": lambda: fad_inf(gen, ref, clip_ids=clips),
        "fad_boot": lambda: fad_replicates(gen, clips, ref, n_boot=n_boot),
        "kad_boot": lambda: kad_replicates(gen, clips, ref, n_boot=n_boot),
    }
    costs = {}
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        costs[name] = time.perf_counter() - start
    return costs


def bench_metrics(quick: bool = False) -> dict:
    """Seconds per metric for 7 classes x 100 clips of random VGGish- and PANNs-size embeddings."""
    classes, n_boot = (1, 20) if quick else (7, 200)
    rng = np.random.default_rng(0)
    results: dict = {}
    for backbone, (clips, frames, dim) in METRIC_SIZES.items():
        totals: dict[str, float] = {}
        for _ in range(classes):
            gen, ids = _class_embeddings(rng, clips, frames, dim, shift=0.2)
            ref, _ = _class_embeddings(rng, clips, frames, dim, shift=0.0)
            for name, seconds in _metric_costs(gen, ids, ref, n_boot).items():
                totals[name] = totals.get(name, 0.0) + seconds
        for name, seconds in totals.items():
            results[f"metric_{name}_{backbone}_seconds"] = round(seconds * 7 / classes, 3)
    results["metric_extrapolated"] = quick
    results["metric_n_boot"] = n_boot
    return results


def run(quick: bool = False, device: str | None = None) -> dict:
    """Figures of the evaluation path; quick: a handful of clips, CPU-sized."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    full = device.startswith("cuda") and not quick
    fad_per_class = 100 if full else (1 if quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results: dict = {}
        try:
            results.update(bench_synthesis(root, 2 if quick else 10, device))
        except RuntimeError as err:
            results["synth_clips_per_s"] = None
            results["synth_error"] = str(err)
        results.update(bench_fad(root, fad_per_class, device, repeats=1 if quick else 2))
    results.update(bench_metrics(quick))
    return results


if __name__ == "__main__":
    print(json.dumps(run()))
