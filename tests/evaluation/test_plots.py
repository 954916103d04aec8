"""Training-curve panels: read from a CSVLogger file, one panel per logged group."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from evaluation.plots import curve_panels, read_metrics_csv, save_training_curves


def _metrics_csv(path: Path) -> Path:
    keys = ["train/d/loss", "train/d/logit_gap", "val/d/overfit_gap", "val/kad/mean",
            "val/prdc/recall/mean", "val/prdc/coverage/mean"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "step", *keys])
        writer.writeheader()
        for step in range(4):
            row = {"epoch": 0, "step": step, "train/d/loss": 1.0 / (step + 1),
                   "train/d/logit_gap": 0.1 * step}
            if step % 2:  # validation rows: every other step
                row.update({k: 0.5 + step for k in keys[2:]})
            writer.writerow(row)
    return path


def test_panels_group_the_logged_keys_and_skip_empty_groups(tmp_path) -> None:
    metrics = read_metrics_csv(_metrics_csv(tmp_path / "metrics.csv"))
    np.testing.assert_array_equal(metrics["val/kad/mean"][0], [1.0, 3.0])  # empty cells dropped
    assert curve_panels(metrics) == [
        ("Discriminator", ["train/d/loss"]),
        ("KAD (validation)", ["val/kad/mean"]),
        ("PRDC (validation)", ["val/prdc/recall/mean", "val/prdc/coverage/mean"]),
        ("D overfitting", ["train/d/logit_gap", "val/d/overfit_gap"]),
    ]
    png = save_training_curves(metrics, tmp_path / "curves.png")
    assert png is not None and png.read_bytes().startswith(b"\x89PNG")
    assert save_training_curves({}, tmp_path / "none.png") is None
