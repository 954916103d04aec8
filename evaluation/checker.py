"""The official DCASE 2023 Task 7 checker's input rules, as a list of problems to fix.

A submission folder holds one snake_case folder per class with exactly 100 wav files each:
22,050 Hz, mono, 16-bit PCM, exactly 88,200 samples (4 s). The official evaluation embeds every
file of a class folder, so a stray non-wav file is a problem too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from datamodules.classes import CAMEL_TO_SNAKE, SNAKE_NAMES, SNAKE_TO_CAMEL
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE


class SubmissionFolderError(ValueError):
    """A generated folder that the official checker would reject; `.problems` lists them all."""

    def __init__(self, root: Path, problems: list[str]) -> None:
        self.root, self.problems = root, problems
        listing = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{root} does not pass the DCASE 2023 Task 7 checker ({len(problems)} problem(s)):\n"
            f"{listing}{more}"
        )


def find_class_folder(root: Path, name: str, allow_camel: bool) -> Path | None:
    """root/<name>, or with `allow_camel` its CamelCase / snake_case twin; None when absent."""
    candidates = [root / name]
    if allow_camel:
        twin = SNAKE_TO_CAMEL.get(name) or CAMEL_TO_SNAKE.get(name)
        if twin:
            candidates.append(root / twin)
    return next((c for c in candidates if c.is_dir()), None)


def check_wav(path: Path) -> list[str]:
    """Problems of one file: format, sample rate, channels, length."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        return [f"{path}: cannot be read as audio ({err}); regenerate it with `foleygan synth`"]
    problems = []
    if info.format != "WAV" or info.subtype != "PCM_16":
        problems.append(
            f"{path}: {info.format}/{info.subtype}, expected WAV 16-bit PCM (PCM_16); "
            "re-export with soundfile subtype='PCM_16'"
        )
    if info.samplerate != SAMPLE_RATE:
        problems.append(
            f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE}; "
            "resample to 22,050 Hz (no other rate is accepted)"
        )
    if info.channels != 1:
        problems.append(f"{path}: {info.channels} channels, expected 1 (mono); mix down to mono")
    if info.frames != CLIP_SAMPLES:
        problems.append(
            f"{path}: {info.frames} samples, expected exactly {CLIP_SAMPLES} (4 s); "
            "zero-pad at the end or crop"
        )
    return problems


def _check_class(folder: Path, n_per_class: int | None) -> list[str]:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    wavs = [p for p in files if p.is_file() and p.suffix.lower() == ".wav"]
    problems = [
        f"{p}: not a .wav file; the evaluation reads every file in a class folder, remove it"
        for p in files
        if p not in wavs
    ]
    if n_per_class is not None and len(wavs) != n_per_class:
        problems.append(
            f"{folder}: {len(wavs)} wav files, expected exactly {n_per_class}; generate "
            f"{n_per_class} per class (`foleygan synth --n-per-class {n_per_class}`)"
        )
    if n_per_class is None and not wavs:
        problems.append(f"{folder}: no wav files; generate clips for this class")
    for wav in wavs:
        problems.extend(check_wav(wav))
    return problems


def check_submission_folder(
    root: str | os.PathLike,
    n_per_class: int | None = 100,
    class_names: Sequence[str] = SNAKE_NAMES,
    allow_camel: bool = False,
) -> list[str]:
    """Every problem the official checker would reject; [] when the folder passes.

    n_per_class None accepts any non-zero number of clips (quick runs). `allow_camel` accepts
    CamelCase class folders too (the official checker wants snake_case).
    """
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: folder does not exist; run `foleygan synth CKPT --out {root}` first"]
    problems = []
    for name in class_names:
        folder = find_class_folder(root, name, allow_camel)
        if folder is None:
            problems.append(
                f"{root / name}: class folder missing; every class needs a folder named "
                f"{name!r} (snake_case, as `foleygan synth` writes)"
            )
            continue
        problems.extend(_check_class(folder, n_per_class))
    return problems
