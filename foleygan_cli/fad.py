"""`foleygan fad GEN_DIR --ref REF_DIR`: per-class FAD, the official CSV and a printed table.

`--metrics fad,kad,prdc,fad_inf` and `--bootstrap N` add Kernel Audio Distance, precision /
recall / density / coverage, FAD-inf and 95 % clip-bootstrap intervals: one CSV with a column per
value (and a `mean` row). With FAD alone and no bootstrap the output is the official
`Category,FAD` CSV, as before.

Class folders are matched by name (either DCASE spelling); a class on one side only is an error
naming both lists, `--allow-missing` scores the classes on both sides and names the others.
`--ceiling RESYNTH_DIR` (written by `foleygan resynth`) scores the "real -> mel -> vocoder"
system too and prints it as a row beside the generator; the CSV then has a `system` column.
"""

from __future__ import annotations

import argparse
import sys
import warnings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan fad",
        description="Per-class Frechet Audio Distance of generated clips (DCASE layout) against "
        "a reference folder of class folders. Writes the official `Category,FAD` CSV.",
    )
    parser.add_argument("gen_dir", help="generated clips: <class folder>/*.wav (as foleygan synth)")
    parser.add_argument("--ref", required=True, help="reference clips: <class folder>/*.wav")
    parser.add_argument(
        "--backbone",
        default="vggish",
        help="vggish (official) | vggish:<weights.pth> | encoder:<encoder export> | panns | "
        "panns:<Cnn14_mAP=0.431.pth> (only vggish gives the official numbers)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="CSV path (default fad.csv; metrics.csv with --metrics beyond fad or --bootstrap)",
    )
    parser.add_argument(
        "--metrics",
        default="fad",
        help="comma-separated: fad (official), kad, prdc (precision, recall, density, coverage), "
        "fad_inf (default: fad)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="N clip-bootstrap resamples for 95%% intervals of FAD and KAD (0 = none; 200 is "
        "a good value)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of FAD-inf and the bootstrap")
    parser.add_argument("--k", type=int, default=5, help="nearest neighbours for prdc (5)")
    parser.add_argument("--n-per-class", type=int, default=100, help="clips per class (100)")
    parser.add_argument(
        "--no-strict-count",
        action="store_true",
        help="accept any number of clips per class (quick runs; not a valid submission)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="score the classes present on both sides and name the others (default: a class "
        "folder on one side only is an error)",
    )
    parser.add_argument(
        "--ceiling",
        default=None,
        metavar="RESYNTH_DIR",
        help="also score this folder of resynthesised real clips (`foleygan resynth`): the "
        "'real -> mel -> vocoder' row, what a perfect generator would score with that vocoder",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<index>")
    parser.add_argument("--cache-dir", default=None, help="reference statistics cache folder")
    return parser


def _score(
    args: argparse.Namespace, folder: str, metrics: tuple[str, ...], n_per_class: int | None
) -> dict[str, dict[str, float]]:
    """{class or "mean": {column: value}} of one folder against --ref."""
    from evaluation import fad_folders

    common = dict(
        backbone=args.backbone,
        n_per_class=n_per_class,
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        progress=True,
        allow_missing=args.allow_missing,
    )
    if _fad_only(args, metrics) and not str(args.backbone).startswith("panns"):
        fad = fad_folders.fad_of_folders(folder, args.ref, **common)
        return {name: {"fad": value} for name, value in fad.items()}
    # PANNs alone: 100 clips of 2,048 dims, the exact low-rank path (seconds, not minutes)
    return fad_folders.evaluate_folders(
        folder, args.ref, metrics=metrics, n_boot=args.bootstrap, seed=args.seed, k=args.k,
        **common,
    )


def _fad_only(args: argparse.Namespace, metrics: tuple[str, ...]) -> bool:
    return metrics == ("fad",) and args.bootstrap == 0


def _run(args: argparse.Namespace, metrics: tuple[str, ...]) -> tuple[dict, str]:
    """(results, printed report) for the official FAD-only path or the metrics path, with the
    ceiling row when --ceiling is given."""
    from evaluation import fad_folders, fad_systems

    strict = None if args.no_strict_count else args.n_per_class
    results = _score(args, args.gen_dir, metrics, strict)
    fad_only = _fad_only(args, metrics)
    if args.ceiling is None and fad_only:
        fad = {name: row["fad"] for name, row in results.items()}
        path = fad_folders.write_fad_csv(fad, args.out or "fad.csv")
        return fad, fad_folders.format_table(fad) + f"\nwrote {path}"
    if args.ceiling is None:
        path = fad_folders.write_metrics_csv(results, args.out or "metrics.csv")
        return results, fad_folders.format_metrics_table(results) + f"\nwrote {path}"
    # the ceiling is not a submission: any number of clips per class
    systems = {
        fad_systems.GENERATOR: results,
        fad_systems.CEILING: _score(args, args.ceiling, metrics, None),
    }
    if fad_only:
        fad = {s: {n: row["fad"] for n, row in rows.items()} for s, rows in systems.items()}
        path = fad_systems.write_systems_csv(fad, args.out or "fad.csv")
        return fad, fad_systems.format_systems_table(fad) + _CEILING_NOTE + f"\nwrote {path}"
    path = fad_systems.write_systems_metrics_csv(systems, args.out or "metrics.csv")
    tables = [f"{s}:\n{fad_folders.format_metrics_table(rows)}" for s, rows in systems.items()]
    return systems, "\n\n".join(tables) + _CEILING_NOTE + f"\nwrote {path}"


_CEILING_NOTE = (
    "\n(real -> mel -> vocoder: what a perfect generator would score with this vocoder; read "
    "the generator against it, not against 0)"
)


def _print_notes(caught: list[warnings.WarningMessage]) -> None:
    """The project's warnings (classes left out, folders ignored) as notes; others as they are."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    notes = []
    for w in caught:
        where = Path(w.filename).resolve()
        ours = where.is_relative_to(root) and ".venv" not in where.parts
        if ours and w.category is UserWarning:
            notes.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for note in dict.fromkeys(notes):
        print(f"foleygan fad: note: {note}", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from evaluation.checker import SubmissionFolderError
    from evaluation.class_metrics import parse_metrics

    try:
        metrics = parse_metrics(args.metrics)
        if args.bootstrap < 0:
            raise ValueError(
                f"--bootstrap must be 0 (none) or a positive count, got {args.bootstrap}"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            _, report = _run(args, metrics)
    except SubmissionFolderError as err:
        print(f"foleygan fad: {args.gen_dir} is not a valid submission folder:", file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "fix the problems above (or pass --no-strict-count for a quick run with fewer clips)",
            file=sys.stderr,
        )
        return 1
    except (FileNotFoundError, ValueError) as err:
        print(f"foleygan fad: {err}", file=sys.stderr)
        return 1
    _print_notes(caught)
    print(report + f" (backbone {args.backbone})")
    return 0
