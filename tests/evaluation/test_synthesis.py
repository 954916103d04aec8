"""Synthesis in the DCASE layout and the official checker's rules."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from evaluation.checker import SubmissionFolderError, check_submission_folder
from evaluation.synthesis import fit_length, generate_wav, synthesize

FRAMES = 344


class LabelGenerator(nn.Module):
    """log-mel whose level encodes the label, plus noise from the global RNG."""

    class_names = list(CLASS_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # labels [B] -> mel [B, 80, FRAMES]
        z = torch.randn(labels.shape[0], 1, 1) if z is None else z
        level = 0.1 * (labels.float() + 1.0)[:, None, None] + 0.01 * torch.tanh(z)
        return level.expand(-1, 80, FRAMES) + self.bias


class HoldVocoder(nn.Module):
    """mel [B, 80, T] -> wav [B, 256 T]: each frame's mean held for 256 samples."""

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> wav [B, 256 T]
        return mel.mean(dim=1).repeat_interleave(256, dim=1)


def _read(path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32")
    assert rate == 22050
    return data


def test_output_passes_checker_and_labels_map_to_folders(tmp_path) -> None:
    out = synthesize(
        LabelGenerator(),
        HoldVocoder(),
        tmp_path / "gen",
        n_per_class=3,
        batch_size=4,
        progress=False,
    )
    assert check_submission_folder(out, n_per_class=3) == []
    for label, name in enumerate(SNAKE_NAMES):
        files = sorted((out / name).glob("*.wav"))
        assert [f.name for f in files] == ["000.wav", "001.wav", "002.wav"]
        for f in files:
            wav = _read(f)
            assert wav.shape == (88200,)
            assert abs(float(wav[:1000].mean()) - 0.1 * (label + 1)) < 0.011


def test_padding_is_zeros_at_the_end(tmp_path) -> None:
    out = synthesize(LabelGenerator(), HoldVocoder(), tmp_path, n_per_class=1, progress=False)
    wav = _read(out / "rain" / "000.wav")
    assert 256 * FRAMES == 88064
    assert np.all(wav[88064:] == 0.0)
    assert np.all(wav[:88064] != 0.0)


def test_same_seed_same_files_other_seed_differs(tmp_path) -> None:
    def run(name: str, seed: int) -> list[bytes]:
        out = synthesize(
            LabelGenerator(),
            HoldVocoder(),
            tmp_path / name,
            n_per_class=2,
            seed=seed,
            batch_size=3,
            progress=False,
        )
        return [p.read_bytes() for p in sorted(out.rglob("*.wav"))]

    first, again, other = run("a", 7), run("b", 7), run("c", 8)
    assert first == again
    assert first != other


def test_generate_wav_passes_seed_when_supported_and_crops() -> None:
    seen = {}

    class Seeded(LabelGenerator):
        def generate(self, labels, z=None, seed=None):
            seen["seed"] = seed
            return super().generate(labels, z=torch.zeros(labels.shape[0], 1, 1))

    wav = generate_wav(Seeded(), HoldVocoder(), torch.tensor([0, 1]), seed=42)
    assert seen["seed"] == 42 and wav.shape == (2, 88200)
    long = fit_length(torch.ones(1, 90000))
    assert long.shape == (1, 88200)


def test_bad_arguments_are_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="n_per_class .* must be >= 1"):
        synthesize(LabelGenerator(), HoldVocoder(), tmp_path, n_per_class=0, progress=False)
    with pytest.raises(ValueError, match="no class names"):
        synthesize(LabelGenerator(), HoldVocoder(), tmp_path, class_names=[], progress=False)


def _write(path, wav, rate=22050, subtype="PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, rate, subtype=subtype)


def test_checker_lists_every_problem(tmp_path) -> None:
    root = tmp_path / "sub"
    good = np.zeros(88200, dtype=np.float32)
    for name in SNAKE_NAMES[1:]:
        _write(root / name / "000.wav", good)
    _write(root / "footstep" / "001.wav", good, rate=16000)
    _write(root / "gunshot" / "001.wav", np.zeros((88200, 2), dtype=np.float32))
    _write(root / "keyboard" / "001.wav", good[:88064])
    _write(root / "rain" / "001.wav", good, subtype="FLOAT")
    (root / "sneeze_cough" / "notes.txt").write_text("x")
    problems = check_submission_folder(root, n_per_class=1)
    text = "\n".join(problems)
    assert "dog_bark: class folder missing" in text
    assert "footstep: 2 wav files, expected exactly 1" in text
    assert "001.wav: sample rate 16000 Hz, expected 22050" in text
    assert "001.wav: 2 channels, expected 1" in text
    assert "001.wav: 88064 samples, expected exactly 88200" in text
    assert "WAV/FLOAT, expected WAV 16-bit PCM" in text
    assert "notes.txt: not a .wav file" in text
    assert len(problems) == 10  # 1 missing + 4 counts + 4 format + 1 stray file
    assert check_submission_folder(tmp_path / "nope")[0].endswith("first")


def test_checker_camel_folders_only_when_allowed(tmp_path) -> None:
    for name in CLASS_NAMES:
        _write(tmp_path / name / "000.wav", np.zeros(88200, dtype=np.float32))
    assert len(check_submission_folder(tmp_path, n_per_class=1)) == 7
    assert check_submission_folder(tmp_path, n_per_class=None, allow_camel=True) == []
    err = SubmissionFolderError(tmp_path, ["a", "b"])
    assert "2 problem(s)" in str(err) and err.problems == ["a", "b"]


class MeanStd(nn.Module):
    """Fake FAD backbone: 4 windows per clip -> [mean, std, max]."""

    num_features = 3

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * 4, 3]
        w = wav.reshape(wav.shape[0] * 4, -1)
        return torch.stack([w.mean(1), w.std(1), w.amax(1)], dim=1)


def _noise_set(root, per_class: int = 3) -> None:
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASS_NAMES):
        for i in range(per_class):
            wav = rng.normal(scale=0.05 * (label + 1), size=88200).astype(np.float32)
            _write(root / name / f"{i}.wav", wav)


def test_fad_of_folders_matches_direct_computation(tmp_path) -> None:
    from evaluation.fad import frechet_distance, gaussian_stats
    from evaluation.fad_folders import fad_of_folders

    gen = synthesize(
        LabelGenerator(), HoldVocoder(), tmp_path / "gen", n_per_class=2, progress=False
    )
    _noise_set(tmp_path / "ref")
    out = fad_of_folders(
        gen, tmp_path / "ref", backbone=MeanStd(), n_per_class=2, cache_dir=tmp_path / "cache"
    )
    assert list(out) == [*CLASS_NAMES, "mean"]
    g = torch.stack([torch.from_numpy(_read(p)) for p in sorted((gen / "keyboard").glob("*"))])
    r = torch.stack(
        [torch.from_numpy(_read(p)) for p in sorted((tmp_path / "ref/Keyboard").glob("*"))]
    )
    ref = frechet_distance(*gaussian_stats(MeanStd().embed(r)), *gaussian_stats(MeanStd().embed(g)))
    assert out["Keyboard"] == pytest.approx(ref, rel=1e-6)
    assert out["mean"] == pytest.approx(np.mean([out[n] for n in CLASS_NAMES]))
    same = fad_of_folders(
        tmp_path / "ref",
        tmp_path / "ref",
        backbone=MeanStd(),
        n_per_class=3,
        cache_dir=tmp_path / "cache",
    )
    assert abs(same["mean"]) < 1e-6
    with pytest.raises(SubmissionFolderError, match="7 problem"):
        fad_of_folders(
            gen, tmp_path / "ref", backbone=MeanStd(), n_per_class=3, cache_dir=tmp_path / "cache"
        )


def test_fad_cli_writes_official_csv_and_refuses_bad_folders(tmp_path, monkeypatch, capsys) -> None:
    import evaluation.backbones
    from foleygan_cli.fad import main

    monkeypatch.setattr(evaluation.backbones, "load_backbone", lambda name, device: MeanStd())
    gen = synthesize(
        LabelGenerator(), HoldVocoder(), tmp_path / "gen", n_per_class=2, progress=False
    )
    _noise_set(tmp_path / "ref")
    args = [str(gen), "--ref", str(tmp_path / "ref"), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "--out", str(tmp_path / "fad.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("2 wav files, expected exactly 100") == 7 and "--no-strict-count" in err
    assert main([*args, "--out", str(tmp_path / "fad.csv"), "--no-strict-count"]) == 0
    lines = (tmp_path / "fad.csv").read_text().splitlines()
    assert lines[0] == "Category,FAD" and len(lines) == 8
    assert [line.split(",")[0] for line in lines[1:]] == list(SNAKE_NAMES)
    printed = capsys.readouterr().out
    assert "mean" in printed and "Sneeze_Cough" in printed
