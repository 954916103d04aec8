"""The official DCASE 2023 Task 7 checker's input rules, as a list of problems to fix.

A submission folder holds one snake_case folder per class with exactly 100 wav files each:
22,050 Hz, mono, 16-bit PCM, exactly 88,200 samples (4 s). The official evaluation embeds every
file of a class folder, so a stray non-wav file is a problem too. The default checks DCASE's 7
folders (the official rule); `class_names=[...]` checks another class set (a checkpoint's), and
`class_names=None` the folder's own class folders (any names), with the same per-file rules.
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


def submission_folder_name(class_name: str) -> str:
    """The submission folder of a class: DCASE's snake_case name for a DCASE class (either
    spelling), the class name itself otherwise (what `foleygan synth` writes)."""
    camel = SNAKE_TO_CAMEL.get(class_name, class_name)
    return CAMEL_TO_SNAKE.get(camel, class_name)


def _found_classes(root: Path, allow_camel: bool) -> tuple[list[str], list[str]]:
    """(class folder names, problems) of the folder's own classes (the non-DCASE mode)."""
    names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not names:
        return [], [
            f"{root}: no class folder; expected one folder of wavs per class "
            "(run `foleygan synth CKPT --out DIR`)"
        ]
    problems = [
        f"{root / name}: DCASE class in CamelCase; the submission layout names it "
        f"{CAMEL_TO_SNAKE[name]!r} (snake_case, as `foleygan synth` writes)"
        for name in names
        if name in CAMEL_TO_SNAKE and not allow_camel
    ]
    return names, problems


def check_submission_folder(
    root: str | os.PathLike,
    n_per_class: int | None = 100,
    class_names: Sequence[str] | None = SNAKE_NAMES,
    allow_camel: bool = False,
) -> list[str]:
    """Every problem the official checker would reject; [] when the folder passes.

    n_per_class None accepts any non-zero number of clips (quick runs). `allow_camel` accepts
    CamelCase class folders too (the official checker wants snake_case). `class_names` are the
    class folders that must be there: the default is the official rule (DCASE's 7 snake_case
    folders); a list of other classes (e.g. a checkpoint's `class_names`, either DCASE spelling)
    expects `submission_folder_name` of each; None checks the folder's own class folders,
    whatever their names (a non-DCASE class set).
    """
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: folder does not exist; run `foleygan synth CKPT --out {root}` first"]
    if class_names is None:
        names, problems = _found_classes(root, allow_camel)
        return problems + [p for name in names for p in _check_class(root / name, n_per_class)]
    problems = []
    for name in [submission_folder_name(n) for n in class_names]:
        folder = find_class_folder(root, name, allow_camel)
        if folder is None:
            spelling = "snake_case, " if name in SNAKE_TO_CAMEL else ""
            problems.append(
                f"{root / name}: class folder missing; every class needs a folder named "
                f"{name!r} ({spelling}as `foleygan synth` writes)"
            )
            continue
        problems.extend(_check_class(folder, n_per_class))
    return problems
