"""The synthetic Foley set: layout, format, determinism, variation and class separability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.classes import CLASS_NAMES
from datamodules.mel import LogMelSpectrogram
from datamodules.synthetic import make_synthetic_dataset

CLIPS = 6


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), clips_per_class=CLIPS)


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.wav"))


def test_layout_and_format(synthetic_root: Path) -> None:
    folders = sorted(p.name for p in synthetic_root.iterdir() if p.is_dir())
    assert folders == sorted(CLASS_NAMES)
    assert (synthetic_root / "README.txt").read_text().startswith("foleygan synthetic")
    for name in CLASS_NAMES:
        names = sorted(p.name for p in (synthetic_root / name).glob("*.wav"))
        assert names == [f"{name.lower()}_{i:04d}.wav" for i in range(CLIPS)]
    for path in _files(synthetic_root):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 88200)
        assert (info.format, info.subtype) == ("WAV", "PCM_16")


def test_levels_no_clipping(synthetic_root: Path) -> None:
    peaks = []
    for path in _files(synthetic_root):
        pcm, _ = sf.read(str(path), dtype="int16")
        peak = np.abs(pcm.astype(np.int32)).max() / 32767.0
        assert peak <= 1.0
        peaks.append(peak)
    assert 0.29 <= min(peaks) and max(peaks) <= 0.91
    assert np.std(peaks) > 0.05  # levels are drawn per clip, not fixed


def test_same_seed_is_byte_identical_and_prefix_stable(tmp_path: Path) -> None:
    a = make_synthetic_dataset(tmp_path / "a", clips_per_class=2, seed=3)
    b = make_synthetic_dataset(tmp_path / "b", clips_per_class=1, seed=3)
    c = make_synthetic_dataset(tmp_path / "c", clips_per_class=1, seed=4)
    for path in _files(b):
        rel = path.relative_to(b)
        assert path.read_bytes() == (a / rel).read_bytes()
        assert path.read_bytes() != (c / rel).read_bytes()


def test_idempotent_and_overwrite(tmp_path: Path) -> None:
    root = make_synthetic_dataset(tmp_path, clips_per_class=1)
    path = root / "Rain" / "rain_0000.wav"
    original = path.read_bytes()
    sf.write(str(path), np.zeros(100, dtype=np.int16), 22050, subtype="PCM_16")  # truncated
    untouched = root / "GunShot" / "gunshot_0000.wav"
    marker = untouched.stat().st_ino  # an atomic rewrite gives a new inode
    make_synthetic_dataset(tmp_path, clips_per_class=1)
    assert path.read_bytes() == original  # wrong length: regenerated
    assert untouched.stat().st_ino == marker  # right length: skipped
    make_synthetic_dataset(tmp_path, clips_per_class=1, overwrite=True)
    assert untouched.stat().st_ino != marker


def test_clips_within_a_class_differ(synthetic_root: Path) -> None:
    for name in CLASS_NAMES:
        wavs = [sf.read(str(p))[0] for p in sorted((synthetic_root / name).glob("*.wav"))]
        for i in range(len(wavs) - 1):
            assert not np.allclose(wavs[i], wavs[i + 1], atol=1e-3), name


def _spectral_shape(mel: torch.Tensor) -> torch.Tensor:
    """log of the time-averaged mel energy, minus its mean over bands (level removed)."""
    shape = mel.exp().mean(dim=-1).log()
    return shape - shape.mean(dim=-1, keepdim=True)


def test_classes_are_separable_by_nearest_centroid(synthetic_root: Path) -> None:
    to_mel = LogMelSpectrogram()
    train, test = [], []
    for name in CLASS_NAMES:
        files = sorted((synthetic_root / name).glob("*.wav"))
        wav = torch.stack([torch.from_numpy(sf.read(str(p), dtype="float32")[0]) for p in files])
        feats = _spectral_shape(to_mel(wav))
        train.append(feats[: CLIPS // 2])
        test.append(feats[CLIPS // 2 :])
    centroids = torch.stack([t.mean(dim=0) for t in train])
    queries = torch.cat(test)
    labels = torch.arange(len(CLASS_NAMES)).repeat_interleave(CLIPS - CLIPS // 2)
    predicted = torch.cdist(queries, centroids).argmin(dim=1)
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy >= 0.9, f"nearest-centroid accuracy {accuracy:.2f}"


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clips_per_class must be >= 1"):
        make_synthetic_dataset(tmp_path, clips_per_class=0)
    with pytest.raises(ValueError, match="duration_s must be >= 1.0"):
        make_synthetic_dataset(tmp_path, clips_per_class=1, duration_s=0.5)


def test_cli_writes_the_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from foleygan_cli.synthetic import main

    assert main([str(tmp_path / "syn"), "--clips-per-class", "1", "--seed", "2"]) == 0
    assert len(_files(tmp_path / "syn")) == len(CLASS_NAMES)
    assert "foleygan prepare" in capsys.readouterr().out
    assert main([str(tmp_path / "bad"), "--clips-per-class", "0"]) == 2
