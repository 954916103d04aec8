"""`evaluate_folders` and `foleygan fad --metrics`: every metric per class, from folders of wavs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from evaluation.class_embeddings import embed_items, reference_embeddings
from evaluation.class_metrics import class_metrics, columns, mean_row, parse_metrics
from evaluation.fad import fad_inf
from evaluation.fad_folders import evaluate_folders, fad_of_folders
from evaluation.kad import kernel_audio_distance
from evaluation.prdc import prdc
from evaluation.reference_stats import list_class_files

WINDOWS = 6
ALL = ("fad", "kad", "prdc", "fad_inf")


class WindowFeatures(nn.Module):
    """wav [B, N] -> [B * 6, 3]: per window log-energy, mean absolute slope and peak."""

    num_features = 3

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * WINDOWS, 3]
        win = wav.reshape(wav.shape[0], WINDOWS, -1)
        feats = [
            win.pow(2).mean(-1).add(1e-8).log(),
            win.diff(dim=-1).abs().mean(-1) * 10,
            win.abs().amax(-1),
        ]
        return torch.stack(feats, -1).reshape(-1, 3)


def _write_set(root, per_class: int, seed: int, gain: float = 1.0) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(SNAKE_NAMES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            level = 0.05 * (label + 1) * gain * rng.uniform(0.5, 1.5)
            wav = np.convolve(rng.normal(size=88200), np.ones(label + 1) / (label + 1), "same")
            sf.write(
                root / name / f"{i:03d}.wav",
                (level * wav).astype(np.float32),
                22050,
                subtype="PCM_16",
            )


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    _write_set(root / "gen", per_class=8, seed=1, gain=1.3)
    _write_set(root / "ref", per_class=10, seed=2)
    return root


def test_every_metric_matches_the_functions_on_the_class_rows(folders) -> None:
    root, net = folders, WindowFeatures()
    out = evaluate_folders(
        root / "gen",
        root / "ref",
        backbone=net,
        metrics=ALL,
        n_boot=30,
        n_per_class=8,
        cache_dir=root / "cache",
    )
    assert list(out) == [*CLASS_NAMES, "mean"]
    assert list(out["Rain"]) == columns(ALL, 30)
    gen = embed_items(list_class_files(root / "gen"), net)
    ref = embed_items(list_class_files(root / "ref"), net)
    c = CLASS_NAMES.index("Rain")
    g_rows, r_rows = gen["emb"][gen["label"] == c], ref["emb"][ref["label"] == c]
    clips = gen["clip"][gen["label"] == c].numpy()
    assert len(np.unique(clips)) == 8 and g_rows.shape[0] == 8 * WINDOWS
    assert out["Rain"]["kad"] == pytest.approx(kernel_audio_distance(g_rows, r_rows), rel=1e-9)
    for name, value in prdc(r_rows, g_rows, k=5).items():
        assert out["Rain"][name] == pytest.approx(value), name
    assert out["Rain"]["fad_inf"] == pytest.approx(fad_inf(g_rows, r_rows, clip_ids=clips))
    official = fad_of_folders(
        root / "gen", root / "ref", backbone=net, n_per_class=8, cache_dir=root / "cache"
    )
    for name in CLASS_NAMES:
        assert out[name]["fad"] == pytest.approx(official[name], rel=1e-6)
        assert out[name]["fad_lo"] < out[name]["fad"] < out[name]["fad_hi"]
        assert out[name]["kad_lo"] < out[name]["kad"] < out[name]["kad_hi"]
    assert out["mean"]["fad"] == pytest.approx(official["mean"], rel=1e-6)
    assert out["mean"]["kad"] == pytest.approx(np.mean([out[n]["kad"] for n in CLASS_NAMES]))
    # the mean of seven independent classes varies less than one class
    mean_width = out["mean"]["kad_hi"] - out["mean"]["kad_lo"]
    assert mean_width < np.mean([out[n]["kad_hi"] - out[n]["kad_lo"] for n in CLASS_NAMES])


def test_reference_embeddings_are_cached_and_keyed_on_files(folders, tmp_path) -> None:
    net = WindowFeatures()
    first = reference_embeddings(folders / "ref", net, cache_dir=tmp_path)
    second = reference_embeddings(folders / "ref", net, cache_dir=tmp_path)
    assert not bool(first["cached"]) and bool(second["cached"])
    torch.testing.assert_close(first["emb"], second["emb"])
    assert first["clip"].tolist() == np.repeat(np.arange(70), WINDOWS).tolist()
    items = list_class_files(folders / "ref")[:9]  # another set: another key
    assert not bool(reference_embeddings(items, net, cache_dir=tmp_path)["cached"])


def test_parse_metrics_orders_and_refuses_unknown_names() -> None:
    assert parse_metrics("fad_inf, KAD,fad") == ("fad", "kad", "fad_inf")
    assert columns(("fad", "prdc"), 0) == ["fad", "precision", "recall", "density", "coverage"]
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['fid'\].*fad_inf"):
        parse_metrics("fad,fid")


def test_class_metrics_without_bootstrap_has_no_intervals() -> None:
    rng = np.random.default_rng(0)
    gen, ref = rng.normal(size=(40, 3)), rng.normal(size=(50, 3))
    values, reps = class_metrics(gen, np.repeat(np.arange(10), 4), ref, ("fad", "kad"))
    assert set(values) == {"fad", "kad"} and reps == {}
    assert mean_row({"a": (values, reps), "b": (values, reps)}) == pytest.approx(values)


def test_cli_metrics_csv_and_table(folders, tmp_path, monkeypatch, capsys) -> None:
    import evaluation.backbones
    from foleygan_cli.fad import main

    monkeypatch.setattr(evaluation.backbones, "load_backbone", lambda n, device: WindowFeatures())
    monkeypatch.chdir(tmp_path)
    args = [
        str(folders / "gen"),
        "--ref",
        str(folders / "ref"),
        "--cache-dir",
        "c",
        "--no-strict-count",
    ]
    assert main([*args, "--metrics", "fad,kad,prdc,fad_inf", "--bootstrap", "20"]) == 0
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Category", *columns(ALL, 20)]
    assert [r[0] for r in rows[1:]] == [*SNAKE_NAMES, "mean"]
    assert all(np.isfinite(float(v)) for r in rows[1:] for v in r[1:])
    printed = capsys.readouterr().out
    assert "precision" in printed and "kad_hi" in printed and "metrics.csv" in printed
    assert main([*args]) == 0  # FAD alone: the official CSV, unchanged
    official = (tmp_path / "fad.csv").read_text().splitlines()
    assert official[0] == "Category,FAD" and len(official) == 8
    # FAD alone with PANNs: the same CSV, computed from the embeddings (low-rank when needed)
    assert main([*args, "--backbone", "panns", "--out", "panns.csv"]) == 0
    panns = (tmp_path / "panns.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in panns] == [r.split(",")[0] for r in official]
    for a, b in zip(panns[1:], official[1:], strict=True):
        assert float(a.split(",")[1]) == pytest.approx(float(b.split(",")[1]), rel=1e-6)
    assert main([*args, "--metrics", "fad,fid"]) == 1
    assert "unknown metric" in capsys.readouterr().err
