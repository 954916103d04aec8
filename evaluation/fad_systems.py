"""FAD of several systems against one reference: a generator beside its ceiling (and floor).

A FAD number means little alone: it mixes the generator's error with the vocoder's. The
"real -> mel -> vocoder" system (real clips through the mel contract and the same vocoder,
`foleygan resynth`) is what a perfect generator would score; the "real clips" system (other real
clips of the same classes, no vocoder) is what real audio scores. A table has one row per system
and one column per class, then the mean.

CSV (`write_systems_csv`): `system,Category,FAD`, one row per system and class (snake_case for
DCASE classes, as the official CSV), no mean row. `read_fad_tables` reads it and the official
`Category,FAD` CSV (one system, named by the caller).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from datamodules.atomic import atomic_path
from evaluation.checker import submission_folder_name
from evaluation.class_match import display_name

GENERATOR = "generator"
CEILING = "real -> mel -> vocoder"
FLOOR = "real clips"
Systems = dict[str, dict[str, float]]  # {system: {ClassName or "mean": FAD}}


def class_columns(systems: Systems) -> list[str]:
    """Classes of all systems in first-seen order (the mean left out)."""
    names: list[str] = []
    for row in systems.values():
        names += [n for n in row if n != "mean" and n not in names]
    return names


def format_systems_table(systems: Systems) -> str:
    """A plain text table: one line per system, one column per class, the mean last."""
    names = [*class_columns(systems), "mean"]
    label = max(len("system"), *(len(s) for s in systems))
    widths = [max(8, len(n)) for n in names]
    header = f"{'system':<{label}}  " + "  ".join(
        f"{n:>{w}}" for n, w in zip(names, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for system, row in systems.items():
        cells = [
            f"{row[n]:>{w}.3f}" if n in row else f"{'-':>{w}}"
            for n, w in zip(names, widths, strict=True)
        ]
        lines.append(f"{system:<{label}}  " + "  ".join(cells))
    return "\n".join(lines)


def write_systems_csv(systems: Systems, path: str | os.PathLike) -> Path:
    """`system,Category,FAD` rows (no mean rows; Category as the official CSV writes it)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "Category", "FAD"])
        for system, row in systems.items():
            writer.writerows(
                [system, submission_folder_name(name), repr(float(value))]
                for name, value in row.items()
                if name != "mean"
            )
    return path


def write_systems_metrics_csv(
    systems: dict[str, dict[str, dict[str, float]]], path: str | os.PathLike
) -> Path:
    """`system,Category,<metric columns...>` rows, the mean row of each system included."""
    path = Path(path)
    first = next(iter(systems.values()))
    columns = list(next(iter(first.values())))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "Category", *columns])
        for system, rows in systems.items():
            writer.writerows(
                [system, submission_folder_name(name), *(repr(float(row[c])) for c in columns)]
                for name, row in rows.items()
            )
    return path


def with_mean(row: dict[str, float]) -> dict[str, float]:
    """The row with "mean" (over its classes) recomputed last."""
    classes = {n: v for n, v in row.items() if n != "mean"}
    return {**classes, "mean": sum(classes.values()) / max(len(classes), 1)}


def read_fad_tables(path: str | os.PathLike, name: str) -> Systems:
    """A FAD CSV -> {system: {ClassName: FAD, "mean": ...}}: the official `Category,FAD` CSV is
    one system called `name`; a `system,Category,FAD` CSV gives each of its systems."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    systems: Systems = {}
    for row in rows:
        system = row.get("system") or name
        category = row["Category"]
        systems.setdefault(system, {})[display_name(category)] = float(row["FAD"])
    return {system: with_mean(row) for system, row in systems.items()}
