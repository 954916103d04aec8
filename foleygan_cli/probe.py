"""`foleygan probe CKPT --encoder E`: does G draw the class it is asked for? Per-class accuracy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan probe",
        description="Generate N mels per class from a FoleyGAN checkpoint and classify them with "
        "the frozen SupCon encoder's probe (nearest class centroid). Prints per-class accuracy "
        "(chance = 1 / classes), next to the untrained generator's unless --no-baseline.",
    )
    parser.add_argument("ckpt", help="FoleyGAN checkpoint, or a run folder (its newest last.ckpt)")
    parser.add_argument("--encoder", required=True, help="frozen encoder export (encoder.pt)")
    parser.add_argument("--n-per-class", type=int, default=100, help="mels per class (100)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same result)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:<index>")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the untrained generator's column")
    parser.add_argument("--out", default=None,
                        help="JSON with per-class accuracies and confusion matrices, plus a PNG "
                        "of the trained confusion matrix next to it")
    return parser


def _accuracy_table(names: list[str], columns: dict[str, list[float | None]]) -> str:
    width = max(len(n) for n in [*names, "mean"])
    head = f"{'class':<{width}}" + "".join(f" {title:>10}" for title in columns)
    rows = [head, "-" * len(head)]
    for i, name in enumerate(names):
        rows.append(f"{name:<{width}}" + "".join(f" {col[i]:>10.2f}" for col in columns.values()))
    means = [sum(col) / len(col) for col in columns.values()]
    rows.append(f"{'mean':<{width}}" + "".join(f" {m:>10.3f}" for m in means))
    rows.append(f"chance = 1/{len(names)} = {1 / len(names):.3f}")
    return "\n".join(rows)


def _write_outputs(out: Path, names: list[str], confusions: dict, accs: dict) -> None:
    from datamodules.atomic import atomic_path
    from evaluation.confusion import figure_png, render_confusion

    payload = {"class_names": names, "accuracy": accs,
               "confusion": {k: v.tolist() for k, v in confusions.items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2) + "\n")
    png = out.with_suffix(".png")
    fig = render_confusion(confusions["trained"], names, "encoder probe on generated mels")
    with atomic_path(png) as tmp:
        Path(tmp).write_bytes(figure_png(fig))
    print(f"wrote {out} and {png}")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from encoders.export import load_frozen_encoder
    from encoders.probe import accuracies
    from evaluation.class_probe import probe_confusion
    from lightning_modules.generator_loading import load_generator

    try:
        encoder = load_frozen_encoder(args.encoder, map_location=args.device)
        variants = {"trained": False} if args.no_baseline else {"trained": False, "untrained": True}
        confusions = {}
        for title, untrained in variants.items():
            generator = load_generator(args.ckpt, map_location=args.device, untrained=untrained)
            confusions[title] = probe_confusion(generator, encoder, args.n_per_class,
                                                args.batch_size, args.seed)
    except (FileNotFoundError, ValueError) as err:
        print(f"foleygan probe: {err}", file=sys.stderr)
        return 2
    names = list(encoder.class_names)
    accs = {title: accuracies(conf)[1] for title, conf in confusions.items()}
    print(_accuracy_table(names, accs))
    if args.out:
        _write_outputs(Path(args.out), names, confusions, accs)
    return 0
