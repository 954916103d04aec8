"""Copy-synthesis: real clips -> the mel contract -> a vocoder, written in the submission layout.

This is the "real -> mel -> vocoder" ceiling of a FAD table: what a generator whose mels were
exactly the real clips' would score through that vocoder. `<out>/<folder>/<index:03d>.wav`
(DCASE's snake_case folder for a DCASE class, the class name otherwise), 16-bit PCM, mono,
22,050 Hz, exactly 88,200 samples, as `evaluation.synthesis` writes a generator's clips.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from datamodules.audio import load_audio, save_wav
from datamodules.dcase import DatasetIndex, index_dataset
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE, LogMelSpectrogram
from evaluation.synthesis import folder_name, module_device, prepare_class_folder, vocode


def choose_clips(index: DatasetIndex, n_per_class: int, seed: int = 0) -> list[list[Path]]:
    """Per class (label order), `n_per_class` of its clips drawn without replacement.

    Class `label` draws with a generator seeded by (seed, label), so one class's choice does not
    depend on the others; a class with fewer clips gives all of them (with a warning).
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}; e.g. 100 (the official)")
    chosen = []
    for label, name in enumerate(index.class_names):
        paths = [path for path, y in index.items if y == label]
        if len(paths) < n_per_class:
            warnings.warn(
                f"class {name} has {len(paths)} clips under {index.classes_dir}, fewer than "
                f"n_per_class={n_per_class}: resynthesising all {len(paths)}",
                UserWarning,
                stacklevel=2,
            )
        order = np.random.default_rng([seed, label]).permutation(len(paths))[:n_per_class]
        chosen.append([paths[i] for i in order])
    return chosen


@torch.no_grad()
def resynthesize_clips(
    paths: Sequence[Path], vocoder: nn.Module, mel: nn.Module | None = None
) -> torch.Tensor:
    """Audio files -> wav [B, 88200] float32 on the CPU: load (mono, 22,050 Hz, 4 s), log-mel,
    vocoder, pad / crop."""
    mel = LogMelSpectrogram() if mel is None else mel
    wav = torch.from_numpy(np.stack([load_audio(p, SAMPLE_RATE, CLIP_SAMPLES) for p in paths]))
    mel = mel.to(module_device(vocoder))
    return vocode(vocoder, mel(wav.to(module_device(vocoder))))


def resynthesize(
    src: str | os.PathLike,
    vocoder: nn.Module,
    out_dir: str | os.PathLike,
    n_per_class: int = 100,
    seed: int = 0,
    batch_size: int = 16,
    class_names: list[str] | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write `n_per_class` resynthesised real clips per class of `src` to `out_dir`.

    `src` is any root `datamodules.dcase.index_dataset` reads (`class_names` picks classes).
    Returns {class name: clips written}; a killed run's temporaries and an earlier run's surplus
    numbered clips are removed first. Deterministic: the clips are chosen by `seed`
    (`choose_clips`), and the mel and vocoder are deterministic (Griffin-Lim starts from a
    fixed phase).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    index = index_dataset(src, class_names)
    chosen = choose_clips(index, n_per_class, seed)
    out = Path(out_dir)
    for name, paths in zip(index.class_names, chosen, strict=True):
        prepare_class_folder(out / folder_name(name), len(paths))
    mel = LogMelSpectrogram()
    jobs = [
        (name, start, paths[start : start + batch_size])
        for name, paths in zip(index.class_names, chosen, strict=True)
        for start in range(0, len(paths), batch_size)
    ]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="resynthesis", unit="batch")
    for name, start, batch in jobs:
        wav = resynthesize_clips(batch, vocoder, mel)
        for offset, clip in enumerate(wav):
            save_wav(out / folder_name(name) / f"{start + offset:03d}.wav", clip, SAMPLE_RATE)
    return {name: len(paths) for name, paths in zip(index.class_names, chosen, strict=True)}
