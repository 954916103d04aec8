"""configs/trainer/slurm.yaml and Lightning's SLURM requeue path, on a CPU without SLURM: the
SLURM variables that SLURMEnvironment reads, a fake `scontrol` on PATH that records its call,
and the requeue signal sent to the training process."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from slurm_fakes import JOB, SIGUSR1, SLURM_VARS, fake_scontrol, needs_signal_path
from test_configs import resolved
from tiny_fit import (
    CONFIGS,
    checkpoint_steps,
    first_logged_batch,
    tiny_env,
    tiny_fit_args,
    wait_for,
)


def test_slurm_overlay_parses_to_a_requeueing_environment(monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", JOB)
    config = resolved(["--config", "configs/trainer/cpu.yaml", "--config",
                       "configs/data/synthetic.yaml", "--config", "configs/gan/base.yaml",
                       "--config", "configs/gan/hinge.yaml", "--config",
                       "configs/trainer/slurm.yaml"])
    trainer = config["trainer"]
    assert trainer["default_root_dir"] == f"runs/slurm-{JOB}"  # one folder per job id
    (plugin,) = trainer["plugins"]
    assert plugin["class_path"].endswith(".SLURMEnvironment")
    assert plugin["init_args"] == {"auto_requeue": True, "requeue_signal": "SIGUSR1"}


@needs_signal_path
@pytest.mark.slow  # two `foleygan fit` subprocesses: ~40 s on 2 idle cores
def test_preempted_job_is_requeued_and_resumes_from_its_hpc_checkpoint(tmp_path) -> None:
    folder, calls = fake_scontrol(tmp_path)
    env = tiny_env(tmp_path, **SLURM_VARS, PATH=f"{folder}{os.pathsep}{os.environ['PATH']}")
    slurm = ("--config", str(CONFIGS / "trainer" / "slurm.yaml"))
    root, log = tmp_path / "runs" / f"slurm-{JOB}", tmp_path / "preempted.log"
    with log.open("w") as out:  # cwd tmp_path: slurm.yaml's runs/slurm-<job id> lands there
        proc = subprocess.Popen(tiny_fit_args(tmp_path, "job", *slurm, "--trainer.max_steps=9999"),
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(tmp_path / "runs" / "job" / "version_0" / "checkpoints" / "last.ckpt",
                     proc, log)
            proc.send_signal(SIGUSR1)  # SLURM, 90 s before the time limit
            wait_for(calls, proc, log)
            proc.send_signal(signal.SIGTERM)  # SLURM stops the job it requeued
            proc.wait(timeout=120)
        finally:
            proc.kill()
    assert calls.read_text() == f"requeue {JOB}\n"
    preempted = checkpoint_steps(root / "hpc_ckpt_1.ckpt")
    assert preempted["global_step"] >= 4 and preempted["g_steps"] >= 2
    # SIGTERM stops fit with an exception: its state is in an exception checkpoint too
    assert list((tmp_path / "runs" / "job" / "version_0" / "checkpoints").glob("exception-*"))

    target = preempted["global_step"] + 4  # the requeued job: same job id, no --ckpt_path
    requeued = subprocess.run(tiny_fit_args(tmp_path, "job", *slurm,
                                            f"--trainer.max_steps={target}"),
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    hpc = Path("runs", f"slurm-{JOB}", "hpc_ckpt_1.ckpt")  # relative: default_root_dir's form
    assert f"Restoring states from the checkpoint path at {hpc}" in requeued.stderr
    version_1 = tmp_path / "runs" / "job" / "version_1"
    final = checkpoint_steps(version_1 / "checkpoints" / "last.ckpt")
    assert final["global_step"] == target and final["g_steps"] == target // 2
    # went on, did not start over (the handler may have fired inside a batch: then the logger's
    # batch counter is one ahead)
    assert first_logged_batch(version_1) in (preempted["g_steps"], preempted["g_steps"] + 1)
