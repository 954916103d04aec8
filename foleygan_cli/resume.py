"""`foleygan fit --ckpt_path=last`: the newest checkpoint of this run's name, any version.

Lightning resolves `ckpt_path="last"` in the checkpoint folder of the run it is starting. With a
logger that folder is `<save_dir>/<name>/version_<n+1>/checkpoints/`, new and empty, so the
killed run's `version_<n>/checkpoints/last.ckpt` is never found: Lightning warns and trains from
step 0. `find_last_checkpoint` looks where earlier runs of the same logger name wrote instead:

- `last*.ckpt` and `exception-step<N>.ckpt` (LastCheckpoint's state when a run died of an
  exception: SIGTERM from a preempting scheduler, Ctrl-C, a failing callback) in
  `<save_dir>/<name>/*/checkpoints/` of the first logger (every version), or in
  `<default_root_dir>/checkpoints/` without a logger, and in the `dirpath` of every
  `ModelCheckpoint` that names one;
- `hpc_ckpt_<k>.ckpt` in `default_root_dir` (Lightning's SLURM requeue checkpoint).

The newest by modification time wins. `check_resume_checkpoint` then refuses a missing file or
a checkpoint of other classes with a message that says what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from pytorch_lightning.callbacks import ModelCheckpoint

_LAST = re.compile(r"^(last(-v\d+)?|exception-step\d+(-v\d+)?)\.ckpt$")
_HPC = re.compile(r"^hpc_ckpt_\d+\.ckpt$")


def checkpoint_folders(trainer) -> list[Path]:
    """The folders that may hold this run name's `last.ckpt` files."""
    folders = []
    if trainer.loggers and trainer.loggers[0].save_dir is not None:
        logger = trainer.loggers[0]
        run = Path(logger.save_dir) / str(logger.name or "")
        folders += sorted(run.glob("*/checkpoints"))
    else:
        folders.append(Path(trainer.default_root_dir) / "checkpoints")
    folders += [Path(cb.dirpath) for cb in trainer.checkpoint_callbacks
                if isinstance(cb, ModelCheckpoint) and cb.dirpath]
    return folders


def find_last_checkpoint(trainer) -> Path | None:
    """The newest `last*.ckpt` / `exception-step*.ckpt` of this run name or `hpc_ckpt_*.ckpt`;
    None when there is none."""
    found = [path for folder in checkpoint_folders(trainer) if folder.is_dir()
             for path in folder.iterdir() if _LAST.match(path.name)]
    root = Path(trainer.default_root_dir)
    if root.is_dir():
        found += [path for path in root.iterdir() if _HPC.match(path.name)]
    found = [path for path in found if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def check_resume_checkpoint(path: str | Path, model) -> None:
    """Refuse a missing file, or a checkpoint of other classes than `model`'s, before Lightning
    loads it (Lightning says "Checkpoint file not found" without the fix, reports other class
    counts as tensor size mismatches, and resumes the same count of other names silently)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"--ckpt_path {path} not found: pass a checkpoint file (runs/<name>/version_<n>/"
            "checkpoints/*.ckpt), or --ckpt_path=last for the newest last.ckpt of this run name")
    try:  # memory-mapped: only the small hyper-parameter record is read here
        ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # a truncated or foreign file: the fix is the same
        raise ValueError(f"--ckpt_path {path} is not a readable Lightning checkpoint "
                         f"({type(error).__name__}: {error}); pass another one, e.g. "
                         "--ckpt_path=last") from error
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"--ckpt_path {path} holds no state_dict: not a Lightning checkpoint; "
                         "pass one from runs/<name>/version_<n>/checkpoints/")
    trained = (ckpt.get("hyper_parameters") or {}).get("class_names")
    wanted = getattr(model, "hparams", {}).get("class_names")
    if trained is not None and wanted is not None and list(trained) != list(wanted):
        raise ValueError(
            f"--ckpt_path {path} was trained on the classes {list(trained)}, this run's data "
            f"has {list(wanted)}: resume it with the data_root (and class_names) it was trained "
            "on, or start a new run without --ckpt_path")
