"""`foleygan fad GEN_DIR --ref REF_DIR`: per-class FAD, the official CSV and a printed table.

`--metrics fad,kad,prdc,fad_inf` and `--bootstrap N` add Kernel Audio Distance, precision /
recall / density / coverage, FAD-inf and 95 % clip-bootstrap intervals: one CSV with a column per
value (and a `mean` row). With FAD alone and no bootstrap the output is the official
`Category,FAD` CSV, as before.
"""

from __future__ import annotations

import argparse
import sys


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
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<index>")
    parser.add_argument("--cache-dir", default=None, help="reference statistics cache folder")
    return parser


def _run(args: argparse.Namespace, metrics: tuple[str, ...]) -> tuple[dict, str]:
    """(results, CSV path written) for the official FAD-only path or the metrics path."""
    from evaluation import fad_folders

    common = dict(
        backbone=args.backbone,
        n_per_class=None if args.no_strict_count else args.n_per_class,
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        progress=True,
    )
    fad_only = metrics == ("fad",) and args.bootstrap == 0
    if fad_only and not str(args.backbone).startswith("panns"):
        results = fad_folders.fad_of_folders(args.gen_dir, args.ref, **common)
        path = fad_folders.write_fad_csv(results, args.out or "fad.csv")
        return results, fad_folders.format_table(results) + f"\nwrote {path}"
    results = fad_folders.evaluate_folders(
        args.gen_dir,
        args.ref,
        metrics=metrics,
        n_boot=args.bootstrap,
        seed=args.seed,
        k=args.k,
        **common,
    )
    if fad_only:  # PANNs: 100 clips of 2,048 dims, the exact low-rank path (seconds, not minutes)
        fad = {name: row["fad"] for name, row in results.items()}
        path = fad_folders.write_fad_csv(fad, args.out or "fad.csv")
        return fad, fad_folders.format_table(fad) + f"\nwrote {path}"
    path = fad_folders.write_metrics_csv(results, args.out or "metrics.csv")
    return results, fad_folders.format_metrics_table(results) + f"\nwrote {path}"


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
    print(report + f" (backbone {args.backbone})")
    return 0
