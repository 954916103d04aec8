"""The report's per-metric tables (FAD-inf, KAD, precision / recall / density / coverage, and FAD
with its interval): one table per metric, systems as rows, classes and the mean as columns.

Sources in a run folder (all optional):
- metrics tables: every `<run>/*.csv` with a `Category` column and metric columns, as
  `foleygan fad --metrics fad,kad,prdc,fad_inf [--bootstrap N] --out <run>/metrics.csv` writes
  them: one system named by the file (metrics.csv -> "generated", metrics_ceiling.csv -> the
  ceiling, metrics_<name>.csv -> <name>) or, with a `system` column (`--ceiling`), each of its
  systems; `<ceiling_dir>/metrics.csv` gives the ceiling row when no table names it;
- the validation figures of each CSVLogger `metrics.csv` under the run: the last logged
  `val/kad/*` and `val/prdc/<name>/*` (with `val/fad/*`), one system "validation (<log>, step N)".
The ceiling ("real -> mel -> vocoder") and the real clips come last: read the rows against them.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from evaluation.class_match import display_name
from evaluation.fad_systems import CEILING, FLOOR

METRIC_COLUMNS = ("fad", "fad_inf", "kad", "precision", "recall", "density", "coverage")
TITLES = {
    "fad": "FAD (lower is better)",
    "fad_inf": "FAD-inf (lower is better)",
    "kad": "KAD (lower is better)",
    "precision": "precision: fidelity (higher is better)",
    "recall": "recall: diversity (higher is better)",
    "density": "density: fidelity (about 1 when the sets match)",
    "coverage": "coverage: diversity (higher is better)",
}
Rows = dict[str, dict[str, float]]  # {ClassName or "mean": {column: value}}
Systems = dict[str, Rows]


def _header(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle), [])


def is_metrics_table(path: str | Path) -> bool:
    """A `foleygan fad --metrics` CSV: a `Category` column and lowercase metric columns."""
    header = _header(Path(path))
    return "Category" in header and any(name in header for name in METRIC_COLUMNS)


def system_of(stem: str) -> str:
    special = {"metrics": "generated", "metrics_ceiling": CEILING, "metrics_real": FLOOR}
    return special.get(stem, stem.removeprefix("metrics_"))


def read_metrics_table(path: str | Path, name: str) -> Systems:
    """A metrics CSV -> {system: {ClassName or "mean": {column: value}}} (`name` when it has
    no `system` column)."""
    systems: Systems = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            system = row.pop("system", None) or name
            category = row.pop("Category")
            values = {col: float(v) for col, v in row.items() if v not in ("", None)}
            systems.setdefault(system, {})[display_name(category)] = values
    return systems


def read_validation(path: str | Path) -> tuple[float, Rows] | None:
    """(step, rows) of the last `val/kad/*`, `val/prdc/<name>/*`, `val/fad/*` values of a
    CSVLogger metrics.csv; None without KAD or PRDC keys."""
    last: dict[str, tuple[float, float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key and key.startswith(("val/kad/", "val/prdc/", "val/fad/")) and value:
                    last[key] = (float(row.get("step") or "nan"), float(value))
    if not any(key.startswith(("val/kad/", "val/prdc/")) for key in last):
        return None
    rows: Rows = {}
    for key, (_, value) in last.items():
        parts = key.split("/")  # val/kad/<Class> or val/prdc/<name>/<Class>
        column = parts[2] if parts[1] == "prdc" else parts[1]
        rows.setdefault(parts[-1], {})[column] = value
    return max(step for step, _ in last.values()), rows


def metric_systems(run_dir: str | Path, ceiling_dir: str | Path | None = None) -> Systems:
    """Every metrics table and validation record of the run; the ceiling and floor last."""
    run_dir = Path(run_dir)
    systems: Systems = {}
    for path in sorted(run_dir.glob("*.csv")):
        if is_metrics_table(path):
            systems.update(read_metrics_table(path, system_of(path.stem)))
    own = Path(ceiling_dir) / "metrics.csv" if ceiling_dir is not None else None
    if own is not None and CEILING not in systems and own.is_file() and is_metrics_table(own):
        systems[CEILING] = read_metrics_table(own, CEILING).get(CEILING, {})
    for path in sorted(run_dir.rglob("metrics.csv")):
        found = None if is_metrics_table(path) else read_validation(path)
        if found is not None:
            log = path.parent.relative_to(run_dir)
            where = "" if log == Path(".") else f"{log}, "
            systems[f"validation ({where}step {found[0]:.0f})"] = found[1]
    order = [s for s in systems if s not in (CEILING, FLOOR)]
    return {s: systems[s] for s in [*order, *(s for s in (CEILING, FLOOR) if s in systems)]}


def _cell(row: dict[str, float] | None, column: str) -> str:
    if row is None or column not in row:
        return "<td>–</td>"
    text = f"{row[column]:.3f}"
    if f"{column}_lo" in row and f"{column}_hi" in row:
        text += f" <small>[{row[f'{column}_lo']:.3f}, {row[f'{column}_hi']:.3f}]</small>"
    return f"<td>{text}</td>"


def metric_table(systems: Systems, column: str) -> str:
    """One metric: systems as rows, classes then the mean as columns ('–' where missing)."""
    classes: list[str] = []
    for rows in systems.values():
        classes += [c for c, v in rows.items() if c != "mean" and column in v and c not in classes]
    names = [*classes, "mean"]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    lines = [
        f"<tr><th>{html.escape(system)}</th>"
        + "".join(_cell(rows.get(n), column) for n in names)
        + "</tr>"
        for system, rows in systems.items()
        if any(column in v for v in rows.values())
    ]
    return (
        f"<h3>{html.escape(TITLES[column])}</h3>"
        f"<table><tr><th>system</th>{head}</tr>{''.join(lines)}</table>"
    )


def metrics_section(systems: Systems) -> str:
    """The section: one table per metric present ('' when there is none)."""
    present = [
        col for col in METRIC_COLUMNS
        if any(col in v for rows in systems.values() for v in rows.values())
    ]
    if not systems or not present:
        return ""
    note = (
        "<p>Per class, from <code>foleygan fad --metrics</code> tables and the validation "
        "callback (<code>FADCallback(metrics=[fad, kad, prdc])</code>, its last values). "
        "Brackets: 95 % clip-bootstrap interval."
    )
    if CEILING in systems:
        note += (
            f" Read each row against <b>{html.escape(CEILING)}</b>: what a perfect generator "
            "scores with this vocoder."
        )
    body = "".join(metric_table(systems, col) for col in present)
    return f"<h2>KAD, PRDC and FAD-inf per class</h2>{note}</p>{body}"
