"""`foleygan resynth SRC --out DIR`: real clips through the mel contract and a vocoder.

The "real -> mel -> vocoder" ceiling: score DIR with `foleygan fad DIR --ref REF` beside a
generator's folder, and read the generator's FAD against it.
"""

from __future__ import annotations

import argparse
import sys

from foleygan_cli.device import cuda_missing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan resynth",
        description="Copy-synthesis: pass N real clips per class of SRC through the log-mel "
        "contract and a vocoder, and write <out>/<class folder>/<index>.wav (16-bit, mono, "
        "22,050 Hz, 88,200 samples; DCASE classes in snake_case folders, other classes under "
        "their own name). The FAD of DIR is what a perfect generator would score with this "
        "vocoder.",
    )
    parser.add_argument("src", help="dataset root of class folders (any layout `prepare` reads)")
    parser.add_argument("--out", required=True, help="output folder (class folders are created)")
    parser.add_argument(
        "--vocoder",
        default="griffin-lim",
        help="griffin-lim | hifigan | hifigan:<ckpt>[:<config.json>] (default griffin-lim)",
    )
    parser.add_argument(
        "--n-per-class", type=int, default=100,
        help="clips per class, drawn by --seed (all of a class that has fewer) (100)",
    )
    parser.add_argument("--seed", type=int, default=0, help="which clips (same seed, same files)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<index>")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    from evaluation.resynthesis import resynthesize
    from vocoders import load_vocoder

    if cuda_missing(args.device, "foleygan resynth"):
        return 2
    try:
        vocoder = load_vocoder(args.vocoder, device=args.device)
        counts = resynthesize(
            args.src,
            vocoder,
            args.out,
            n_per_class=args.n_per_class,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"foleygan resynth: {err}", file=sys.stderr)
        return 1
    listing = ", ".join(f"{name} {n}" for name, n in counts.items())
    print(f"wrote {sum(counts.values())} resynthesised clips to {args.out} ({listing})")
    print(f"score the ceiling: foleygan fad {args.out} --ref <reference folder>")
    return 0
