"""`foleygan export-encoder CKPT OUT`: a SupConEncoderModule checkpoint -> frozen-encoder file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from encoders.export import export_encoder, load_frozen_encoder


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan export-encoder",
        description="Write the self-contained frozen encoder (weights, architecture, mel "
        "parameters, class names, class centroids) that the C-SupCon GAN config points to.",
    )
    parser.add_argument("ckpt", type=Path, help="SupConEncoderModule Lightning checkpoint")
    parser.add_argument("out", type=Path, nargs="?", help="export file to write")
    parser.add_argument("--out", dest="out_option", type=Path, metavar="OUT",
                        help="the same as the positional OUT (e.g. runs/encoder/encoder.pt)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.out is None) == (args.out_option is None):
        parser.error("give the export path once: `CKPT OUT` or `CKPT --out OUT`")
    try:
        path = export_encoder(args.ckpt, args.out or args.out_option)
    except (FileNotFoundError, ValueError) as error:
        print(f"foleygan export-encoder: {error}", file=sys.stderr)
        return 2
    frozen = load_frozen_encoder(path)
    print(
        f"wrote {path}: {len(frozen.class_names)} classes, {frozen.num_features}-d embedding, "
        f"base width {frozen.encoder.base_width}, n_mels {frozen.mel_params.n_mels}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
