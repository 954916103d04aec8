"""`foleygan synthetic OUT_DIR`: write the procedural 7-class synthetic Foley set."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from datamodules.synthetic import make_synthetic_dataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan synthetic",
        description="Write <OUT_DIR>/<ClassName>/<classname>_<idx>.wav: 7 classes of 4 s, "
        "22,050 Hz, 16-bit procedural Foley clips (deterministic by seed; existing files kept).",
    )
    parser.add_argument("out_dir", type=Path, help="dataset root to write")
    parser.add_argument("--clips-per-class", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="rewrite existing files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        root = make_synthetic_dataset(
            args.out_dir, clips_per_class=args.clips_per_class, seed=args.seed,
            overwrite=args.overwrite,
        )
    except ValueError as error:
        print(f"foleygan synthetic: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    print(f"synthetic set: 7 classes x {args.clips_per_class} clips in {root} ({seconds:.1f} s)")
    print(f"next: foleygan prepare {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
