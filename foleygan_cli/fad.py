"""`foleygan fad GEN_DIR --ref REF_DIR`: per-class FAD, the official CSV and a printed table."""

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
        help="vggish (official) | vggish:<weights.pth> | encoder:<encoder export> "
        "(encoder numbers are not comparable with the official FAD)",
    )
    parser.add_argument("--out", default="fad.csv", help="CSV path (default fad.csv)")
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


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from evaluation.checker import SubmissionFolderError
    from evaluation.fad_folders import fad_of_folders, format_table, write_fad_csv

    try:
        results = fad_of_folders(
            args.gen_dir,
            args.ref,
            backbone=args.backbone,
            n_per_class=None if args.no_strict_count else args.n_per_class,
            batch_size=args.batch_size,
            device=args.device,
            cache_dir=args.cache_dir,
            progress=True,
        )
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
    path = write_fad_csv(results, args.out)
    print(format_table(results))
    print(f"wrote {path} (backbone {args.backbone})")
    return 0
