"""`foleygan report RUN_DIR [--real DIR] [--synth DIR] [--ceiling DIR] [--per-class 3]`."""

from __future__ import annotations

import argparse

from evaluation.report import write_report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="foleygan report", description=__doc__)
    parser.add_argument("run_dir", help="run folder (synth/, resynth/, fad*.csv, logs below it)")
    parser.add_argument("--real", default=None, help="folder of real clips to show next to them")
    parser.add_argument("--synth", default=None, help="generated clips (default RUN_DIR/synth)")
    parser.add_argument(
        "--ceiling",
        default=None,
        help="resynthesised real clips (`foleygan resynth`; default RUN_DIR/resynth when "
        "present): shown beside the generated clips, their FAD (DIR/fad.csv, or a fad*.csv "
        "of the run with the ceiling row) as the 'real -> mel -> vocoder' row",
    )
    parser.add_argument("--per-class", type=int, default=3)
    args = parser.parse_args(argv)
    out = write_report(
        args.run_dir,
        real_dir=args.real,
        synth_dir=args.synth,
        per_class=args.per_class,
        ceiling_dir=args.ceiling,
    )
    print(f"report: {out.resolve()} (open it in a browser; no server needed)")
    return 0
