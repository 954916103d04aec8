"""fit -> synth -> fad end to end for roots of other class sets, through the real CLI.

The fit runs `foleygan_cli.lightning.run_lightning_cli` with the shipped config files (trainer/cpu,
logger/csv, data/synthetic, callbacks/gan_cpu with its FAD callback, gan/base + gan/csupcon +
gan/cpu) and overrides for a tiny size (widths 4, 4,096-sample crops: 80 x 17 mels, one batch),
so the data -> model class link, the encoder's class check, the FAD / diversity / probe
callbacks, the checkpoint, `foleygan synth` and `foleygan fad` all see the root's classes. The
FAD embedding is a tiny encoder export (ResNet18 of width 4) at the path gan_cpu.yaml names
(`runs/encoder/encoder.pt`, relative to the test's working folder).
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from datamodules.mel import MelParams

REPO = Path(__file__).resolve().parents[1]
RATE = 22050
STACK = ("trainer/cpu", "logger/csv", "data/synthetic", "callbacks/gan_cpu", "gan/base",
         "gan/csupcon", "gan/cpu")


def _write_root(root: Path, names: list[str], per_class: int = 5) -> Path:
    """Class folders of 0.25 s clips: class c a tone of 300 (c + 1) Hz plus noise."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE // 4) / RATE
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            wav = 0.4 * np.sin(2 * np.pi * 300 * (c + 1) * t) + 0.05 * rng.normal(size=t.size)
            sf.write(root / name / f"{i:02d}.wav", wav.astype(np.float32), RATE, subtype="PCM_16")
    return root


def _export_encoder(path: Path, class_names: list[str]) -> Path:
    """A tiny frozen-encoder export (random weights) for these classes."""
    from encoders.export import export_from_module
    from encoders.resnet import ResNet18Encoder

    torch.manual_seed(0)
    encoder = ResNet18Encoder(base_width=4, proj_hidden=16, proj_dim=16)
    centroids = torch.nn.functional.normalize(torch.randn(len(class_names), 16), dim=1)
    module = SimpleNamespace(encoder=encoder, centroids=centroids, class_names=class_names,
                             mel_params=MelParams())
    return export_from_module(module, path)


def _fit(root: Path, runs: Path) -> None:
    from foleygan_cli.lightning import run_lightning_cli

    configs = [arg for name in STACK for arg in ("--config", str(REPO / f"configs/{name}.yaml"))]
    run_lightning_cli([
        "fit", *configs,
        f"--data.data_root={root}",
        "--data.num_samples=4096",
        "--data.cache_workers=0",
        "--model.init_args.g_width=4",
        "--model.init_args.d_width=4",
        "--model.init_args.z_dim=8",
        "--model.init_args.embed_dim=16",
        "--model.init_args.encoder_path=runs/encoder/encoder.pt",
        "--trainer.max_steps=2",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={runs}",
        "--trainer.logger.init_args.name=gan",
    ])


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize(
    ("folders", "classes", "submission"),
    [
        (["Wind", "DoorKnock", "GlassBreak"], ["DoorKnock", "GlassBreak", "Wind"],
         ["DoorKnock", "GlassBreak", "Wind"]),
        (["rain", "DogBark", "keyboard"], ["DogBark", "Keyboard", "Rain"],
         ["dog_bark", "keyboard", "rain"]),
    ],
    ids=["own-classes", "dcase-subset"],
)
def test_fit_synth_fad_with_exactly_the_roots_classes(
    folders, classes, submission, tmp_path, monkeypatch, capsys, one_thread
) -> None:
    from foleygan_cli.main import main
    from lightning_modules.generator_loading import load_generator

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the FAD callback's cache
    root = _write_root(tmp_path / "data", folders)
    encoder = _export_encoder(tmp_path / "runs" / "encoder" / "encoder.pt", classes)
    _fit(root, tmp_path / "runs")
    metrics = _rows(next((tmp_path / "runs" / "gan").rglob("metrics.csv")))[0]
    fad_keys = sorted(k for k in metrics if k.startswith("val/fad/"))
    assert fad_keys == sorted([f"val/fad/{c}" for c in classes] + ["val/fad/mean"])
    assert {f"val/probe/acc/{c}" for c in classes} <= set(metrics)

    generator = load_generator(tmp_path / "runs" / "gan")
    assert generator.class_names == classes
    gen = tmp_path / "synth"
    assert main(["synth", str(tmp_path / "runs" / "gan"), "--out", str(gen), "--n-per-class",
                 "2", "--no-progress"]) == 0
    assert sorted(p.name for p in gen.iterdir()) == sorted(submission)

    resynth = tmp_path / "resynth"
    assert main(["resynth", str(root), "--out", str(resynth), "--n-per-class", "2",
                 "--no-progress"]) == 0
    fad_args = ["--ref", str(root), "--backbone", f"encoder:{encoder}", "--no-strict-count",
                "--cache-dir", str(tmp_path / "cache")]
    assert main(["fad", str(gen), *fad_args, "--out", "fad.csv"]) == 0
    rows = _rows(tmp_path / "fad.csv")
    assert rows[0] == ["Category", "FAD"] and [r[0] for r in rows[1:]] == submission
    assert all(np.isfinite(float(r[1])) for r in rows[1:])
    assert main(["fad", str(gen), *fad_args, "--ceiling", str(resynth), "--out", "both.csv"]) == 0
    both = _rows(tmp_path / "both.csv")
    assert [r[:2] for r in both[1:]] == [[s, c] for s in ("generator", "real -> mel -> vocoder")
                                         for c in submission]
    assert both[1:4] == [["generator", *r] for r in rows[1:]]  # the generator's FAD unchanged

    # a reference folder of other classes: refused, naming the checkpoint's and the folder's
    other = _write_root(tmp_path / "other", [*folders[:2], "Thunder"], per_class=2)
    capsys.readouterr()
    assert main(["fad", str(gen), *fad_args[2:], "--ref", str(other), "--out", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert f"has classes {classes}" in err and "Thunder" in err and "--allow-missing" in err


def test_the_demos_seven_classes_are_unchanged(tmp_path) -> None:
    """The synthetic set's 7 DCASE classes: the class list, the submission folders and the
    official CSV rows are DCASE's, in DCASE order."""
    from datamodules.datamodule import FoleyDataModule
    from datamodules.synthetic import make_synthetic_dataset
    from evaluation.fad_folders import write_fad_csv
    from evaluation.synthesis import folder_name

    root = make_synthetic_dataset(tmp_path / "syn", clips_per_class=1, seed=0, duration_s=1.0)
    data = FoleyDataModule(str(root))
    assert data.class_names == list(CLASS_NAMES) and data.num_classes == 7
    assert [folder_name(n) for n in data.class_names] == list(SNAKE_NAMES)
    fad = {name: float(i) for i, name in enumerate(CLASS_NAMES)} | {"mean": 3.0}
    lines = write_fad_csv(fad, tmp_path / "fad.csv").read_text().splitlines()
    assert lines == ["Category,FAD", *(f"{s},{float(i)!r}" for i, s in enumerate(SNAKE_NAMES))]


def test_the_demos_ceiling_and_floor_rows(tmp_path, monkeypatch, capsys, one_thread) -> None:
    """`foleygan demo` step 5 on a tiny synthetic set: resynth of the training clips into
    runs/demo/resynth (the official 7-folder layout), the ceiling and floor FAD CSVs, the table
    with one row per system, and the report's ceiling row."""
    import foleygan_cli.demo as demo
    from datamodules.synthetic import make_synthetic_dataset
    from evaluation.checker import check_submission_folder
    from evaluation.report import write_report

    run, data, held_out = tmp_path / "runs" / "demo", tmp_path / "train", tmp_path / "eval"
    for name, value in (("RUN", run), ("DATA", data), ("HELD_OUT", held_out),
                        ("ENCODER", run / "encoder.pt")):
        monkeypatch.setattr(demo, name, value)
    make_synthetic_dataset(data, clips_per_class=2, seed=0)
    make_synthetic_dataset(held_out, clips_per_class=2, seed=1)
    _export_encoder(run / "encoder.pt", list(CLASS_NAMES))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rows = demo.ceiling_and_floor(2)
    assert list(rows) == ["real -> mel -> vocoder", "real clips"]
    assert check_submission_folder(run / "resynth", n_per_class=2) == []  # the official rule
    for stem in ("ceiling", "real"):
        lines = (run / f"fad_{stem}.csv").read_text().splitlines()
        assert [r.split(",")[0] for r in lines] == ["Category", *SNAKE_NAMES]
    demo.print_table({"trained G": rows["real clips"], **rows})
    printed = capsys.readouterr().out.splitlines()
    header = next(line for line in printed if line.startswith("system"))
    assert header.split() == ["system", *CLASS_NAMES, "mean"]
    assert any(line.startswith("real -> mel -> vocoder ") for line in printed)
    page = write_report(run).read_text()
    ceiling = rows["real -> mel -> vocoder"]
    assert f"<tr><th>real -&gt; mel -&gt; vocoder</th><td>{ceiling['DogBark']:.3f}</td>" in page
    assert "<tr><th>real clips</th>" in page
