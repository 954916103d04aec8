"""Per-class FAD of a folder of generated wavs against a reference folder (the official protocol).

The generated folder must pass the official checker's rules (`evaluation.checker`); the reference
folder may hold any number of clips. Class folders are matched by name (`evaluation.class_match`):
either DCASE spelling (CamelCase or snake_case) on either side, other names literally; a class on
one side only is an error naming both lists unless `allow_missing=True`, which scores the classes
on both sides (with a warning naming the others).
The reference statistics are cached (`evaluation.reference_stats`), so a second evaluation
against the same reference only embeds the generated clips.

`fad_of_folders` is FAD alone (sums of statistics, the official path). `evaluate_folders` keeps
the per-class embeddings and clip ids and adds KAD, PRDC, FAD-inf and bootstrap intervals
(`evaluation.class_metrics`); its reference embeddings are cached too.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from datamodules.atomic import atomic_path
from evaluation.checker import (
    SubmissionFolderError,
    check_submission_folder,
    submission_folder_name,
)
from evaluation.class_embeddings import embed_items, reference_embeddings
from evaluation.class_match import MatchedFolders, match_folders
from evaluation.class_metrics import class_metrics, mean_row
from evaluation.fad_metric import FrechetAudioDistance
from evaluation.reference_stats import iter_batches, reference_stats


def _load(backbone: str | nn.Module, device: str | torch.device) -> nn.Module:
    if isinstance(backbone, nn.Module):
        return backbone.to(device)
    from evaluation.backbones import load_backbone

    return load_backbone(backbone, device=device)


def checked_match(
    gen_dir: str | os.PathLike,
    ref_dir: str | os.PathLike,
    n_per_class: int | None = 100,
    allow_missing: bool = False,
) -> MatchedFolders:
    """The checker's rules on `gen_dir`'s own class folders (`SubmissionFolderError` listing
    every problem), then both folders' clips with labels into the classes of both sides."""
    problems = check_submission_folder(
        gen_dir, n_per_class=n_per_class, class_names=None, allow_camel=True
    )
    if problems:
        raise SubmissionFolderError(Path(gen_dir), problems)
    return match_folders(gen_dir, ref_dir, allow_missing)


def _missing_reference(names: Sequence[str], counts, ref_dir) -> None:
    missing = [name for name, count in zip(names, counts, strict=True) if int(count) < 2]
    if missing:
        raise ValueError(
            f"reference folder {ref_dir} has fewer than 2 embeddings for {missing}; a class "
            "needs at least 2 (a covariance): add clips to its class folder"
        )


def fad_of_folders(
    gen_dir: str | os.PathLike,
    ref_dir: str | os.PathLike,
    backbone: str | nn.Module = "vggish",
    n_per_class: int | None = 100,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    allow_missing: bool = False,
) -> dict[str, float]:
    """{ClassName: FAD, ..., "mean": mean over them} for the classes of both folders, in the
    generated folder's class order (DCASE order, CamelCase keys, for DCASE classes).

    Raises `SubmissionFolderError` listing every problem when `gen_dir` fails the checker
    (n_per_class None accepts any number of clips per class), `ClassMismatchError` naming both
    class lists when a class is on one side only (unless `allow_missing`).
    """
    matched = checked_match(gen_dir, ref_dir, n_per_class, allow_missing)
    names = matched.names
    net = _load(backbone, device)
    ref = reference_stats(
        matched.second, net, cache_dir=cache_dir, num_classes=len(names),
        batch_size=batch_size, progress=progress,
    )
    _missing_reference(names, ref["count"], ref_dir)
    metric = FrechetAudioDistance(
        net, num_classes=len(names), class_names=names, reference_stats=ref
    )
    items = matched.first
    batches = iter_batches(items, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-len(items) // batch_size), desc="generated embeddings")
    for wav, labels in batches:
        metric.update(wav.to(device), labels.to(device))
    return {name: float(value) for name, value in metric.compute().items()}


def evaluate_folders(
    gen_dir: str | os.PathLike,
    ref_dir: str | os.PathLike,
    backbone: str | nn.Module = "vggish",
    metrics: Sequence[str] = ("fad",),
    n_boot: int = 0,
    n_per_class: int | None = 100,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    seed: int = 0,
    k: int = 5,
    allow_missing: bool = False,
) -> dict[str, dict[str, float]]:
    """{ClassName: {column: value}, ..., "mean": {column: mean}}: the classes of both folders,
    matched as in `fad_of_folders`; columns as `evaluation.class_metrics.columns`."""
    matched = checked_match(gen_dir, ref_dir, n_per_class, allow_missing)
    net = _load(backbone, device)
    ref = reference_embeddings(
        matched.second, net, cache_dir=cache_dir, batch_size=batch_size, progress=progress
    )
    gen = embed_items(matched.first, net, batch_size, progress, desc="generated embeddings")
    counts = [int((ref["label"] == c).sum()) for c in range(len(matched.names))]
    _missing_reference(matched.names, counts, ref_dir)
    per_class = {}
    for c, name in enumerate(matched.names):
        rows = gen["label"] == c
        ref_rows = ref["emb"][ref["label"] == c]
        per_class[name] = class_metrics(
            gen["emb"][rows], gen["clip"][rows].numpy(), ref_rows, metrics, n_boot, seed, k
        )
    results = {name: values for name, (values, _) in per_class.items()}
    results["mean"] = mean_row(per_class)
    return results


def write_metrics_csv(results: dict[str, dict[str, float]], path: str | os.PathLike) -> Path:
    """One row per class (snake_case `Category`, as the official CSV) and a `mean` row; one
    column per metric value in `results` (e.g. fad, fad_lo, fad_hi, kad, precision, ...)."""
    path = Path(path)
    names = list(next(iter(results.values())))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Category", *names])
        for camel, row in results.items():
            category = submission_folder_name(camel)
            writer.writerow([category, *(repr(float(row[n])) for n in names)])
    return path


def format_metrics_table(results: dict[str, dict[str, float]]) -> str:
    """A plain text table: one line per class, the mean last, one column per value."""
    names = list(next(iter(results.values())))
    width = max(len(name) for name in results)
    cols = [max(10, len(n)) for n in names]
    pairs = list(zip(names, cols, strict=True))
    header = f"{'class':<{width}}  " + "  ".join(f"{n:>{w}}" for n, w in pairs)
    rule = f"{'-' * width}  " + "  ".join("-" * w for w in cols)

    def line(name: str) -> str:
        cells = "  ".join(f"{results[name][n]:>{w}.4f}" for n, w in pairs)
        return f"{name:<{width}}  {cells}"

    lines = [header, rule] + [line(name) for name in results if name != "mean"]
    if "mean" in results:
        lines += [rule, line("mean")]
    return "\n".join(lines)


def write_fad_csv(results: dict[str, float], path: str | os.PathLike) -> Path:
    """Write the official `Category,FAD` CSV: one row per class, snake_case names, no mean row.

    The official DCASE 2023 Task 7 script writes exactly these rows (its mean is computed by the
    organisers afterwards), so the mean is printed by `foleygan fad`, not stored here. Classes
    keep the order of `results`; a non-DCASE class is written under its own name.
    """
    path = Path(path)
    rows = [(submission_folder_name(name), value) for name, value in results.items()
            if name != "mean"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Category", "FAD"])
        writer.writerows([snake, repr(float(value))] for snake, value in rows)
    return path


def format_table(results: dict[str, float]) -> str:
    """A plain text table: class, FAD, and the mean last."""
    width = max(len(name) for name in results)
    lines = [f"{'class':<{width}}  FAD", f"{'-' * width}  {'-' * 10}"]
    lines += [
        f"{name:<{width}}  {value:10.4f}" for name, value in results.items() if name != "mean"
    ]
    if "mean" in results:
        lines += [f"{'-' * width}  {'-' * 10}", f"{'mean':<{width}}  {results['mean']:10.4f}"]
    return "\n".join(lines)
