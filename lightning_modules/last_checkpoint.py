"""LastCheckpoint: `last.ckpt` on a step cadence and on a clock, independent of validation.

Why not a plain `ModelCheckpoint` (pytorch-lightning 2.6): one instance takes one trigger
(`every_n_train_steps`, `train_time_interval` or `every_n_epochs`); under manual optimization
(the GAN) its batch-end hook looks at `every_n_train_steps` only, so `train_time_interval` never
fires (Lightning-AI/pytorch-lightning PR #21699) and the step test `global_step % n == 0` misses
cadences that the steps per batch (`d_steps_per_g_step + 1`) do not divide; with `save_top_k=0`
it writes `last.ckpt` only when training ends; and a run that ends between two cadence saves
keeps the older state in `last.ckpt`.

This callback writes `<checkpoints>/last.ckpt` at the end of the first batch at or past every
multiple of `every_n_train_steps` global steps, at the end of the first batch after
`every_n_minutes` without a save, and when training ends; never because of validation. Both
triggers work under automatic and manual optimization. The clock is read on global rank 0 and
its decision broadcast, so every process saves at the same batch (DDP). Each save goes to a
hidden `.last.ckpt.partial` first and is renamed over `last.ckpt`: a kill mid-write keeps the
previous `last.ckpt` whole.

When `fit` dies of an exception (a callback or the training step raising, Ctrl-C, SIGTERM)
the state at that moment goes to `exception-step<N>.ckpt` beside `last.ckpt`, which keeps the
last cadence state: an exception inside a training step can fall between the D and the G
update, and a diverged run must not overwrite its last good state. `foleygan fit
--ckpt_path=last` takes the newer of the two (foleygan_cli.resume); pass a file to choose. The
file is written by the process that raised, without a barrier (under DDP every process holds
the same state), and a failure to write it is reported as a warning, never in place of the
original exception.

Put it first in a callbacks list: `trainer.checkpoint_callback` (used by `foleygan demo` and the
GAN's divergence message) is the first checkpoint callback.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
from lightning_fabric.utilities.cloud_io import _is_local_file_protocol
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.strategies import DDPStrategy, DeepSpeedStrategy, SingleDeviceStrategy

EXCEPTION_PREFIX = "exception-step"


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt` every `every_n_train_steps` global steps and every `every_n_minutes`.

    every_n_train_steps: global steps (both optimizers count under manual optimization); 0 off.
    every_n_minutes: wall-clock minutes since the last save; None off.
    save_on_exception: write `exception-step<N>.ckpt` when fit dies of an exception.
    dirpath: the folder; default `<logger save_dir>/<name>/<version>/checkpoints` as Lightning.
    """

    def __init__(
        self,
        every_n_train_steps: int = 1000,
        every_n_minutes: float | None = 30.0,
        save_on_exception: bool = True,
        dirpath: str | None = None,
    ) -> None:
        if every_n_train_steps < 0:
            raise ValueError(
                f"every_n_train_steps must be >= 0 (0 turns the step cadence off), got "
                f"{every_n_train_steps}"
            )
        if every_n_minutes is not None and every_n_minutes <= 0:
            raise ValueError(
                f"every_n_minutes must be > 0 or null (no clock), got {every_n_minutes}"
            )
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0,
                         every_n_train_steps=every_n_train_steps,
                         enable_version_counter=False)  # a resumed run never writes last-v1
        self.every_n_minutes = every_n_minutes
        self.write_on_exception = save_on_exception
        self._step_mark = 0
        self.exception_path = ""

    @property
    def state_key(self) -> str:
        return self._generate_state_key(every_n_train_steps=self._every_n_train_steps,
                                        every_n_minutes=self.every_n_minutes)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: no best-k bookkeeping, and a resumed run writes its own folder
        (ModelCheckpoint would only warn that the folder changed)."""

    # -- triggers -----------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._step_mark = self._mark(trainer.global_step)

    def _mark(self, step: int) -> int:
        return step // self._every_n_train_steps if self._every_n_train_steps else 0

    def _due(self, trainer: pl.Trainer) -> bool:
        steps = self._mark(trainer.global_step) > self._step_mark  # 0 when the cadence is off
        if self.every_n_minutes is None:
            return steps
        elapsed = time.monotonic() - (self._last_time_checked or time.monotonic())
        clock = trainer.strategy.broadcast(elapsed >= 60.0 * self.every_n_minutes)
        return steps or bool(clock)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._should_skip_saving_checkpoint(trainer) and self._due(trainer):
            self._save_last(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last(trainer)

    def _save_last(self, trainer: pl.Trainer) -> None:
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._step_mark = self._mark(trainer.global_step)
        self._last_time_checked = time.monotonic()

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        """Write `.<name>.partial` beside `filepath`, then rename it: a process killed at any
        moment leaves the previous `last.ckpt` whole. (Lightning writes through a file in $TMPDIR
        and moves it into place: a copy over the old file when $TMPDIR is another file system,
        as on many clusters.)"""
        if not (_is_local_file_protocol(filepath) and _one_file(trainer.strategy)):
            super()._save_checkpoint(trainer, filepath)
            return
        folder, name = os.path.split(filepath)
        partial = os.path.join(folder, f".{name}.partial")
        trainer.save_checkpoint(partial, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(partial, filepath)
        trainer.strategy.barrier("LastCheckpoint._save_checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Epoch ends do not save (the cadence and the clock do)."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Validation does not save (the cadence and the clock do)."""

    # -- exceptions ---------------------------------------------------------------------------
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if (not self.write_on_exception or not self.dirpath or trainer.global_step == 0
                or trainer.sanity_checking or trainer.fast_dev_run):
            return
        path = os.path.join(self.dirpath, f"{EXCEPTION_PREFIX}{trainer.global_step}.ckpt")
        what = f"{type(exception).__name__} at global step {trainer.global_step}"
        try:
            _save_without_barrier(trainer, path)
        except Exception as error:  # the run's own exception must stay the one raised
            warnings.warn(f"fit stopped by {what}; writing {path} failed too "
                          f"({type(error).__name__}: {error}); the newest cadence checkpoint "
                          f"is {self.last_model_path or 'none'}", stacklevel=2)
            return
        self.exception_path = path
        warnings.warn(f"fit stopped by {what}: its state is in {path}; the newest cadence "
                      f"checkpoint is {self.last_model_path or 'none'}. `--ckpt_path=last` "
                      "resumes from the newer of the two; pass a file to choose", stacklevel=2)


def _one_file(strategy) -> bool:
    """True for strategies whose checkpoint is one file of the whole state (single device, DDP);
    sharded ones (FSDP, DeepSpeed) write a folder from every process."""
    return isinstance(strategy, SingleDeviceStrategy | DDPStrategy) and not isinstance(
        strategy, DeepSpeedStrategy)


def _save_without_barrier(trainer: pl.Trainer, path: str) -> None:
    """Write the trainer's checkpoint from this process alone (no collective, no barrier)."""
    strategy = trainer.strategy
    if not _one_file(strategy):
        raise RuntimeError(f"{type(strategy).__name__} may shard the state: only "
                           "single-device and DDP runs write an exception checkpoint")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
    strategy.checkpoint_io.save_checkpoint(checkpoint, path)
