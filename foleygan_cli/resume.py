"""`foleygan fit --ckpt_path=last`: the newest last checkpoint of this run's name, any version.

Lightning resolves `ckpt_path="last"` in the checkpoint folder of the run it is starting. With a
logger that folder is `<save_dir>/<name>/version_<n+1>/checkpoints/`, new and empty, so the
killed run's `version_<n>/checkpoints/last.ckpt` is never found: Lightning warns and trains from
step 0. `find_last_checkpoint` looks where earlier runs of the same logger name wrote instead:

- `last*.ckpt` in `<save_dir>/<name>/*/checkpoints/` of the first logger (every version), or in
  `<default_root_dir>/checkpoints/` without a logger, and in the `dirpath` of every
  `ModelCheckpoint` that names one;
- `hpc_ckpt_<k>.ckpt` in `default_root_dir` (Lightning's SLURM requeue checkpoint).

The newest by modification time wins. Exception checkpoints (`exception-step<N>.ckpt`) are
never taken by `last`: pass their path explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytorch_lightning.callbacks import ModelCheckpoint

_LAST = re.compile(r"^last(-v\d+)?\.ckpt$")
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
    """The newest `last*.ckpt` of this run name or `hpc_ckpt_*.ckpt`; None when there is none."""
    found = [path for folder in checkpoint_folders(trainer) if folder.is_dir()
             for path in folder.iterdir() if _LAST.match(path.name)]
    root = Path(trainer.default_root_dir)
    if root.is_dir():
        found += [path for path in root.iterdir() if _HPC.match(path.name)]
    found = [path for path in found if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None
