"""`foleygan report RUN_DIR [--real DIR] [--synth DIR] [--per-class 3]`."""

from __future__ import annotations

import argparse

from evaluation.report import write_report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="foleygan report", description=__doc__)
    parser.add_argument("run_dir", help="run folder (synth/, fad*.csv, logs below it)")
    parser.add_argument("--real", default=None, help="folder of real clips to show next to them")
    parser.add_argument("--synth", default=None, help="generated clips (default RUN_DIR/synth)")
    parser.add_argument("--per-class", type=int, default=3)
    args = parser.parse_args(argv)
    out = write_report(
        args.run_dir, real_dir=args.real, synth_dir=args.synth, per_class=args.per_class
    )
    print(f"report: {out.resolve()} (open it in a browser; no server needed)")
    return 0
