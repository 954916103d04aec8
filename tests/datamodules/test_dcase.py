"""Dataset discovery: both published layouts, subsets, extensions, hidden files, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from datamodules.dcase import DatasetLayoutError, discover_dataset


def _write(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        sf.write(folder / name, np.zeros(64, dtype=np.float32), 22050)


def test_camelcase_dev_layout(tmp_path: Path) -> None:
    root = tmp_path / "DCASEFoleySoundSynthesisDevSet"
    for name in CLASS_NAMES:
        _write(root / name, ["b.wav", "a.wav"])
    items = discover_dataset(root)
    assert len(items) == 14
    assert [label for _, label in items] == [i for i in range(7) for _ in range(2)]
    assert items[0] == (root / "DogBark" / "a.wav", 0)
    assert items[-1] == (root / "Sneeze_Cough" / "b.wav", 6)
    assert discover_dataset(tmp_path) == items  # root holding the dev-set folder


def test_zenodo_layout_from_every_level(tmp_path: Path) -> None:
    dataset = tmp_path / "DCASE_2023_Challenge_Task_7_Dataset"
    for name in SNAKE_NAMES:
        _write(dataset / "dev" / name, ["x.wav"])
    _write(dataset / "eval" / "dog_bark", ["e.wav"])
    (dataset / "DevMeta.csv").write_text("a,b\n")
    expected = [(dataset / "dev" / name / "x.wav", i) for i, name in enumerate(SNAKE_NAMES)]
    assert discover_dataset(tmp_path) == expected
    assert discover_dataset(dataset) == expected
    assert discover_dataset(dataset / "dev") == expected


def test_subset_extensions_hidden_and_unknown(tmp_path: Path) -> None:
    _write(tmp_path / "Rain", ["r.WAV", "s.flac", ".hidden.wav", "._r.wav"])
    _write(tmp_path / "gunshot", ["g.ogg"])
    (tmp_path / "Rain" / "notes.txt").write_text("not audio")
    _write(tmp_path / ".foleygan_cache", ["c.wav"])
    _write(tmp_path / "misc", ["m.wav"])
    items = discover_dataset(tmp_path)
    assert items == [
        (tmp_path / "gunshot" / "g.ogg", 2),
        (tmp_path / "Rain" / "r.WAV", 5),
        (tmp_path / "Rain" / "s.flac", 5),
    ]


def test_unknown_layout_lists_found_folders(tmp_path: Path) -> None:
    _write(tmp_path / "dogs", ["a.wav"])
    _write(tmp_path / "cats", ["a.wav"])
    with pytest.raises(DatasetLayoutError, match=r"found folders \['cats', 'dogs'\]") as info:
        discover_dataset(tmp_path)
    message = str(info.value)
    assert "DogBark" in message and "dog_bark" in message
    assert "Point data_root at the folder that holds the class folders" in message
    assert "foleygan download" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_root_and_empty_class_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        discover_dataset(tmp_path / "nowhere")
    (tmp_path / "Footstep").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"class folders \['Footstep'\].*hold no audio"):
        discover_dataset(tmp_path)
