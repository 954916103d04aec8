"""Match the class folders of two sets (generated vs reference) by class name.

A class is matched by name: the two spellings of a DCASE class are one class (`dog_bark` on one
side, `DogBark` on the other), any other name only itself. `match_classes` gives the classes of
both sides (the first side's order, DCASE CamelCase names for DCASE classes) and those present on
one side only; `ClassMismatchError` names both lists. `relabel` turns a `DatasetIndex` into
[(path, label)] with labels into the matched list, leaving out the unmatched classes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datamodules.classes import dcase_name, same_class
from datamodules.dcase import DatasetIndex, index_dataset


def display_name(name: str) -> str:
    """CamelCase for a DCASE class in either spelling, the name itself otherwise."""
    return dcase_name(name) or name


class ClassMismatchError(ValueError):
    """The two sides of a comparison hold different classes."""


@dataclass(frozen=True)
class ClassMatch:
    """`names`: classes on both sides (first side's order); `only_first` / `only_second`: the
    classes of one side only (display names)."""

    names: tuple[str, ...]
    only_first: tuple[str, ...]
    only_second: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.only_first and not self.only_second

    def describe(self, first: str, second: str) -> str:
        parts = []
        if self.only_first:
            parts.append(f"only in {first}: {list(self.only_first)}")
        if self.only_second:
            parts.append(f"only in {second}: {list(self.only_second)}")
        return "; ".join(parts)


def match_classes(first: Sequence[str], second: Sequence[str]) -> ClassMatch:
    """Classes of `first` and `second` matched by name (either DCASE spelling)."""
    both = [display_name(a) for a in first if any(same_class(a, b) for b in second)]
    only_first = [display_name(a) for a in first if not any(same_class(a, b) for b in second)]
    only_second = [display_name(b) for b in second if not any(same_class(b, a) for a in first)]
    return ClassMatch(tuple(both), tuple(only_first), tuple(only_second))


def check_match(
    match: ClassMatch,
    first: tuple[str, Sequence[str]],
    second: tuple[str, Sequence[str]],
    allow_missing: bool = False,
) -> None:
    """Raise `ClassMismatchError` naming both class lists when a class is on one side only
    (with `allow_missing`, warn instead); raise when no class is on both sides."""
    (first_title, first_names), (second_title, second_names) = first, second
    lists = (
        f"{first_title} has classes {list(first_names)}, {second_title} has "
        f"{list(second_names)}"
    )
    if not match.names:
        raise ClassMismatchError(
            f"no class in common: {lists}; compare folders of the same classes (class folders "
            "are matched by name, DogBark and dog_bark being one class)"
        )
    if match.complete:
        return
    detail = match.describe(first_title, second_title)
    if not allow_missing:
        raise ClassMismatchError(
            f"class lists differ: {lists} ({detail}); give both sides the same class folders, "
            "or pass --allow-missing (allow_missing=True) to score the classes on both sides "
            f"only ({list(match.names)})"
        )
    warnings.warn(
        f"scoring {list(match.names)} only: {detail}", UserWarning, stacklevel=3
    )


def relabel(index: DatasetIndex, names: Sequence[str]) -> list[tuple[Path, int]]:
    """[(path, label into names)] of the index's clips whose class is in `names` (by name)."""
    mapping = {}
    for old, name in enumerate(index.class_names):
        hits = [new for new, wanted in enumerate(names) if same_class(name, wanted)]
        if hits:
            mapping[old] = hits[0]
    return sorted(
        ((path, mapping[label]) for path, label in index.items if label in mapping),
        key=lambda item: (item[1], str(item[0])),
    )


def folder_index(root: str | os.PathLike, what: str) -> DatasetIndex:
    """`index_dataset(root)`; a root without class folders raises naming `what` (the side)."""
    try:
        return index_dataset(root)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{what}: {err}") from err


@dataclass(frozen=True)
class MatchedFolders:
    """Two folders' clips with labels into `names`, the classes on both sides."""

    names: list[str]
    first: list[tuple[Path, int]]
    second: list[tuple[Path, int]]
    match: ClassMatch


def match_folders(
    first_dir: str | os.PathLike,
    second_dir: str | os.PathLike,
    allow_missing: bool = False,
    titles: tuple[str, str] = ("generated folder", "reference folder"),
) -> MatchedFolders:
    """Index both folders, match their classes by name (`check_match`), relabel their clips."""
    first_title, second_title = f"{titles[0]} {first_dir}", f"{titles[1]} {second_dir}"
    first = folder_index(first_dir, first_title)
    second = folder_index(second_dir, second_title)
    match = match_classes(first.class_names, second.class_names)
    check_match(
        match,
        (first_title, first.class_names),
        (second_title, second.class_names),
        allow_missing,
    )
    names = list(match.names)
    return MatchedFolders(names, relabel(first, names), relabel(second, names), match)
