"""Find the class folders and clips under a dataset root: the DCASE layouts or any class folders.

A class folder is a visible folder with at least one audio file (.wav, .flac, .ogg) directly
inside; its name is the class. Accepted roots (the first that holds a class folder wins):
- `<root>/<class>/*.wav`: any folder of class folders, e.g. the baseline's
  `DCASEFoleySoundSynthesisDevSet` (CamelCase), the Zenodo `dev` folder (snake_case), or your own
  categories (`DoorKnock/`, `Wind/`);
- `<root>/dev/<class>/`: root is the Zenodo `DCASE_2023_Challenge_Task_7_Dataset` folder;
- `<root>/DCASE_2023_Challenge_Task_7_Dataset/dev/<class>/`: root holds the Zenodo release;
- `<root>/DCASEFoleySoundSynthesisDevSet/<class>/`: root holds the baseline's folder.
Hidden files and folders are ignored. The class list is `classes.resolve_class_names` of the
folder names (DCASE order for DCASE roots, else sorted), or an explicit list, validated.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from datamodules.classes import (
    CLASS_NAMES,
    SNAKE_NAMES,
    SNAKE_TO_CAMEL,
    dcase_name,
    resolve_class_names,
    same_class,
)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
ZENODO_FOLDER = "DCASE_2023_Challenge_Task_7_Dataset"
DEV_SET_FOLDER = "DCASEFoleySoundSynthesisDevSet"
_CANDIDATES = ((), ("dev",), (ZENODO_FOLDER, "dev"), (DEV_SET_FOLDER,))


class DatasetLayoutError(FileNotFoundError):
    """The dataset root holds no class folder (a folder with audio files)."""


class ClassListError(ValueError):
    """An explicit class list does not fit the class folders of a root."""


@dataclass(frozen=True)
class ClassFolders:
    """The classes of a root: `class_names[i]` lives in `folders[i]` (label i)."""

    classes_dir: Path
    class_names: tuple[str, ...]
    folders: tuple[Path, ...]
    ignored: tuple[str, ...]  # folder names left out, each with its reason


@dataclass(frozen=True)
class DatasetIndex:
    """The clips of a root: `items` [(audio path, label index into class_names)], sorted."""

    classes: ClassFolders
    items: tuple[tuple[Path, int], ...]

    @property
    def class_names(self) -> list[str]:
        return list(self.classes.class_names)

    @property
    def classes_dir(self) -> Path:
        return self.classes.classes_dir


def _visible_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_audio(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS


def _audio_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and _is_audio(p)]


def _has_audio(folder: Path) -> bool:
    return any(_is_audio(p) and p.is_file() for p in folder.iterdir())


def _found_message(root: Path) -> str:
    if not root.exists():
        return "the folder does not exist"
    names = [d.name for d in _visible_dirs(root)]
    return f"found folders {names}" if names else "found no sub-folders"


def _no_class_folder(root: Path) -> DatasetLayoutError:
    found = _found_message(root)
    if root.exists():
        found += (
            f", none with audio files ({', '.join(AUDIO_EXTENSIONS)}) directly inside (also "
            f"checked dev/, {ZENODO_FOLDER}/dev/ and {DEV_SET_FOLDER}/)"
        )
    return DatasetLayoutError(
        f"no class folder under {root}: {found}. Point data_root at the folder that holds one "
        "folder of clips per class (e.g. DogBark/*.wav, Wind/*.wav), or run `foleygan download` "
        "to fetch the DCASE development set"
    )


def _locate(root: Path) -> tuple[Path, list[Path], list[Path]]:
    """(classes dir, folders with audio, folders without) of the first accepted layout."""
    for parts in _CANDIDATES:
        folder = root.joinpath(*parts)
        dirs = _visible_dirs(folder)
        with_audio = [d for d in dirs if _has_audio(d)]
        if with_audio:
            return folder, with_audio, [d for d in dirs if d not in with_audio]
    raise _no_class_folder(root)


def _check_spellings(folders: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for folder in folders:
        camel = dcase_name(folder.name)
        if camel is not None and camel in seen:
            raise DatasetLayoutError(
                f"{seen[camel]} and {folder} are two folders for the DCASE class {camel}; "
                "merge them into one folder"
            )
        if camel is not None:
            seen[camel] = folder


def _select(
    found: list[Path], requested: list[str], classes_dir: Path
) -> tuple[list[str], list[Path]]:
    """Folders of an explicit class list, in its order; names canonical when all DCASE."""
    for i, name in enumerate(requested):
        if any(same_class(name, other) for other in requested[:i]):
            raise ClassListError(f"class_names lists {name!r} twice: {requested}")
    folders = []
    for name in requested:
        match = [f for f in found if same_class(name, f.name)]
        if not match:
            raise ClassListError(
                f"class {name!r} of class_names has no clip under {classes_dir}: the class "
                f"folders with audio are {[f.name for f in found]}; fix class_names or add a "
                f"folder {classes_dir / name} with its clips"
            )
        folders.append(match[0])
    canonical = [dcase_name(n) for n in requested]
    names = canonical if all(c is not None for c in canonical) else list(requested)
    return names, folders


def find_classes(
    root: str | os.PathLike, class_names: list[str] | None = None
) -> ClassFolders:
    """The class folders of `root` (no audio is read); warns about the folders it leaves out.

    Raises `DatasetLayoutError` when no layout holds a class folder, `ClassListError` when an
    explicit `class_names` lists a class twice or one without a folder of clips.
    """
    root = Path(root).expanduser()
    classes_dir, found, empty = _locate(root)
    _check_spellings(found)
    ignored = [f"{d.name} (no audio files)" for d in empty]
    if class_names is None:
        names = resolve_class_names(d.name for d in found)
        folders = [next(d for d in found if same_class(n, d.name)) for n in names]
    else:
        names, folders = _select(found, list(class_names), classes_dir)
        ignored += [f"{d.name} (not in class_names)" for d in found if d not in folders]
    if ignored:
        warnings.warn(
            f"ignored folders under {classes_dir}: {', '.join(ignored)}", UserWarning, stacklevel=2
        )
    return ClassFolders(classes_dir, tuple(names), tuple(folders), tuple(ignored))


def index_dataset(
    root: str | os.PathLike, class_names: list[str] | None = None
) -> DatasetIndex:
    """The clips of `root` with labels into its class list (see `find_classes`)."""
    classes = find_classes(root, class_names)
    items = [
        (path, label)
        for label, folder in enumerate(classes.folders)
        for path in _audio_files(folder)
    ]
    return DatasetIndex(classes, tuple(sorted(items, key=lambda it: (it[1], str(it[0])))))


# --- the DCASE-only form, for consumers that index CLASS_NAMES ---------------------------------


def _label_of(name: str) -> int | None:
    camel = SNAKE_TO_CAMEL.get(name, name)
    return CLASS_NAMES.index(camel) if camel in CLASS_NAMES else None


def _dcase_class_folders(root: Path) -> list[tuple[Path, int]]:
    for parts in _CANDIDATES:
        found = [(d, _label_of(d.name)) for d in _visible_dirs(root.joinpath(*parts))]
        known = [(d, label) for d, label in found if label is not None]
        if known:
            return known
    return []


def discover_dataset(root: str | os.PathLike) -> list[tuple[Path, int]]:
    """[(audio path, index into CLASS_NAMES)] of the DCASE-named class folders, sorted.

    The DCASE-only form (other folders are left out; a root without a DCASE class folder raises
    `DatasetLayoutError`), kept for code that indexes `CLASS_NAMES`. New code uses
    `index_dataset`, which takes any class folders and returns their names.
    """
    root = Path(root).expanduser()
    folders = _dcase_class_folders(root)
    if not folders:
        raise DatasetLayoutError(
            f"no DCASE 2023 Task 7 class folder under {root}: {_found_message(root)}; expected "
            f"class folders named {list(CLASS_NAMES)} or {list(SNAKE_NAMES)} (directly, or under "
            f"dev/ or {ZENODO_FOLDER}/dev/). Point data_root at the folder that holds the class "
            "folders, or run `foleygan download` to fetch the development set"
        )
    items = [(path, label) for folder, label in folders for path in _audio_files(folder)]
    if not items:
        names = [folder.name for folder, _ in folders]
        raise DatasetLayoutError(
            f"class folders {names} under {root} hold no audio files "
            f"({', '.join(AUDIO_EXTENSIONS)}); copy the clips into them or run `foleygan download`"
        )
    return sorted(items, key=lambda item: (item[1], str(item[0])))
