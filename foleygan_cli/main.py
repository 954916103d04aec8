"""Entry point of the `foleygan` console script.

`foleygan fit|validate|test|predict ...` is LightningCLI (see `foleygan_cli/lightning.py`);
every other subcommand lives in its own module with a `main(argv) -> int` function.
"""

from __future__ import annotations

import importlib
import sys

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

# subcommand -> (module, one-line help)
TOOLS: dict[str, tuple[str, str]] = {
    "download": (
        "foleygan_cli.download",
        "fetch and extract the DCASE 2023 Task 7 development set",
    ),
    "prepare": ("foleygan_cli.prepare", "compute the log-mel cache of a dataset root"),
    "synthetic": ("foleygan_cli.synthetic", "write the procedural 7-class synthetic Foley set"),
    "export-encoder": (
        "foleygan_cli.export_encoder",
        "export a frozen SupCon encoder from a checkpoint",
    ),
    "synth": ("foleygan_cli.synth", "generate clips per class in the DCASE submission layout"),
    "resynth": (
        "foleygan_cli.resynth",
        "real clips -> mel -> vocoder in the submission layout (the FAD ceiling)",
    ),
    "probe": (
        "foleygan_cli.probe",
        "per-class accuracy of the frozen encoder's probe on a generator's mels",
    ),
    "fad": ("foleygan_cli.fad", "per-class FAD of a folder of wavs against a reference folder"),
    "fetch-vggish": (
        "foleygan_cli.fetch_vggish",
        "download the VGGish weights (torchvggish format)",
    ),
    "fetch-panns": (
        "foleygan_cli.fetch_panns",
        "download the PANNs CNN14 weights (Cnn14_mAP=0.431.pth) for --backbone panns",
    ),
    "report": ("foleygan_cli.report", "write the static listening report of a run"),
    "sweep": ("foleygan_cli.sweep", "create a W&B sweep from a YAML and start an agent"),
    "demo": ("foleygan_cli.demo", "the whole pipeline on the synthetic set, on a CPU"),
}


def _usage() -> str:
    lines = ["usage: foleygan <command> [options]", "", "training (LightningCLI):"]
    lines += [f"  {name:<16} LightningCLI {name}" for name in LIGHTNING_SUBCOMMANDS]
    lines += ["", "tools:"]
    lines += [f"  {name:<16} {help_}" for name, (_, help_) in TOOLS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_SUBCOMMANDS:
        from foleygan_cli.lightning import run_lightning_cli

        run_lightning_cli([command, *rest])
        return 0
    if command not in TOOLS:
        print(f"foleygan: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(TOOLS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
