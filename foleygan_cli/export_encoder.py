"""`foleygan export-encoder CKPT OUT`: a SupConEncoderModule checkpoint -> frozen-encoder file.

The CLI owns this step because it needs the training module's class to read the checkpoint;
`encoders.export` only writes and reads the export file (imports run one way).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from encoders.export import export_from_module, load_frozen_encoder


def export_checkpoint(ckpt_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """SupConEncoderModule Lightning checkpoint -> frozen-encoder export at out_path."""
    from lightning_modules.supcon import SupConEncoderModule

    ckpt = Path(ckpt_path)
    if not ckpt.is_file():
        raise FileNotFoundError(
            f"checkpoint {ckpt} not found: pass a SupConEncoderModule checkpoint "
            "(runs/<experiment>/<version>/checkpoints/*.ckpt)"
        )
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
    hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if "state_dict" not in checkpoint or "proj_dim" not in hparams or "base_width" not in hparams:
        raise ValueError(
            f"{ckpt} is not a SupConEncoderModule checkpoint (no state_dict / encoder "
            "hyper-parameters); export-encoder needs the encoder pretraining checkpoint"
        )
    module = SupConEncoderModule.load_from_checkpoint(ckpt, map_location="cpu")
    return export_from_module(module, out_path)


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
        path = export_checkpoint(args.ckpt, args.out or args.out_option)
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
