"""`foleygan synth CKPT --out DIR`: clips per class in the DCASE 2023 Task 7 submission layout.

One folder per class of the checkpoint (the classes it was trained on, stored in it): DCASE's
snake_case folder for a DCASE class (the submission layout), the class name for any other.
"""

from __future__ import annotations

import argparse
import sys

from foleygan_cli.device import cuda_missing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan synth",
        description="Generate N clips per class of a FoleyGAN checkpoint (its own classes) and "
        "write <out>/<class folder>/<index>.wav (16-bit, mono, 22,050 Hz, 88,200 samples; "
        "snake_case folders for DCASE classes, the class name otherwise).",
    )
    parser.add_argument("ckpt", help="FoleyGAN checkpoint, or a run folder (its newest last.ckpt)")
    parser.add_argument("--out", required=True, help="output folder (class folders are created)")
    parser.add_argument("--n-per-class", type=int, default=100, help="clips per class (100)")
    parser.add_argument(
        "--vocoder",
        default="griffin-lim",
        help="griffin-lim | hifigan:<ckpt>[:<config.json>] (default griffin-lim)",
    )
    parser.add_argument("--seed", type=int, default=0,
                        help="noise seed; with --untrained also G's init (same seed, same files)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<index>")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--untrained",
        action="store_true",
        help="the checkpoint's architecture at its initialisation (a baseline to beat)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    from evaluation.synthesis import synthesize
    from lightning_modules.generator_loading import load_generator
    from vocoders import load_vocoder

    if cuda_missing(args.device, "foleygan synth"):
        return 2
    try:
        generator = (
            load_generator(args.ckpt, map_location=args.device, untrained=args.untrained,
                           init_seed=args.seed)
            .to(args.device)
            .eval()
        )
        vocoder = load_vocoder(args.vocoder, device=args.device)
        out = synthesize(
            generator,
            vocoder,
            args.out,
            n_per_class=args.n_per_class,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"foleygan synth: {err}", file=sys.stderr)
        return 1
    from evaluation.synthesis import folder_name

    total = args.n_per_class * len(generator.class_names)
    folders = ", ".join(folder_name(name) for name in generator.class_names)
    print(f"wrote {total} clips ({args.n_per_class} per class) to {out}: {folders}")
    return 0
