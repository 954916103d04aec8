"""Per-class FAD of a folder of generated wavs against a reference folder (the official protocol).

The generated folder must pass the official checker's rules (`evaluation.checker`); the reference
folder may hold any number of clips. Class folders may be CamelCase or snake_case on either side.
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
from datamodules.classes import CAMEL_TO_SNAKE, CLASS_NAMES, SNAKE_NAMES
from evaluation.checker import SubmissionFolderError, check_submission_folder
from evaluation.class_embeddings import embed_items, reference_embeddings
from evaluation.class_metrics import class_metrics, mean_row
from evaluation.fad_metric import FrechetAudioDistance
from evaluation.reference_stats import iter_batches, list_class_files, reference_stats


def _load(backbone: str | nn.Module, device: str | torch.device) -> nn.Module:
    if isinstance(backbone, nn.Module):
        return backbone.to(device)
    from evaluation.backbones import load_backbone

    return load_backbone(backbone, device=device)


def fad_of_folders(
    gen_dir: str | os.PathLike,
    ref_dir: str | os.PathLike,
    backbone: str | nn.Module = "vggish",
    n_per_class: int | None = 100,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """{ClassName: FAD, ..., "mean": mean over the 7 classes}, CamelCase keys in class order.

    Raises `SubmissionFolderError` listing every problem when `gen_dir` fails the checker
    (n_per_class None accepts any number of clips per class).
    """
    problems = check_submission_folder(gen_dir, n_per_class=n_per_class, allow_camel=True)
    if problems:
        raise SubmissionFolderError(Path(gen_dir), problems)
    net = _load(backbone, device)
    ref = reference_stats(
        ref_dir, net, cache_dir=cache_dir, batch_size=batch_size, progress=progress
    )
    missing = [CLASS_NAMES[c] for c in range(len(CLASS_NAMES)) if int(ref["count"][c]) < 2]
    if missing:
        raise ValueError(
            f"reference folder {ref_dir} has no clips for {missing}; it needs a class folder "
            f"with clips for each of {list(CLASS_NAMES)} (CamelCase or snake_case)"
        )
    metric = FrechetAudioDistance(net, num_classes=len(CLASS_NAMES), reference_stats=ref)
    items = list_class_files(gen_dir)
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
) -> dict[str, dict[str, float]]:
    """{ClassName: {column: value}, ..., "mean": {column: mean}}: every class with generated clips,
    CamelCase keys in class order; columns as `evaluation.class_metrics.columns`."""
    problems = check_submission_folder(gen_dir, n_per_class=n_per_class, allow_camel=True)
    if problems:
        raise SubmissionFolderError(Path(gen_dir), problems)
    net = _load(backbone, device)
    ref = reference_embeddings(
        ref_dir, net, cache_dir=cache_dir, batch_size=batch_size, progress=progress
    )
    gen = embed_items(
        list_class_files(gen_dir), net, batch_size, progress, desc="generated embeddings"
    )
    per_class = {}
    for c, name in enumerate(CLASS_NAMES):
        rows = gen["label"] == c
        if not bool(rows.any()):
            continue
        ref_rows = ref["emb"][ref["label"] == c]
        if ref_rows.shape[0] < 2:
            raise ValueError(
                f"reference folder {ref_dir} has no clips for {name}; it needs a class folder "
                f"with clips for each generated class (CamelCase or snake_case)"
            )
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
            category = CAMEL_TO_SNAKE.get(camel, camel)
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
    organisers afterwards), so the mean is printed by `foleygan fad`, not stored here.
    """
    path = Path(path)
    rows = [
        (snake, results[camel])
        for camel, snake in zip(CLASS_NAMES, SNAKE_NAMES, strict=True)
        if camel in results
    ]
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
