"""All metrics of one class from its embeddings, and the mean row over classes.

`class_metrics(gen, gen_clips, ref, metrics, n_boot)` computes, for one class:
- "fad": the Frechet distance (`frechet_distance_embeddings`: the official `frechet_distance`,
  reference statistics first as the FAD Metric computes it, when both sets have more rows than
  dimensions; the exact low-rank path for PANNs' 100 clips of 2,048 dims);
- "fad_inf": FAD-inf (`fad_inf`, subsets of whole clips);
- "kad": Kernel Audio Distance (bandwidth from this class's reference embeddings);
- "prdc": "precision", "recall", "density", "coverage" (k nearest neighbours, real = reference);
- with n_boot > 0: "fad_lo"/"fad_hi" and "kad_lo"/"kad_hi", 95 % clip-bootstrap intervals.
The mean row averages every column over classes; its intervals come from the per-replicate mean
over classes (classes are resampled independently, so that is a bootstrap of the mean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from evaluation.bootstrap import bootstrap_interval, fad_replicates, kad_replicates
from evaluation.fad import ArrayLike, fad_inf
from evaluation.frechet_reference import frechet_distance_embeddings
from evaluation.kad import kernel_audio_distance, median_pairwise_distance
from evaluation.prdc import PRDC_NAMES, prdc

METRICS = ("fad", "kad", "prdc", "fad_inf")
BOOTSTRAPPED = ("fad", "kad")


def parse_metrics(spec: str | Sequence[str]) -> tuple[str, ...]:
    """ "fad,kad" or ["fad", "kad"] -> ("fad", "kad") in METRICS order; unknown names raise."""
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(METRICS))
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {unknown or names!r}; choose from {list(METRICS)} "
            "(comma-separated, e.g. --metrics fad,kad,prdc,fad_inf)"
        )
    return tuple(m for m in METRICS if m in names)


def columns(metrics: Sequence[str], n_boot: int) -> list[str]:
    """The CSV / table columns, in a fixed order, for these metrics."""
    out: list[str] = []
    for metric in metrics:
        names = list(PRDC_NAMES) if metric == "prdc" else [metric]
        for name in names:
            out.append(name)
            if n_boot > 0 and name in BOOTSTRAPPED:
                out += [f"{name}_lo", f"{name}_hi"]
    return out


def class_metrics(
    gen: ArrayLike,
    gen_clips: ArrayLike,
    ref: ArrayLike,
    metrics: Sequence[str] = ("fad",),
    n_boot: int = 0,
    seed: int = 0,
    k: int = 5,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """({column: value}, {"fad"/"kad": bootstrap replicates}) of generated rows gen [m, D] with
    clip ids gen_clips [m] against reference rows ref [n, D]."""
    values: dict[str, float] = {}
    replicates: dict[str, np.ndarray] = {}
    if "fad" in metrics:
        values["fad"] = frechet_distance_embeddings(gen, ref)
        if n_boot > 0:
            replicates["fad"] = fad_replicates(gen, gen_clips, ref, n_boot=n_boot, seed=seed)
    if "kad" in metrics:
        bandwidth = median_pairwise_distance(ref)
        values["kad"] = kernel_audio_distance(gen, ref, bandwidth=bandwidth)
        if n_boot > 0:
            replicates["kad"] = kad_replicates(
                gen, gen_clips, ref, bandwidth=bandwidth, n_boot=n_boot, seed=seed
            )
    if "prdc" in metrics:
        values.update(prdc(ref, gen, k=k))
    if "fad_inf" in metrics:
        values["fad_inf"] = fad_inf(gen, ref, clip_ids=gen_clips, seed=seed)
    for name, reps in replicates.items():
        values[f"{name}_lo"], values[f"{name}_hi"] = bootstrap_interval(values[name], reps)
    return {name: values[name] for name in columns(metrics, n_boot)}, replicates


def mean_row(
    per_class: Mapping[str, tuple[dict[str, float], dict[str, np.ndarray]]],
) -> dict[str, float]:
    """The mean over classes of every column; intervals from the mean of the replicates."""
    rows = [values for values, _ in per_class.values()]
    mean = {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
    for name in BOOTSTRAPPED:
        reps = [reps[name] for _, reps in per_class.values() if name in reps]
        if reps and len(reps) == len(rows):
            mean[f"{name}_lo"], mean[f"{name}_hi"] = bootstrap_interval(
                mean[name], np.mean(reps, axis=0)
            )
    return mean
