"""LastCheckpoint: last.ckpt on a step cadence and a clock under manual optimization, the final
state at the end, one last.ckpt beside a best-k ModelCheckpoint, the exception checkpoint, and
an exact resume from a cadence checkpoint (plus what a mid-epoch resume cannot reproduce)."""

from __future__ import annotations

import importlib
import shutil
import signal
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from conftest import make_cpu_trainer
from gan_fixtures import SMALL, TinyData
from lightning_modules.gan import FoleyGANModule
from lightning_modules.last_checkpoint import LastCheckpoint

CALLBACKS = Path(__file__).resolve().parents[2] / "configs" / "callbacks"


def _step_in(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


class _Watch(pl.Callback):
    """After each batch (and after LastCheckpoint): the global step stored in last.ckpt; raises
    at `boom`; copies last.ckpt to `copy_to` when it holds `copy_at`; records the batches."""

    def __init__(self, folder: Path, sleep: float = 0.0, boom: int | None = None,
                 copy_at: int | None = None, copy_to: Path | None = None) -> None:
        self.folder, self.sleep, self.boom = folder, sleep, boom
        self.copy_at, self.copy_to = copy_at, copy_to
        self.saved: list[int] = []
        self.batches: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.manual_seed(1000 + trainer.global_step)  # the same noise for the same step
        self.batches.append(batch["mel"].clone())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.sleep)
        last = self.folder / "last.ckpt"
        if last.exists():
            self.saved.append(_step_in(last))
            if self.saved[-1] == self.copy_at and self.copy_to is not None:
                shutil.copyfile(last, self.copy_to)
        if trainer.global_step == self.boom:
            raise RuntimeError(f"callback failed at step {self.boom}")


def _fit(folder: Path, checkpoint: pl.Callback, watch: _Watch | None = None, max_steps: int = 12,
         ckpt_path: str | None = None, **trainer_args):
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c", grad_clip=1.0)
    callbacks = [checkpoint] + ([watch] if watch is not None else [])
    trainer = make_cpu_trainer(max_steps=max_steps, limit_val_batches=0, callbacks=callbacks,
                               enable_checkpointing=True, default_root_dir=folder,
                               **trainer_args)
    trainer.fit(model, datamodule=TinyData(), ckpt_path=ckpt_path)
    return model, trainer


def test_step_cadence_counts_global_steps_of_both_optimizers(tmp_path, one_thread) -> None:
    watch = _Watch(tmp_path)
    _, trainer = _fit(tmp_path, LastCheckpoint(every_n_train_steps=3, every_n_minutes=None,
                                               dirpath=tmp_path), watch, max_steps=13)
    # 2 global steps per batch: the first batch end at or past each multiple of 3 (Lightning's
    # `global_step % 3 == 0` would save at 6 and 12 only) ...
    assert sorted(set(watch.saved)) == [4, 6, 10, 12]
    # ... and the final state when training ends between two saves
    assert trainer.global_step == 14 and _step_in(tmp_path / "last.ckpt") == 14
    assert trainer.checkpoint_callback.last_model_path == str(tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_clock_saves_under_manual_optimization(tmp_path, one_thread) -> None:
    watch = _Watch(tmp_path, sleep=0.15)  # every batch takes longer than the 0.12 s interval
    _fit(tmp_path, LastCheckpoint(every_n_train_steps=0, every_n_minutes=0.002, dirpath=tmp_path),
         watch, max_steps=8)
    assert watch.saved == [2, 4, 6] and _step_in(tmp_path / "last.ckpt") == 8


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="every_n_train_steps must be >= 0"):
        LastCheckpoint(every_n_train_steps=-1)
    with pytest.raises(ValueError, match="every_n_minutes must be > 0 or null"):
        LastCheckpoint(every_n_minutes=0)


class _LogScore(pl.Callback):
    """Logs a made-up validation score under `key` (what FAD / the probe would log)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        pl_module.log(self.key, float(trainer.global_step % 7))


def _shipped_checkpoints(name: str) -> list[pl.Callback]:
    """The checkpoint callbacks of configs/callbacks/<name>.yaml, as the CLI builds them."""
    built = []
    for spec in yaml.safe_load((CALLBACKS / name).read_text())["trainer"]["callbacks"]:
        module, _, cls_name = spec["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module), cls_name)
        if issubclass(cls, pl.callbacks.ModelCheckpoint):
            built.append(cls(**spec.get("init_args", {})))
    return built


@pytest.mark.parametrize("name", ["gan.yaml", "encoder.yaml", "gan_cpu.yaml", "demo.yaml",
                                  "tiny_1s.yaml"])
def test_shipped_callbacks_have_one_last_writer_first(name) -> None:
    callbacks = _shipped_checkpoints(name)
    assert isinstance(callbacks[0], LastCheckpoint) and callbacks[0].write_on_exception
    assert not any(cb.save_last for cb in callbacks[1:])


@pytest.mark.parametrize(("name", "key"), [("gan.yaml", "val/fad/mean"),
                                           ("encoder.yaml", "val/probe/acc")])
def test_shipped_callbacks_write_one_last_ckpt(tmp_path, one_thread, name, key) -> None:
    """Two ModelCheckpoint instances with save_last would write last.ckpt and last-v1.ckpt."""
    callbacks = _shipped_checkpoints(name)
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c")
    trainer = make_cpu_trainer(max_steps=12, val_check_interval=2, limit_val_batches=1,
                               enable_checkpointing=True, callbacks=[*callbacks, _LogScore(key)],
                               default_root_dir=tmp_path)
    trainer.fit(model, datamodule=TinyData())
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert [n for n in names if n.startswith("last")] == ["last.ckpt"], names
    assert _step_in(tmp_path / "checkpoints" / "last.ckpt") == 12
    best = [n for n in names if not n.startswith("last")]
    assert len(best) == min(callbacks[1].save_top_k, 3), names  # 3 validations


def test_exception_in_a_callback_leaves_an_exception_checkpoint(tmp_path, one_thread) -> None:
    watch = _Watch(tmp_path, boom=6)
    checkpoint = LastCheckpoint(every_n_train_steps=4, every_n_minutes=None, dirpath=tmp_path)
    with pytest.raises(RuntimeError, match="callback failed at step 6"), \
            pytest.warns(UserWarning, match="exception-step6.ckpt"):
        _fit(tmp_path, checkpoint, watch)
    state = torch.load(tmp_path / "exception-step6.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 6 and int(state["state_dict"]["g_steps"]) == 3
    assert len(state["optimizer_states"]) == 2
    assert _step_in(tmp_path / "last.ckpt") == 4  # last.ckpt keeps the last cadence state
    assert checkpoint.exception_path == str(tmp_path / "exception-step6.ckpt")


def test_a_failing_exception_checkpoint_keeps_the_original_error(tmp_path, monkeypatch,
                                                                   one_thread) -> None:
    from lightning_modules import last_checkpoint

    def full_disk(trainer, path):
        raise OSError("No space left on device")

    monkeypatch.setattr(last_checkpoint, "_save_without_barrier", full_disk)
    with pytest.raises(RuntimeError, match="callback failed at step 4"), \
            pytest.warns(UserWarning, match="No space left on device"):
        _fit(tmp_path, LastCheckpoint(dirpath=tmp_path), _Watch(tmp_path, boom=4))
    assert not list(tmp_path.glob("exception-*.ckpt"))


def _state(model: FoleyGANModule, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
    """Every tensor a next step depends on: parameters, buffers (EMA, g_steps), Adam states."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, opt in enumerate(trainer.optimizers):
        for p, slots in opt.state_dict()["state"].items():
            state |= {f"opt{i}.{p}.{k}": torch.as_tensor(v) for k, v in slots.items()}
    return state


def _assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("at", [4, 2], ids=["epoch_end", "mid_epoch"])
def test_resume_from_a_cadence_checkpoint(tmp_path, one_thread, at) -> None:
    """TinyData: 2 batches of 4 per epoch, 2 global steps per batch (4 per epoch)."""
    mid = tmp_path / "mid.ckpt"
    straight = _Watch(tmp_path / "a", copy_at=at, copy_to=mid)
    model, trainer = _fit(tmp_path / "a", LastCheckpoint(every_n_train_steps=2,
                                                         dirpath=tmp_path / "a"),
                          straight, max_steps=at + 2)
    runs = []
    for name in ("b", "c"):  # the same checkpoint twice: one more batch each
        watch = _Watch(tmp_path / name)
        checkpoint = LastCheckpoint(every_n_train_steps=2, dirpath=tmp_path / name)
        resumed, resumed_trainer = _fit(tmp_path / name, checkpoint, watch, max_steps=at + 2,
                                        ckpt_path=str(mid))
        assert resumed_trainer.global_step == at + 2 and int(resumed.g_steps) == at // 2 + 1
        runs.append((_state(resumed, resumed_trainer), watch.batches))
    _assert_equal(runs[0][0], runs[1][0])  # everything the next step needs is in the checkpoint
    first_batch_after_resume = runs[0][1][0]
    if at == 4:  # from an epoch end the resumed step is the uninterrupted run's step, bit for bit
        assert torch.equal(first_batch_after_resume, straight.batches[at // 2])
        _assert_equal(runs[0][0], _state(model, trainer))
    else:  # mid-epoch the data iterator is not in the checkpoint: the epoch starts over
        assert torch.equal(first_batch_after_resume, straight.batches[0])
        assert not torch.equal(first_batch_after_resume, straight.batches[at // 2])


class _DieWhileSaving(pl.Callback):
    """From global step `step` on, the trainer's save writes half a file and dies (a kill)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            def half_then_die(filepath, weights_only=False, storage_options=None) -> None:
                Path(filepath).write_bytes(b"PK\x03\x04 half a checkpoint")
                raise KeyboardInterrupt("killed while writing")

            trainer.save_checkpoint = half_then_die


def test_a_save_killed_mid_write_keeps_the_previous_last_ckpt(tmp_path, one_thread) -> None:
    checkpoint = LastCheckpoint(every_n_train_steps=2, dirpath=tmp_path, save_on_exception=False)
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT after an interrupt
    try:
        with pytest.raises(SystemExit):  # Lightning's answer to an interrupt: exit(1)
            _fit(tmp_path, checkpoint, _DieWhileSaving(4))
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert _step_in(tmp_path / "last.ckpt") == 4  # the save of step 6 never replaced it
    assert (tmp_path / ".last.ckpt.partial").read_bytes().endswith(b"half a checkpoint")


class _CtrlCAt(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 6:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_an_exception_checkpoint(tmp_path, one_thread) -> None:
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit), pytest.warns(UserWarning, match="KeyboardInterrupt"):
            _fit(tmp_path, LastCheckpoint(every_n_train_steps=4, dirpath=tmp_path), _CtrlCAt())
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert _step_in(tmp_path / "exception-step6.ckpt") == 6


def test_resuming_into_the_same_folder_keeps_one_last_ckpt(tmp_path, one_thread) -> None:
    _fit(tmp_path, LastCheckpoint(every_n_train_steps=2, dirpath=tmp_path), max_steps=4)
    _fit(tmp_path, LastCheckpoint(every_n_train_steps=2, dirpath=tmp_path), max_steps=8,
         ckpt_path=str(tmp_path / "last.ckpt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # not last-v1.ckpt
    assert _step_in(tmp_path / "last.ckpt") == 8
