"""Recording ids: which clips were cut from one source recording (so a split keeps them together).

Each clip's id comes from the first of:
1. A metadata CSV beside the data: any `*.csv` in the folder that holds the class folders or in
   its parent (so the Zenodo release's `DevMeta.csv` is found from `dev/`), read with a header
   row. Column names are matched case-insensitively:
   - the clip: `filename`, `current_file_path`, `slice_file_name`, `file_name` or `path`: a path
     relative to the CSV's folder or to the class folders' parent (`DogBark/1234-0-0-0.wav`), or a
     bare file name; a row matches the clip whose path ends with it. A bare name shared by clips
     of several classes is settled by a `class` / `category` column, else the row is skipped.
   - the recording: `recording_id`, `source_id`, `fsID` (UrbanSound8K) or `original_file_name`
     (the first present wins). A value of `original_file_name` is itself read with the file-name
     pattern (an UrbanSound8K slice name gives its source id), else used as it is.
   Our `data/realdev/meta.csv` (`filename,class,recording_id,source,license`) is this format.
   The column names of DCASE's `DevMeta.csv` (`current_file_path`, `original_file_name`) are
   taken from third-party code that reads it, not from an official description.
2. The clip's file name (its stem, without the extension), searched with a regular expression;
   the id is the first capture group that took part in the match. `DEFAULT_RECORDING_PATTERN`
   takes the source id of UrbanSound8K-style names `<fsID>-<classID>-<occurrence>-<slice>` (four
   numbers: the FIRST is the recording) and the Freesound clip id of ESC-50 / ESC-10 names
   `<fold>-<clipID>-<take letter>[-<target>]` (the SECOND number: ESC names start with the fold,
   which is not a recording). Other names (`dog_bark_0001`, `123-foo`, dates) do not match.
3. Otherwise the clip is its own recording.
Ids from a CSV and from file names share one namespace (both are source ids, e.g. Freesound ids);
a clip on its own gets `clip:<path>`, which never collides.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from datamodules.classes import same_class

DEFAULT_RECORDING_PATTERN = r"^(?:(\d+)-\d+-\d+-\d+|\d+-(\d+)-[A-Za-z]+(?:-\d+)?)$"
FILE_COLUMNS = ("filename", "current_file_path", "slice_file_name", "file_name", "path")
RECORDING_COLUMNS = ("recording_id", "source_id", "fsid", "original_file_name")
CLASS_COLUMNS = ("class", "category")


class RecordingMetadataError(ValueError):
    """A recording pattern or metadata file that cannot be used."""


@dataclass
class RecordingIds:
    """`ids[i]` is the recording of clip i; `origin[i]` is "csv", "pattern" or "clip"."""

    ids: list[str]
    origin: list[str]
    csv_files: list[Path] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when any clip got an id from a CSV or its file name."""
        return any(o != "clip" for o in self.origin)

    def describe(self) -> str:
        """E.g. "143 recordings; ids of 214 clips from meta.csv, 0 from file names, 0 alone"."""
        counts = Counter(self.origin)
        files = ", ".join(str(p) for p in self.csv_files) or "a metadata CSV"
        return (
            f"{len(set(self.ids))} recordings; ids of {counts['csv']} clips from {files}, "
            f"{counts['pattern']} from file names, {counts['clip']} clips on their own"
        )


def compile_pattern(pattern: str | None) -> re.Pattern:
    """The recording pattern (None: the default), checked to have a capture group."""
    text = DEFAULT_RECORDING_PATTERN if pattern is None else pattern
    try:
        compiled = re.compile(text)
    except re.error as err:
        raise RecordingMetadataError(
            f"recording_pattern {text!r} is not a regular expression ({err}); "
            r"use e.g. '^(\d+)-' (the id is the first capture group that matches)"
        ) from err
    if compiled.groups < 1:
        raise RecordingMetadataError(
            f"recording_pattern {text!r} has no capture group; put the recording id in "
            r"parentheses, e.g. '^(\d+)-'"
        )
    return compiled


def id_from_name(stem: str, pattern: re.Pattern) -> str | None:
    """The first capture group of `pattern` that took part in a match in `stem`; None if none."""
    match = pattern.search(stem)
    if match is None:
        return None
    return next((g for g in match.groups() if g), None)


def _column(fieldnames: Sequence[str], choices: Sequence[str]) -> str | None:
    lower = {name.strip().lower(): name for name in fieldnames}
    return next((lower[c] for c in choices if c in lower), None)


def _candidate_csvs(paths: Sequence[Path]) -> list[Path]:
    dirs: list[Path] = []
    for classes_dir in dict.fromkeys(p.parent.parent for p in paths):
        for folder in (classes_dir, classes_dir.parent):
            if folder not in dirs:
                dirs.append(folder)
    return [csv_path for d in dirs if d.is_dir() for csv_path in sorted(d.glob("*.csv"))]


def _suffix_keys(paths: Sequence[Path]) -> dict[str, list[int]]:
    """Every trailing part of every clip path ("a.wav", "DogBark/a.wav", ...) -> clip indices."""
    keys: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        parts = path.parts
        for start in range(max(len(parts) - 4, 0), len(parts)):
            keys.setdefault(PurePosixPath(*parts[start:]).as_posix(), []).append(i)
    return keys


def _row_clip(row: dict, cols: dict, keys: dict, paths: Sequence[Path]) -> int | None:
    value = (row.get(cols["file"]) or "").strip().replace("\\", "/")
    parts = [p for p in PurePosixPath(value).parts if p not in ("/", ".")]
    hits = keys.get(PurePosixPath(*parts[-4:]).as_posix(), []) if parts else []
    if len(hits) > 1 and cols["class"] is not None:
        label = (row.get(cols["class"]) or "").strip()
        hits = [i for i in hits if same_class(label, paths[i].parent.name)]
    return hits[0] if len(hits) == 1 else None


def _ids_from_csv(
    csv_path: Path, paths: Sequence[Path], keys: dict, pattern: re.Pattern, ids: dict[int, str]
) -> int:
    """Fill `ids` (clip index -> id) from one CSV; the number of clips it gave an id."""
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = reader.fieldnames or []
        cols = {
            "file": _column(names, FILE_COLUMNS),
            "rec": _column(names, RECORDING_COLUMNS),
            "class": _column(names, CLASS_COLUMNS),
        }
        if cols["file"] is None or cols["rec"] is None:
            return 0
        before = len(ids)
        from_name = cols["rec"].strip().lower() == "original_file_name"
        for row in reader:
            clip = _row_clip(row, cols, keys, paths)
            value = (row.get(cols["rec"]) or "").strip()
            if clip is None or clip in ids or not value:
                continue
            if from_name:
                value = id_from_name(PurePosixPath(value).stem, pattern) or value
            ids[clip] = value
    return len(ids) - before


def recording_ids(paths: Sequence[Path], pattern: str | None = None) -> RecordingIds:
    """The recording id of every clip (`paths` are audio files inside class folders)."""
    compiled = compile_pattern(pattern)
    keys = _suffix_keys(paths)
    from_csv: dict[int, str] = {}
    used = []
    for csv_path in _candidate_csvs(paths):
        try:
            if _ids_from_csv(csv_path, paths, keys, compiled, from_csv):
                used.append(csv_path)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            warnings.warn(
                f"skipped {csv_path} while looking for recording ids: {err}", stacklevel=2
            )
    ids, origin = [], []
    for i, path in enumerate(paths):
        name_id = id_from_name(path.stem, compiled)
        if i in from_csv:
            ids.append(from_csv[i])
            origin.append("csv")
        elif name_id is not None:
            ids.append(name_id)
            origin.append("pattern")
        else:
            ids.append(f"clip:{path.parent.name}/{path.name}")
            origin.append("clip")
    return RecordingIds(ids, origin, used)
