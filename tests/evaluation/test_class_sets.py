"""Any class set through evaluation: folders matched by class name, the checker's modes, the
FAD callback of a 3-class module, and the vocoder-ceiling row of `foleygan fad` and the report."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from datamodules.classes import CLASS_NAMES
from evaluation.checker import check_submission_folder, submission_folder_name
from evaluation.class_match import ClassMismatchError, match_classes, match_folders
from evaluation.fad import frechet_distance, gaussian_stats
from evaluation.fad_folders import evaluate_folders, fad_of_folders, write_fad_csv
from evaluation.fad_systems import CEILING, GENERATOR, format_systems_table, read_fad_tables

RATE = 22050


class Windows(nn.Module):
    """Fake FAD backbone: 4 windows per clip -> [mean, std, max]."""

    num_features = 3

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * 4, 3]
        w = wav.reshape(wav.shape[0] * 4, -1)
        return torch.stack([w.mean(1), w.std(1), w.amax(1)], dim=1)


def _write_set(root, names: list[str], per_class: int, seed: int, gain: float = 1.0) -> None:
    """Class c: noise of level 0.05 (c + 1) * gain; the level follows the class NAME's order."""
    rng = np.random.default_rng(seed)
    for name in names:
        level = 0.05 * (sorted(names, key=str.lower).index(name) + 1) * gain
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            wav = (level * rng.uniform(0.5, 1.5) * rng.normal(size=88200)).astype(np.float32)
            sf.write(root / name / f"{i:03d}.wav", wav, RATE, subtype="PCM_16")


def _direct_fad(gen_folder, ref_folder) -> float:
    def stats(folder):
        wav = torch.stack([torch.from_numpy(sf.read(str(p), dtype="float32")[0])
                           for p in sorted(folder.glob("*.wav"))])
        return gaussian_stats(Windows().embed(wav))

    return frechet_distance(*stats(ref_folder), *stats(gen_folder))


OWN = ["DoorKnock", "GlassBreak", "Wind"]


def test_match_by_name_either_spelling() -> None:
    match = match_classes(["DogBark", "Rain", "Wind"], ["rain", "dog_bark", "Keyboard"])
    assert match.names == ("DogBark", "Rain")
    assert match.only_first == ("Wind",) and match.only_second == ("Keyboard",)
    assert match_classes(["wind"], ["Wind"]).names == ()  # other names: literally


def test_own_classes_fad_equals_direct_computation(tmp_path) -> None:
    _write_set(tmp_path / "gen", OWN, per_class=3, seed=1, gain=1.3)
    _write_set(tmp_path / "ref", OWN, per_class=4, seed=2)
    out = fad_of_folders(tmp_path / "gen", tmp_path / "ref", backbone=Windows(),
                         n_per_class=3, cache_dir=tmp_path / "c")
    assert list(out) == [*OWN, "mean"]
    for name in OWN:
        assert out[name] == pytest.approx(
            _direct_fad(tmp_path / "gen" / name, tmp_path / "ref" / name), rel=1e-6)
    metrics = evaluate_folders(tmp_path / "gen", tmp_path / "ref", backbone=Windows(),
                               n_per_class=3, cache_dir=tmp_path / "c")
    assert [metrics[n]["fad"] for n in OWN] == pytest.approx([out[n] for n in OWN], rel=1e-6)
    path = write_fad_csv(out, tmp_path / "fad.csv")
    assert path.read_text().splitlines()[0] == "Category,FAD"
    assert [r.split(",")[0] for r in path.read_text().splitlines()[1:]] == OWN


def test_dcase_subset_in_either_spelling_and_order(tmp_path) -> None:
    _write_set(tmp_path / "gen", ["rain", "dog_bark", "gunshot"], per_class=2, seed=1)
    _write_set(tmp_path / "ref", ["GunShot", "Rain", "DogBark"], per_class=3, seed=2)
    out = fad_of_folders(tmp_path / "gen", tmp_path / "ref", backbone=Windows(),
                         n_per_class=2, cache_dir=tmp_path / "c")
    assert list(out) == ["DogBark", "GunShot", "Rain", "mean"]  # DCASE order
    assert out["Rain"] == pytest.approx(
        _direct_fad(tmp_path / "gen" / "rain", tmp_path / "ref" / "Rain"), rel=1e-6)
    lines = write_fad_csv(out, tmp_path / "fad.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in lines[1:]] == ["dog_bark", "gunshot", "rain"]


def test_one_sided_classes_fail_naming_both_lists_or_are_reported(tmp_path) -> None:
    _write_set(tmp_path / "gen", ["DogBark", "Rain", "Wind"], per_class=2, seed=1)
    _write_set(tmp_path / "ref", ["DogBark", "Rain", "Keyboard", "GunShot"], per_class=3, seed=2)
    args = dict(backbone=Windows(), n_per_class=2, cache_dir=tmp_path / "c")
    with pytest.raises(ClassMismatchError) as err:
        fad_of_folders(tmp_path / "gen", tmp_path / "ref", **args)
    text = str(err.value)
    assert "['DogBark', 'Rain', 'Wind']" in text  # the generated folder's list
    assert "['DogBark', 'GunShot', 'Keyboard', 'Rain']" in text  # the reference's
    assert "only in generated folder" in text and "--allow-missing" in text
    with pytest.warns(UserWarning, match=r"only in generated folder .*\['Wind'\].*only in "
                      r"reference folder .*\['GunShot', 'Keyboard'\]"):
        out = fad_of_folders(tmp_path / "gen", tmp_path / "ref", allow_missing=True, **args)
    assert list(out) == ["DogBark", "Rain", "mean"]
    _write_set(tmp_path / "none", ["Thunder"], per_class=2, seed=3)
    with pytest.raises(ClassMismatchError, match="no class in common"):
        match_folders(tmp_path / "none", tmp_path / "ref", allow_missing=True)


def test_checker_modes(tmp_path) -> None:
    _write_set(tmp_path / "own", OWN, per_class=2, seed=0)
    assert len(check_submission_folder(tmp_path / "own", n_per_class=2)) == 7  # official rule
    assert check_submission_folder(tmp_path / "own", n_per_class=2, class_names=None) == []
    assert check_submission_folder(tmp_path / "own", n_per_class=2, class_names=OWN) == []
    problems = check_submission_folder(tmp_path / "own", n_per_class=3, class_names=None)
    assert len(problems) == 3 and all("2 wav files, expected exactly 3" in p for p in problems)
    (tmp_path / "own" / "Empty").mkdir()
    assert any("Empty: no wav files" in p for p in
               check_submission_folder(tmp_path / "own", n_per_class=None, class_names=None))
    _write_set(tmp_path / "camel", ["DogBark", "rain"], per_class=1, seed=0)
    problems = check_submission_folder(tmp_path / "camel", n_per_class=1, class_names=None)
    assert problems == [f"{tmp_path / 'camel' / 'DogBark'}: DCASE class in CamelCase; the "
                        "submission layout names it 'dog_bark' (snake_case, as `foleygan "
                        "synth` writes)"]
    assert check_submission_folder(tmp_path / "camel", n_per_class=1, class_names=None,
                                   allow_camel=True) == []
    # a checkpoint's class list: DCASE classes by their submission folder
    assert check_submission_folder(tmp_path / "camel", 1, ["DogBark", "Rain"], True) == []
    missing = check_submission_folder(tmp_path / "camel", 1, ["Rain", "Wind"])
    assert missing == [f"{tmp_path / 'camel' / 'Wind'}: class folder missing; every class needs "
                       "a folder named 'Wind' (as `foleygan synth` writes)"]
    assert submission_folder_name("DogBark") == "dog_bark"
    assert submission_folder_name("Wind") == "Wind"


def _cli(tmp_path, monkeypatch):
    import evaluation.backbones
    from foleygan_cli.fad import main

    monkeypatch.setattr(evaluation.backbones, "load_backbone", lambda name, device: Windows())
    return main


def test_cli_ceiling_row_and_missing_classes(tmp_path, monkeypatch, capsys) -> None:
    main = _cli(tmp_path, monkeypatch)
    _write_set(tmp_path / "gen", ["dog_bark", "rain"], per_class=2, seed=1, gain=2.0)
    _write_set(tmp_path / "resynth", ["dog_bark", "rain"], per_class=3, seed=4, gain=1.1)
    _write_set(tmp_path / "ref", ["DogBark", "Rain", "Wind"], per_class=3, seed=2)
    base = [str(tmp_path / "gen"), "--ref", str(tmp_path / "ref"), "--cache-dir",
            str(tmp_path / "c"), "--no-strict-count"]
    assert main([*base, "--out", str(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err
    assert "only in reference folder" in err and "['Wind']" in err and "--allow-missing" in err
    assert main([*base, "--allow-missing", "--out", str(tmp_path / "a.csv")]) == 0
    captured = capsys.readouterr()
    assert "note: scoring ['DogBark', 'Rain'] only" in captured.err and "Wind" in captured.err
    official = (tmp_path / "a.csv").read_text().splitlines()
    assert official[0] == "Category,FAD"
    assert [r.split(",")[0] for r in official[1:]] == ["dog_bark", "rain"]
    out = tmp_path / "both.csv"
    assert main([*base, "--allow-missing", "--ceiling", str(tmp_path / "resynth"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["system", "Category", "FAD"]
    assert [r[:2] for r in rows[1:]] == [[GENERATOR, "dog_bark"], [GENERATOR, "rain"],
                                         [CEILING, "dog_bark"], [CEILING, "rain"]]
    assert rows[1][2] == official[1].split(",")[1]  # the generator's numbers unchanged
    ceiling = _direct_fad(tmp_path / "resynth" / "rain", tmp_path / "ref" / "Rain")
    assert float(rows[4][2]) == pytest.approx(ceiling, rel=1e-6)
    assert f"\n{GENERATOR} " in printed and f"\n{CEILING} " in printed
    tables = read_fad_tables(out, "ignored")
    assert list(tables) == [GENERATOR, CEILING]
    assert tables[CEILING]["Rain"] == pytest.approx(ceiling, rel=1e-6)
    # with more metrics: one CSV, a system column, each system's mean row
    assert main([*base, "--allow-missing", "--ceiling", str(tmp_path / "resynth"), "--metrics",
                 "fad,kad", "--out", str(tmp_path / "m.csv")]) == 0
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "system,Category,fad,kad" and len(lines) == 7


def test_systems_table_leaves_gaps() -> None:
    text = format_systems_table({"g": {"Rain": 1.0, "mean": 1.0}, CEILING: {"Wind": 2.0}})
    header, rule, first, second = text.splitlines()
    assert header.split() == ["system", "Rain", "Wind", "mean"]
    assert first.split() == ["g", "1.000", "-", "1.000"]
    assert second.split()[-3:] == ["-", "2.000", "-"]


# --- FADCallback with a module of 3 classes -----------------------------------------------


def _module(names: list[str]):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.class_names = list(names)
            self.layer = nn.Linear(1, 1)
            self.asked: list[int] = []

        def generate(self, labels, z=None):
            # labels [B] -> mel [B, 80, 344]
            self.asked += labels.tolist()
            level = 0.1 * (labels.float() + 1.0)[:, None, None]
            return (level + 0.02 * torch.randn(len(labels), 1, 344)).expand(-1, 80, -1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch, batch_idx):
            return None

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(2, 1)), batch_size=2)

        def val_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(2, 1)), batch_size=2)

    return Tiny()


class Hold(nn.Module):
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> wav [B, 256 T]
        return mel.mean(dim=1).repeat_interleave(256, dim=1)


def _fit_callback(tmp_path, module, reference) -> dict:
    from conftest import make_cpu_trainer
    from evaluation.callbacks import FADCallback

    callback = FADCallback(backbone=Windows(), vocoder=Hold(), n_per_class=3, batch_size=4,
                           n_media_per_class=0, reference=str(reference),
                           cache_dir=str(tmp_path / "cache"))
    trainer = make_cpu_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1,
                               default_root_dir=tmp_path, callbacks=[callback])
    trainer.fit(module)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/fad")}


def test_fad_callback_scores_only_the_modules_classes(tmp_path) -> None:
    _write_set(tmp_path / "ref", list(CLASS_NAMES), per_class=2, seed=0)  # all 7 DCASE
    module = _module(["DogBark", "GunShot", "Rain"])
    with pytest.warns(UserWarning, match="not in class_names"):
        logged = _fit_callback(tmp_path, module, tmp_path / "ref")
    assert set(logged) == {"val/fad/DogBark", "val/fad/GunShot", "val/fad/Rain", "val/fad/mean"}
    assert sorted(set(module.asked)) == [0, 1, 2] and len(module.asked) == 9


def test_fad_callback_fails_at_fit_start_naming_the_missing_class(tmp_path) -> None:
    _write_set(tmp_path / "ref", ["DogBark", "Rain"], per_class=2, seed=0)
    module = _module(["DogBark", "Rain", "Wind"])
    with pytest.raises(ValueError, match=r"module's classes are \['DogBark', 'Rain', 'Wind'\].*"
                       r"class 'Wind' of class_names has no clip.*\['DogBark', 'Rain'\]"):
        _fit_callback(tmp_path, module, tmp_path / "ref")
    assert module.asked == []  # nothing generated: it failed before training
