"""Copy-synthesis (`foleygan resynth`): clip choice, layout, checker, fidelity, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.dcase import index_dataset
from datamodules.mel import LogMelSpectrogram
from evaluation.checker import check_submission_folder
from evaluation.resynthesis import choose_clips, resynthesize, resynthesize_clips
from vocoders import load_vocoder

RATE = 22050


def _clip(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    if kind == "tone":
        return (0.5 * np.sin(2 * np.pi * rng.uniform(300, 600) * t)).astype(np.float32)
    return rng.uniform(-0.4, 0.4, len(t)).astype(np.float32)


def _root(root: Path, classes: dict[str, int]) -> Path:
    for c, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            kind = "tone" if c % 2 == 0 else "noise"
            sf.write(root / name / f"{i:02d}.wav", _clip(kind, 10 * c + i), RATE, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def griffin_lim() -> torch.nn.Module:
    return load_vocoder("griffin-lim")


def test_dcase_subset_passes_the_checker(tmp_path: Path, griffin_lim, one_thread) -> None:
    src = _root(tmp_path / "src", {"Rain": 3, "gunshot": 3, "DogBark": 2})
    counts = resynthesize(src, griffin_lim, tmp_path / "out", n_per_class=2, progress=False)
    assert counts == {"DogBark": 2, "GunShot": 2, "Rain": 2}
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["dog_bark", "gunshot", "rain"]
    assert check_submission_folder(out, n_per_class=2, class_names=["dog_bark", "gunshot",
                                                                     "rain"]) == []
    assert sorted(p.name for p in (out / "rain").iterdir()) == ["000.wav", "001.wav"]


def test_rerun_with_fewer_clips_removes_the_surplus(tmp_path: Path, griffin_lim,
                                                    one_thread) -> None:
    src = _root(tmp_path / "src", {"Wind": 3})
    out = tmp_path / "out" / "Wind"
    resynthesize(src, griffin_lim, tmp_path / "out", n_per_class=3, progress=False)
    (out / ".001.wav.k1ll3d.tmp").write_bytes(b"RIFF half")  # a killed run's temporary
    (out / "notes.txt").write_text("not ours")
    with pytest.warns(UserWarning, match="removed 2 clips numbered 001 and up"):
        resynthesize(src, griffin_lim, tmp_path / "out", n_per_class=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["000.wav", "notes.txt"]


def test_own_class_keeps_its_name(tmp_path: Path, griffin_lim, one_thread) -> None:
    src = _root(tmp_path / "src", {"Wind": 2, "DoorKnock": 1})
    with pytest.warns(UserWarning, match="class DoorKnock has 1 clips"):
        counts = resynthesize(src, griffin_lim, tmp_path / "out", n_per_class=2, progress=False)
    assert counts == {"DoorKnock": 1, "Wind": 2}
    assert check_submission_folder(tmp_path / "out", n_per_class=None,
                                   class_names=["DoorKnock", "Wind"]) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["DoorKnock", "Wind"]


def test_clip_choice_is_seeded_per_class(tmp_path: Path) -> None:
    index = index_dataset(_root(tmp_path, {"Wind": 12, "Rain": 5}))
    first = choose_clips(index, n_per_class=4, seed=0)
    assert first == choose_clips(index, n_per_class=4, seed=0)
    assert [len(paths) for paths in first] == [4, 4]
    assert all(len(set(paths)) == 4 for paths in first)  # without replacement
    assert [p.parent.name for p in first[0]] == ["Rain"] * 4  # label 0 in DCASE order
    others = [choose_clips(index, n_per_class=4, seed=s)[1] for s in range(1, 5)]
    assert any(set(other) != set(first[1]) for other in others)
    with pytest.raises(ValueError, match="n_per_class must be >= 1"):
        choose_clips(index, n_per_class=0)


def test_resynthesis_keeps_each_clips_spectrum(tmp_path: Path, griffin_lim, one_thread) -> None:
    src = _root(tmp_path, {"Tone": 1, "Noise": 1})  # sorted: Noise (noise), Tone (tone)
    paths = [src / "Noise" / "00.wav", src / "Tone" / "00.wav"]
    wav = resynthesize_clips(paths, griffin_lim)
    assert wav.shape == (2, 88200) and wav.dtype == torch.float32
    mel = LogMelSpectrogram()
    real = [mel(torch.from_numpy(sf.read(p, dtype="float32")[0])[None])[0, :, :40] for p in paths]
    fake = mel(wav)[:, :, :40]
    dist = torch.tensor([[float((fake[i] - real[j]).abs().mean()) for j in range(2)]
                         for i in range(2)])
    assert dist[0, 0] < dist[0, 1] and dist[1, 1] < dist[1, 0]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture, one_thread) -> None:
    from foleygan_cli.main import main

    src = _root(tmp_path / "src", {"Rain": 2, "Keyboard": 2})
    out = tmp_path / "out"
    assert main(["resynth", str(src), "--out", str(out), "--n-per-class", "1",
                 "--no-progress"]) == 0
    assert "wrote 2 resynthesised clips" in capsys.readouterr().out
    assert check_submission_folder(out, n_per_class=1, class_names=["keyboard", "rain"]) == []
    assert main(["resynth", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["resynth", str(src), "--out", str(out), "--vocoder", "nope"]) == 1
    assert "Unknown vocoder 'nope'" in capsys.readouterr().err
