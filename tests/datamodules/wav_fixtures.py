"""Tiny dataset trees for the cache tests: a few short wavs per class, and a bad-file writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from datamodules.cache import MelCache

N = 4000  # samples per cached clip (0.18 s at 22,050 Hz): keeps every build well under 1 s


def write_tree(root: Path, classes=("DogBark", "Rain"), per_class: int = 3) -> None:
    """`root/<class>/<i>.wav`: mono 16-bit 22,050 Hz noise, exactly N samples."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            wav = rng.uniform(-0.5, 0.5, N).astype(np.float32)
            sf.write(root / name / f"{i}.wav", wav, 22050, subtype="PCM_16")


def build(root: Path, **kwargs) -> MelCache:
    kwargs.setdefault("num_samples", N)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("num_workers", 0)
    return MelCache.build_or_load(root, **kwargs)


def write_nan_wav(path: Path, n: int = N) -> None:
    """A float wav holding one NaN and one +inf sample."""
    wav = np.zeros(n, dtype=np.float32)
    wav[10], wav[20] = np.nan, np.inf
    sf.write(path, wav, 22050, subtype="FLOAT")
