"""Matplotlib figures for people: log-mel images and training curves (Agg, files only).

Figures are built on matplotlib's Agg canvas directly (`Figure` + `FigureCanvasAgg`), so
importing this module never changes the process-wide backend.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from datamodules.atomic import atomic_path

# (title, metric keys drawn together) for the training-curve panels
CURVE_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Discriminator", ("train/d/loss", "train/d/adv", "train/d/cond")),
    ("Generator", ("train/g/loss", "train/g/adv", "train/g/cond")),
    ("Logits", ("train/d/logits_real", "train/d/logits_fake")),
    ("FAD (validation)", ("val/fad/mean",)),
    ("KAD (validation)", ("val/kad/mean",)),
    ("PRDC (validation)", tuple(f"val/prdc/{n}/mean"
                                for n in ("precision", "recall", "density", "coverage"))),
    ("D overfitting", ("train/d/logit_gap", "val/d/overfit_gap")),
    ("Diversity fake / real", ("val/diversity/mean_ratio",)),
    ("Probe accuracy", ("val/probe/acc", "val/acc")),
    ("Encoder", ("train/supcon/loss",)),
)


def save_mel_image(
    mel: np.ndarray,
    path: str | Path,
    title: str = "",
    sample_rate: int = 22050,
    hop_length: int = 256,
) -> Path:
    """Write a log-mel [n_mels, T] as a PNG (time in seconds on x, mel band on y)."""
    fig = Figure(figsize=(4.0, 1.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    seconds = mel.shape[1] * hop_length / sample_rate
    ax.imshow(
        mel,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=-11.5,
        vmax=2.0,
        extent=(0.0, seconds, 0, mel.shape[0]),
    )
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("s", fontsize=7)
    ax.set_ylabel("mel band", fontsize=7)
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def read_metrics_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CSVLogger's metrics.csv -> {key: (steps, values)} with empty cells dropped."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            step = float(row.get("step") or "nan")
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                steps, values = series.setdefault(key, ([], []))
                steps.append(step)
                values.append(float(value))
    return {k: (np.asarray(s), np.asarray(v)) for k, (s, v) in series.items()}


def curve_panels(metrics: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The CURVE_PANELS groups with data: (title, the logged keys of that group)."""
    logged = set(metrics)
    panels = [(title, [k for k in keys if k in logged]) for title, keys in CURVE_PANELS]
    return [(title, keys) for title, keys in panels if keys]


def save_training_curves(
    metrics: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path
) -> Path | None:
    """One panel per group of CURVE_PANELS that has data; None when nothing was logged."""
    panels = curve_panels(metrics)
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 2.6 * rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (title, keys) in zip(axes.flat, panels, strict=False):
        for key in keys:
            steps, values = metrics[key]
            ax.plot(steps, values, label=key, linewidth=1.0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("global step", fontsize=8)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
