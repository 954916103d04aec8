"""The mel cache: contents, staleness, bad files, resampling notice, pickling."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.audio import BadAudioFilesError
from datamodules.cache import CACHE_FORMAT_VERSION, MelCache
from datamodules.mel import LogMelSpectrogram, MelParams

N = 8000  # short clips keep the tests fast


def _tree(root: Path, classes=("DogBark", "Rain"), per_class: int = 3, rate: int = 22050) -> None:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            wav = rng.uniform(-0.5, 0.5, rng.integers(N // 2, N * 2)).astype(np.float32)
            sf.write(root / name / f"{i}.wav", wav, rate, subtype="PCM_16")


def _build(root: Path, **kwargs) -> MelCache:
    kwargs.setdefault("num_samples", N)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("num_workers", 0)
    return MelCache.build_or_load(root, **kwargs)


def test_contents_match_direct_computation(tmp_path: Path) -> None:
    _tree(tmp_path)
    cache = _build(tmp_path, batch_size=4, num_workers=2)
    assert cache.built and cache.mels.shape == (6, 80, MelParams().num_frames(N))
    assert cache.mels.dtype == np.float32 and not cache.mels.flags.writeable
    assert cache.labels.dtype == np.int64 and cache.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert cache.class_names == ["DogBark", "Rain"]  # the classes present, DCASE order
    assert cache.paths[3] == tmp_path / "Rain" / "0.wav"
    assert cache.class_counts()["Rain"] == 3 and cache.class_names[0] == "DogBark"
    mel = LogMelSpectrogram()
    for i, path in enumerate(cache.paths):
        data, _ = sf.read(path, dtype="float32")
        wav = np.pad(data, (0, max(0, N - len(data))))[:N]
        expected = mel(torch.from_numpy(wav)[None])[0].numpy()
        np.testing.assert_allclose(cache.mels[i], expected, atol=1e-5)
    index = json.loads(cache.index_path.read_text())
    assert index["format_version"] == CACHE_FORMAT_VERSION
    assert index["mel_params"] == MelParams().as_dict()
    assert [f["path"] for f in index["files"]][:2] == ["DogBark/0.wav", "DogBark/1.wav"]
    first = sf.info(tmp_path / "DogBark" / "0.wav").frames
    assert index["files"][0]["length"] == first and index["files"][0]["source_rate"] == 22050
    assert cache.index_path.parent == tmp_path / ".foleygan_cache"


def test_unchanged_reuses_changed_rebuilds(tmp_path: Path) -> None:
    _tree(tmp_path)
    first = _build(tmp_path)
    mtime = first.mels_path.stat().st_mtime_ns
    again = _build(tmp_path)
    assert not again.built and again.mels_path == first.mels_path
    assert again.mels_path.stat().st_mtime_ns == mtime
    # a touched file rebuilds, and the older cache of the same parameters is removed
    path = tmp_path / "Rain" / "1.wav"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    touched = _build(tmp_path)
    assert touched.built and touched.mels_path != first.mels_path
    assert not first.mels_path.exists() and not first.index_path.exists()
    # an added file rebuilds
    sf.write(tmp_path / "Rain" / "new.wav", np.zeros(N, dtype=np.float32), 22050)
    added = _build(tmp_path)
    assert added.built and len(added) == 7
    # other mel parameters rebuild beside the existing cache
    other = _build(tmp_path, mel_params=MelParams(n_mels=40))
    assert other.built and other.mels.shape[1] == 40 and added.mels_path.exists()
    assert not _build(tmp_path).built
    assert not _build(tmp_path, mel_params=MelParams(n_mels=40)).built


def test_cache_dir_and_force(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    cache = _build(tmp_path / "data", cache_dir=tmp_path / "c")
    assert cache.mels_path.parent == tmp_path / "c"
    assert not (tmp_path / "data/.foleygan_cache").exists()
    assert _build(tmp_path / "data", cache_dir=tmp_path / "c", force=True).built


def test_bad_file_raises_naming_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "Rain" / "broken.wav").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(BadAudioFilesError, match=r"(?s)Rain/broken\.wav: cannot be.*--skip-bad"):
        _build(tmp_path)
    assert not (tmp_path / ".foleygan_cache").exists()  # nothing half-written, no folder


def test_skip_bad_skips_and_reports_together(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "DogBark" / "broken.wav").write_bytes(b"\x00garbage" * 50)
    (tmp_path / "Rain" / "empty.wav").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = _build(tmp_path, skip_bad=True, batch_size=2)
    skipped = [w for w in caught if "skipped 2 unreadable" in str(w.message)]
    assert len(skipped) == 1
    assert "DogBark/broken.wav" in str(skipped[0].message)
    assert "Rain/empty.wav" in str(skipped[0].message)
    assert len(cache) == 6 and cache.mels.shape[0] == 6
    assert {s["path"] for s in cache.skipped} == {"DogBark/broken.wav", "Rain/empty.wav"}
    assert all(p.name != "broken.wav" for p in cache.paths)
    np.testing.assert_array_equal(cache.labels, [0, 0, 0, 1, 1, 1])


def test_resampling_warns_once_per_build(tmp_path: Path) -> None:
    _tree(tmp_path, rate=44100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = _build(tmp_path, batch_size=2, num_workers=2)
    resampled = [w for w in caught if "resampled" in str(w.message)]
    assert len(resampled) == 1 and "6 file(s)" in str(resampled[0].message)
    assert "44100 Hz: 6" in str(resampled[0].message)
    assert json.loads(cache.index_path.read_text())["resampled"] == {"44100": 6}


def test_pickles_without_the_memmap(tmp_path: Path) -> None:
    _tree(tmp_path)
    cache = _build(tmp_path)
    first = np.array(cache.mels[0])
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._mels is None
    np.testing.assert_array_equal(clone.mels[0], first)


def test_prepare_cli_builds_then_reuses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from foleygan_cli.prepare import main

    _tree(tmp_path, per_class=2)
    args = [str(tmp_path), "--num-samples", str(N), "--num-workers", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:5]}
    assert rows == {"DogBark": "2", "Rain": "2", "total": "4"}  # the classes of the root
    assert "(built)" in out and ".foleygan_cache" in out
    assert main(args) == 0 and "reused" in capsys.readouterr().out
    (tmp_path / "Rain" / "bad.wav").write_bytes(b"xx")
    assert main(args) == 2
    assert "--skip-bad" in capsys.readouterr().err
    assert main([*args, "--skip-bad"]) == 0
    assert main([str(tmp_path / "nothing")]) == 1
    assert "foleygan download" in capsys.readouterr().err
