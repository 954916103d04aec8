"""Dataset discovery: both published layouts, subsets, own classes, class lists, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES, resolve_class_names
from datamodules.dcase import (
    ClassListError,
    DatasetLayoutError,
    discover_dataset,
    find_classes,
    index_dataset,
)


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


# --- index_dataset / find_classes: the class set comes from the data ---------------------------


def test_own_classes_are_sorted_folder_names(tmp_path: Path) -> None:
    for name in ["Wind", "DoorKnock", "GlassBreak"]:
        _write(tmp_path / name, ["b.wav", "a.flac"])
    index = index_dataset(tmp_path)
    assert index.class_names == ["DoorKnock", "GlassBreak", "Wind"]
    assert index.classes_dir == tmp_path
    assert [label for _, label in index.items] == [0, 0, 1, 1, 2, 2]
    assert index.items[0] == (tmp_path / "DoorKnock" / "a.flac", 0)
    assert all(path.parent.name == index.class_names[label] for path, label in index.items)


def test_dcase_subset_in_dcase_order_with_labels_from_zero(tmp_path: Path) -> None:
    _write(tmp_path / "Rain", ["r.wav"])
    _write(tmp_path / "gunshot", ["g.wav", "h.wav"])  # snake_case and CamelCase may mix
    _write(tmp_path / "DogBark", ["d.wav"])
    index = index_dataset(tmp_path)
    assert index.class_names == ["DogBark", "GunShot", "Rain"]
    assert index.items == (
        (tmp_path / "DogBark" / "d.wav", 0),
        (tmp_path / "gunshot" / "g.wav", 1),
        (tmp_path / "gunshot" / "h.wav", 1),
        (tmp_path / "Rain" / "r.wav", 2),
    )


@pytest.mark.parametrize("names", [CLASS_NAMES, SNAKE_NAMES])
def test_all_seven_classes_as_before(tmp_path: Path, names: tuple[str, ...]) -> None:
    dataset = tmp_path / "DCASE_2023_Challenge_Task_7_Dataset"
    for name in reversed(names):
        _write(dataset / "dev" / name, ["x.wav", "y.wav"])
    _write(dataset / "eval" / "dog_bark", ["e.wav"])
    for root in (tmp_path, dataset, dataset / "dev"):
        index = index_dataset(root)
        assert index.class_names == list(CLASS_NAMES)
        assert list(index.items) == discover_dataset(root)  # the DCASE labels, unchanged
        assert index.classes_dir == dataset / "dev"


def test_mixed_dcase_and_own_names_keep_their_names(tmp_path: Path) -> None:
    _write(tmp_path / "rain", ["r.wav"])
    _write(tmp_path / "Wind", ["w.wav"])
    _write(tmp_path / "DogBark", ["d.wav"])
    assert index_dataset(tmp_path).class_names == ["DogBark", "Wind", "rain"]  # str order


def test_explicit_class_list_picks_orders_and_reports(tmp_path: Path) -> None:
    for name in ["DogBark", "rain", "Keyboard"]:
        _write(tmp_path / name, ["a.wav"])
    (tmp_path / "notes").mkdir()
    with pytest.warns(UserWarning, match=r"ignored folders under .*Keyboard \(not in class_n"):
        index = index_dataset(tmp_path, ["Rain", "dog_bark"])
    assert index.class_names == ["Rain", "DogBark"]  # the list's order, CamelCase
    assert list(index.items) == [(tmp_path / "rain" / "a.wav", 0),
                                 (tmp_path / "DogBark" / "a.wav", 1)]
    assert set(index.classes.ignored) == {"Keyboard (not in class_names)", "notes (no audio files)"}
    with pytest.raises(ClassListError, match=r"class 'Footstep' .* no clip") as info:
        find_classes(tmp_path, ["DogBark", "Footstep"])
    assert "['DogBark', 'Keyboard', 'rain']" in str(info.value)
    with pytest.raises(ClassListError, match="twice"):
        find_classes(tmp_path, ["DogBark", "dog_bark"])


def test_own_class_list_keeps_its_names(tmp_path: Path) -> None:
    for name in ["Wind", "DoorKnock", "rain"]:
        _write(tmp_path / name, ["a.wav"])
    with pytest.warns(UserWarning, match="DoorKnock"):
        assert find_classes(tmp_path, ["Wind", "rain"]).class_names == ("Wind", "rain")


def test_no_class_folder_lists_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "nested" / "Rain").mkdir(parents=True)
    _write(tmp_path / "nested" / "Rain", ["deep.wav"])  # two levels down: not a class folder
    with pytest.raises(DatasetLayoutError, match=r"found folders \['empty', 'nested'\]") as info:
        index_dataset(tmp_path)
    assert "none with audio files" in str(info.value) and "foleygan download" in str(info.value)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        find_classes(tmp_path / "nowhere")
    assert index_dataset(tmp_path / "nested").class_names == ["Rain"]


def test_two_spellings_of_one_class_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "Rain", ["a.wav"])
    _write(tmp_path / "rain", ["b.wav"])
    with pytest.raises(DatasetLayoutError, match="two folders for the DCASE class Rain"):
        index_dataset(tmp_path)


def test_resolve_class_names_rule() -> None:
    assert resolve_class_names(["sneeze_cough", "Footstep"]) == ["Footstep", "Sneeze_Cough"]
    assert resolve_class_names(["b", "a", "C"]) == ["C", "a", "b"]
    assert resolve_class_names(["Rain", "Wind"]) == ["Rain", "Wind"]
