"""Data benchmark: mel-cache build speed against a per-file librosa reference, same run.

The cache loads clips in a thread pool and computes log-mels 32 at a time in torch; the reference
is the usual per-file loop: `librosa.load(sr=22050)`, pad / crop, reflect pad, `librosa.stft`
magnitude, the same Slaney basis, log clamp. Both are timed after one warm-up clip.
`mel_cache_read_*` times what every later epoch costs: reading each clip's mel from the memmap
through the DataModule's dataset, against recomputing it per file.
`mel_cache_fraction_of_floor`: the compute floor of the same clips (already decoded in memory:
reflect pad, STFT, magnitude, the mel matmul, log, 32 clips a batch, as the cache batches them)
over the cache build's seconds, both in this run: 1.0 would be a build that costs nothing but
its STFT + matmul.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from datamodules.cache import MelCache
from datamodules.classes import CLASS_NAMES
from datamodules.datamodule import MelDataset
from datamodules.dcase import index_dataset
from datamodules.mel import CLIP_SAMPLES, LogMelSpectrogram, MelParams


def _write_noise_set(root: Path, clips_per_class: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    for name in CLASS_NAMES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_class):
            wav = (rng.standard_normal(CLIP_SAMPLES) * 0.1).clip(-1, 1).astype(np.float32)
            sf.write(root / name / f"{i:03d}.wav", wav, 22050, subtype="PCM_16")
    return "noise"


def _make_dataset(root: Path, clips_per_class: int) -> str:
    try:
        from datamodules.synthetic import make_synthetic_dataset
    except ImportError:
        return _write_noise_set(root, clips_per_class)
    make_synthetic_dataset(root, clips_per_class=clips_per_class, seed=0)
    return "datamodules.synthetic"


def reference_log_mel(path: Path, params: MelParams | None = None) -> np.ndarray:
    """One file the per-file way: librosa load + STFT -> log-mel [n_mels, T] (same contract)."""
    import librosa

    params = MelParams() if params is None else params
    wav, _ = librosa.load(path, sr=params.sample_rate)
    wav = np.pad(wav, (0, max(0, CLIP_SAMPLES - len(wav))))[:CLIP_SAMPLES]
    pad = (params.n_fft - params.hop_length) // 2
    wav = np.pad(wav, (pad, pad), mode="reflect")
    spec = librosa.stft(
        wav, n_fft=params.n_fft, hop_length=params.hop_length, win_length=params.win_length,
        window="hann", center=False,
    )
    magnitude = np.sqrt(np.abs(spec) ** 2 + 1e-9)
    basis = librosa.filters.mel(
        sr=params.sample_rate, n_fft=params.n_fft, n_mels=params.n_mels, fmin=params.f_min,
        fmax=params.f_max,
    )
    return np.log(np.maximum(basis @ magnitude, 1e-5))


def stft_matmul_floor_seconds(paths: list[Path], batch: int = 32) -> float:
    """Seconds of LogMelSpectrogram on the clips, decoded beforehand (the pure compute)."""
    wavs = []
    for path in paths:
        wav, _ = sf.read(str(path), dtype="float32", always_2d=True)
        wav = np.pad(wav.mean(axis=1), (0, max(0, CLIP_SAMPLES - len(wav))))[:CLIP_SAMPLES]
        wavs.append(torch.from_numpy(np.ascontiguousarray(wav)))
    clips = torch.stack(wavs)
    mel = LogMelSpectrogram()
    with torch.no_grad():
        mel(clips[:2])  # warm-up: FFT plan
        start = time.perf_counter()
        for first in range(0, len(clips), batch):
            mel(clips[first : first + batch])
        return time.perf_counter() - start


def run(quick: bool = False) -> dict:
    clips_per_class = 8 if quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "foley"
        source = _make_dataset(root, clips_per_class)
        paths = [path for path, _ in index_dataset(root).items]
        reference_log_mel(paths[0])  # warm-up: librosa's first calls compile
        with torch.no_grad():
            LogMelSpectrogram()(torch.zeros(2, CLIP_SAMPLES))  # warm-up: torch's first FFT plan
        start = time.perf_counter()
        cache = MelCache.build_or_load(root, force=True, progress=False, num_workers=2)
        cache_s = time.perf_counter() - start
        start = time.perf_counter()
        reference = [reference_log_mel(path) for path in paths]
        reference_s = time.perf_counter() - start
        start = time.perf_counter()
        dataset = MelDataset(cache, np.arange(len(cache)))
        for i in range(len(dataset)):
            dataset[i]
        read_s = time.perf_counter() - start
        max_diff = float(max(np.abs(cache.mels[i] - ref).max() for i, ref in enumerate(reference)))
        floor_s = stft_matmul_floor_seconds(paths)
    cache_rate, reference_rate = len(paths) / cache_s, len(paths) / reference_s
    return {
        "dataset": source,
        "clips": len(paths),
        "mel_cache_clips_per_s": round(cache_rate, 1),
        "mel_reference_clips_per_s": round(reference_rate, 1),
        "mel_cache_speedup": round(cache_rate / reference_rate, 2),
        "mel_cache_read_clips_per_s": round(len(paths) / read_s, 1),
        "mel_cache_read_speedup": round(len(paths) / read_s / reference_rate, 1),
        "mel_cache_vs_reference_max_abs_diff": max_diff,
        "mel_floor_clips_per_s": round(len(paths) / floor_s, 1),
        "mel_cache_fraction_of_floor": round(floor_s / cache_s, 3),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
