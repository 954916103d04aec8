"""Generate clips per class and write them in the DCASE 2023 Task 7 submission layout.

`<out>/<class folder>/<index:03d>.wav`, one folder per class of the generator (its
`class_names`, the checkpoint's): DCASE's snake_case name for a DCASE class, the class name
otherwise. 16-bit PCM, mono, 22,050 Hz, exactly 88,200 samples (the vocoder's 344 frames give
88,064 samples: the last 136 are zero-padded).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from datamodules.classes import CAMEL_TO_SNAKE
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE

SEED_STRIDE = 1_000_003  # per-batch seeds: seed * SEED_STRIDE + batch index


def fit_length(wav: torch.Tensor, num_samples: int = CLIP_SAMPLES) -> torch.Tensor:
    """wav [B, N] -> [B, num_samples]: zero-pad at the end or crop the end."""
    if wav.shape[-1] >= num_samples:
        return wav[..., :num_samples]
    return F.pad(wav, (0, num_samples - wav.shape[-1]))


def module_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def folder_name(class_name: str) -> str:
    """The evaluation folder of a class: snake_case for the DCASE names, else unchanged."""
    return CAMEL_TO_SNAKE.get(class_name, class_name)


@torch.no_grad()
def vocode(vocoder: nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """mel [B, 80, T] -> wav [B, 88200] float32 on the CPU: vocoder, then pad / crop the end."""
    wav = vocoder(mel.to(module_device(vocoder)))
    if wav.dim() == 3 and wav.shape[1] == 1:
        wav = wav.squeeze(1)  # HiFi-GAN's [B, 1, N]
    return fit_length(wav.detach().float(), CLIP_SAMPLES).cpu()


def _accepts_seed(generator: nn.Module) -> bool:
    try:
        return "seed" in inspect.signature(generator.generate).parameters
    except (TypeError, ValueError):
        return False


@torch.no_grad()
def generate_mel_wav(
    generator: nn.Module, vocoder: nn.Module, labels: torch.Tensor, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """labels [B] -> (mel [B, 80, T], wav [B, 88200] float32), both on the CPU.

    G -> vocoder -> pad / crop. With `seed`, the generator's noise is drawn from that seed:
    passed as `seed=` when `generate` accepts it, else drawn under a forked, re-seeded global
    RNG (the caller's RNG stream is left untouched).
    """
    labels = labels.to(module_device(generator))
    if seed is None:
        mel = generator.generate(labels)
    elif _accepts_seed(generator):
        mel = generator.generate(labels, seed=seed)
    else:
        devices = [labels.device] if labels.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            mel = generator.generate(labels)
    return mel.detach().float().cpu(), vocode(vocoder, mel)


def generate_wav(
    generator: nn.Module, vocoder: nn.Module, labels: torch.Tensor, seed: int | None = None
) -> torch.Tensor:
    """labels [B] -> wav [B, 88200] float32 on the CPU (see `generate_mel_wav`)."""
    return generate_mel_wav(generator, vocoder, labels, seed=seed)[1]


def plan_batches(
    num_classes: int, n_per_class: int, batch_size: int
) -> Iterator[tuple[int, list[tuple[int, int]]]]:
    """Yield (batch index, [(label, index within class)]) in class order."""
    items = [(c, i) for c in range(num_classes) for i in range(n_per_class)]
    for b, start in enumerate(range(0, len(items), batch_size)):
        yield b, items[start : start + batch_size]


def _check_args(n_per_class: int, batch_size: int, names: Sequence[str]) -> None:
    if n_per_class < 1 or batch_size < 1:
        raise ValueError(
            f"n_per_class ({n_per_class}) and batch_size ({batch_size}) must be >= 1; "
            "the official evaluation uses --n-per-class 100"
        )
    if not names:
        raise ValueError(
            "no class names: the generator has no `class_names`; pass class_names=[...]"
        )


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete `save_wav`'s temporaries (`.<index>.wav.<random>.tmp`) that a killed run left in
    a class folder; every finished clip is complete (written beside, then renamed)."""
    stale = sorted(folder.glob(".*.wav.*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def prepare_class_folder(folder: Path, n_clips: int) -> list[Path]:
    """Ready a class folder for clips 000.wav .. <n_clips - 1>.wav: remove a killed run's
    temporaries and the numbered clips of an earlier, larger run (FAD would count them). Other
    files are left alone. Returns the removed paths."""
    remove_stale_temporaries(folder)
    surplus = sorted(p for p in folder.glob("*.wav") if p.stem.isdigit() and int(p.stem) >= n_clips)
    for path in surplus:
        path.unlink(missing_ok=True)
    if surplus:
        warnings.warn(f"{folder}: removed {len(surplus)} clips numbered {n_clips:03d} and up, left "
                      f"by an earlier run with more clips per class (FAD would count them); write "
                      f"to an empty --out folder to keep them", stacklevel=2)
    return surplus


def synthesize(
    generator: nn.Module,
    vocoder: nn.Module,
    out_dir: str | os.PathLike,
    n_per_class: int = 100,
    seed: int = 0,
    batch_size: int = 32,
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Write n_per_class clips per class to `out_dir` in the DCASE layout; returns `out_dir`.

    Deterministic: batch b draws its noise from seed * SEED_STRIDE + b, so the same seed, batch
    size and generator give identical files. Each clip is written atomically; a rerun after a
    killed run rewrites every clip and removes the killed run's temporaries, and a rerun with
    fewer clips per class removes the earlier run's surplus clips (`prepare_class_folder`).
    """
    from datamodules.audio import save_wav

    names = list(class_names if class_names is not None else getattr(generator, "class_names", []))
    _check_args(n_per_class, batch_size, names)
    out = Path(out_dir)
    for name in names:
        prepare_class_folder(out / folder_name(name), n_per_class)
    batches = plan_batches(len(names), n_per_class, batch_size)
    if progress:
        from tqdm.auto import tqdm

        total = -(-len(names) * n_per_class // batch_size)
        batches = tqdm(batches, total=total, desc="synthesis", unit="batch")
    was_training = generator.training
    generator.eval()  # batch-norm running statistics: a clip must not depend on its batch mates
    try:
        for b, batch in batches:
            labels = torch.tensor([label for label, _ in batch], dtype=torch.long)
            wav = generate_wav(generator, vocoder, labels, seed=seed * SEED_STRIDE + b)
            for (label, index), clip in zip(batch, wav, strict=True):
                save_wav(out / folder_name(names[label]) / f"{index:03d}.wav", clip, SAMPLE_RATE)
    finally:
        generator.train(was_training)
    return out
