"""Find the DCASE 2023 Task 7 clips under a dataset root, in either published layout.

Accepted roots (the first that holds at least one known class folder wins):
- `<root>/<ClassName>/*.wav`: the baseline's `DCASEFoleySoundSynthesisDevSet` (CamelCase) or any
  folder of snake_case class folders (the Zenodo `dev` folder itself);
- `<root>/dev/<snake_case>/`: root is the Zenodo `DCASE_2023_Challenge_Task_7_Dataset` folder;
- `<root>/DCASE_2023_Challenge_Task_7_Dataset/dev/<snake_case>/`: root holds the Zenodo release;
- `<root>/DCASEFoleySoundSynthesisDevSet/<ClassName>/`: root holds the baseline's folder.
A subset of the seven classes is fine; hidden files and folders are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES, SNAKE_TO_CAMEL

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
ZENODO_FOLDER = "DCASE_2023_Challenge_Task_7_Dataset"
DEV_SET_FOLDER = "DCASEFoleySoundSynthesisDevSet"
_CANDIDATES = ((), ("dev",), (ZENODO_FOLDER, "dev"), (DEV_SET_FOLDER,))


class DatasetLayoutError(FileNotFoundError):
    """The dataset root holds no known class folder."""


def _visible_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _label_of(name: str) -> int | None:
    camel = SNAKE_TO_CAMEL.get(name, name)
    return CLASS_NAMES.index(camel) if camel in CLASS_NAMES else None


def find_class_folders(root: str | os.PathLike) -> list[tuple[Path, int]]:
    """[(class folder, label)] of the first accepted layout under `root`; [] when none."""
    root = Path(root).expanduser()
    for parts in _CANDIDATES:
        folder = root.joinpath(*parts)
        found = [(d, _label_of(d.name)) for d in _visible_dirs(folder)]
        known = [(d, label) for d, label in found if label is not None]
        if known:
            return known
    return []


def _audio_files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_EXTENSIONS
    ]


def _layout_error(root: Path) -> DatasetLayoutError:
    if not root.exists():
        found = "the folder does not exist"
    else:
        names = [d.name for d in _visible_dirs(root)]
        found = f"found folders {names}" if names else "found no sub-folders"
    return DatasetLayoutError(
        f"no DCASE 2023 Task 7 class folder under {root}: {found}; expected class folders named "
        f"{list(CLASS_NAMES)} or {list(SNAKE_NAMES)} (directly, or under dev/ or "
        f"{ZENODO_FOLDER}/dev/). Point data_root at the folder that holds the class folders, "
        "or run `foleygan download` to fetch the development set"
    )


def discover_dataset(root: str | os.PathLike) -> list[tuple[Path, int]]:
    """[(audio path, label index)] sorted by (label, path); raises `DatasetLayoutError`."""
    root = Path(root).expanduser()
    folders = find_class_folders(root)
    if not folders:
        raise _layout_error(root)
    items = [(path, label) for folder, label in folders for path in _audio_files(folder)]
    if not items:
        names = [folder.name for folder, _ in folders]
        raise DatasetLayoutError(
            f"class folders {names} under {root} hold no audio files "
            f"({', '.join(AUDIO_EXTENSIONS)}); copy the clips into them or run `foleygan download`"
        )
    return sorted(items, key=lambda item: (item[1], str(item[0])))
