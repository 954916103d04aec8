"""Lightning's SLURM requeue path in-process: with SLURMEnvironment(auto_requeue=True) the
requeue signal writes <default_root_dir>/hpc_ckpt_1.ckpt and calls `scontrol requeue <job>`
(a fake on PATH); the subprocess version with the requeued job's resume is
tests/foleygan_cli/test_slurm_requeue.py (slow)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.environments import SLURMEnvironment
from slurm_fakes import JOB, SIGUSR1, SLURM_VARS, fake_scontrol, needs_signal_path

from conftest import make_cpu_trainer
from gan_fixtures import SMALL, TinyData
from lightning_modules.gan import FoleyGANModule


class _SignalAt(pl.Callback):
    """Sends this process `signum` after the batch that reaches global step `step`."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@needs_signal_path
def test_requeue_signal_writes_an_hpc_checkpoint_and_calls_scontrol(tmp_path, monkeypatch,
                                                                     one_thread) -> None:
    folder, calls = fake_scontrol(tmp_path)
    for key, value in SLURM_VARS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    before = signal.getsignal(SIGUSR1)
    trainer = make_cpu_trainer(
        max_steps=8, limit_val_batches=0, default_root_dir=tmp_path / "root",
        plugins=[SLURMEnvironment(auto_requeue=True, requeue_signal=SIGUSR1)],
        callbacks=[_SignalAt(SIGUSR1, 4)])
    trainer.fit(FoleyGANModule(**SMALL, loss="2c"), datamodule=TinyData())
    state = torch.load(tmp_path / "root" / "hpc_ckpt_1.ckpt", map_location="cpu",
                       weights_only=False)
    assert state["global_step"] == 4 and int(state["state_dict"]["g_steps"]) == 2
    assert calls.read_text() == f"requeue {JOB}\n"
    assert trainer.global_step == 8  # the job trains on until SLURM stops it
    assert signal.getsignal(SIGUSR1) == before  # Lightning put the old handler back
