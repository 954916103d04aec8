"""Recording ids: from a metadata CSV, from file names, else one per clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamodules.recordings import (
    RecordingMetadataError,
    compile_pattern,
    id_from_name,
    recording_ids,
)


def _touch(root: Path, relative: list[str]) -> list[Path]:
    paths = []
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # ids never read the audio
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("100032-3-0-0", "100032"),  # UrbanSound8K: <fsID>-<classID>-<occurrence>-<slice>
        ("9900000-3-0-12", "9900000"),
        ("1-100032-A-0", "100032"),  # ESC-50: <fold>-<clipID>-<take>-<target>: not the fold
        ("2-114280-A", "114280"),  # ESC-10: <fold>-<clipID>-<take>
        ("5-9032-B-44", "9032"),
        ("dog_bark_0001", None),
        ("123-foo", None),
        ("2023-05-01", None),
        ("100032-3-0", None),
    ],
)
def test_default_pattern(stem: str, expected: str | None) -> None:
    assert id_from_name(stem, compile_pattern(None)) == expected


def test_custom_pattern_and_bad_patterns() -> None:
    pattern = compile_pattern(r"^take(\d+)_")
    assert id_from_name("take17_mic2", pattern) == "17"
    assert id_from_name("mic2_take17", pattern) is None
    with pytest.raises(RecordingMetadataError, match="no capture group"):
        compile_pattern(r"^\d+-")
    with pytest.raises(RecordingMetadataError, match="not a regular expression"):
        compile_pattern(r"^(\d+")


def test_ids_from_our_meta_csv(tmp_path: Path) -> None:
    paths = _touch(tmp_path, ["DogBark/a.wav", "DogBark/b.wav", "Rain/a.wav", "Rain/c.wav"])
    (tmp_path / "meta.csv").write_text(
        "filename,class,recording_id,source,license\n"
        "DogBark/a.wav,DogBark,77,x,CC0\n"
        "DogBark/b.wav,DogBark,77,x,CC0\n"
        "Rain/a.wav,Rain,78,y,CC0\n"
    )
    rec = recording_ids(paths)
    assert rec.ids == ["77", "77", "78", "clip:Rain/c.wav"]
    assert rec.origin == ["csv", "csv", "csv", "clip"] and rec.found
    assert rec.csv_files == [tmp_path / "meta.csv"]
    assert rec.describe().startswith("3 recordings; ids of 3 clips from")


def test_csv_beats_file_names_which_beat_clips(tmp_path: Path) -> None:
    paths = _touch(tmp_path, ["Wind/10-1-0-0.wav", "Wind/10-1-0-1.wav", "Wind/11-1-0-0.wav",
                              "Wind/gust.wav"])
    assert recording_ids(paths).ids == ["10", "10", "11", "clip:Wind/gust.wav"]
    (tmp_path / "ids.csv").write_text("FileName,Source_ID\n10-1-0-1.wav,99\n")  # any case
    rec = recording_ids(paths)
    assert rec.ids == ["10", "99", "11", "clip:Wind/gust.wav"]
    assert rec.origin == ["pattern", "csv", "pattern", "clip"]


def test_devmeta_style_csv_in_the_parent_folder(tmp_path: Path) -> None:
    dataset = tmp_path / "DCASE_2023_Challenge_Task_7_Dataset"
    paths = _touch(dataset, ["dev/dog_bark/000.wav", "dev/dog_bark/001.wav", "dev/rain/000.wav"])
    (dataset / "DevMeta.csv").write_text(
        "category,current_file_path,original_dataset,original_file_name\n"
        "DogBark,000.wav,UrbanSound8k,100032-3-0-0.wav\n"  # a bare name: the class settles it
        "Rain,000.wav,freesound,5555\n"
        "DogBark,./dev/dog_bark/001.wav,UrbanSound8k,100032-3-0-7.wav\n"
    )
    rec = recording_ids(paths)
    assert rec.ids == ["100032", "100032", "5555"]  # a slice name gives its source id
    assert rec.csv_files == [dataset / "DevMeta.csv"]


def test_ambiguous_rows_and_unrelated_csvs_are_skipped(tmp_path: Path) -> None:
    paths = _touch(tmp_path, ["A/x.wav", "B/x.wav"])
    (tmp_path / "results.csv").write_text("Category,FAD\nA,1.0\n")  # not a metadata file
    (tmp_path / "meta.csv").write_text("filename,recording_id\nx.wav,5\nB/x.wav,6\n")
    rec = recording_ids(paths)
    assert rec.ids == ["clip:A/x.wav", "6"]  # bare x.wav fits two clips and has no class column
    assert rec.csv_files == [tmp_path / "meta.csv"]


def test_no_ids_found(tmp_path: Path) -> None:
    paths = _touch(tmp_path, ["A/one.wav", "B/two.wav"])
    rec = recording_ids(paths)
    assert not rec.found and rec.ids == ["clip:A/one.wav", "clip:B/two.wav"]
    assert "2 recordings; ids of 0 clips" in rec.describe()
