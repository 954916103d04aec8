"""SIGKILL a tiny `foleygan fit` after its first cadence last.ckpt, resume with
`--ckpt_path=last` in a new process, and reach the requested steps with the step counts, the
EMA and Adam's state carried on (not restarted)."""

from __future__ import annotations

import signal
import subprocess

import pytest
from tiny_fit import checkpoint_steps, first_logged_batch, tiny_env, tiny_fit_args, wait_for


@pytest.mark.slow  # two `foleygan fit` subprocesses: ~40 s on 2 idle cores
def test_sigkill_then_ckpt_path_last_reaches_the_requested_steps(tmp_path) -> None:
    env, run = tiny_env(tmp_path), tmp_path / "runs" / "kill"
    killed_log = tmp_path / "killed.log"
    with killed_log.open("w") as log:  # max_steps far away: only the kill ends this run
        proc = subprocess.Popen(tiny_fit_args(tmp_path, "kill", "--trainer.max_steps=100000"),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        first = run / "version_0" / "checkpoints" / "last.ckpt"
        try:
            wait_for(first, proc, killed_log)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed = checkpoint_steps(first)  # complete: Lightning renames a finished temporary file
    assert killed["global_step"] >= 4 and killed["global_step"] % 2 == 0
    assert killed["g_steps"] == killed["global_step"] // 2

    target = killed["global_step"] + 6  # three more D + G batches
    resumed = subprocess.run(
        tiny_fit_args(tmp_path, "kill", "--ckpt_path=last", f"--trainer.max_steps={target}"),
        env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"--ckpt_path=last: resuming from {first}" in resumed.stderr
    final = checkpoint_steps(run / "version_1" / "checkpoints" / "last.ckpt")
    assert first_logged_batch(run / "version_1") == killed["g_steps"]  # not from batch 0
    g_steps = target // 2
    # ema_start=1: every G update is an EMA update, so the counts continue from the kill
    assert final == {"global_step": target, "g_steps": g_steps, "ema_updates": g_steps,
                     "adam_g": g_steps, "adam_d": g_steps}
