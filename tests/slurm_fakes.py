"""SLURM without SLURM: the variables SLURMEnvironment reads and a `scontrol` that records its
call (shared by the requeue tests in tests/lightning_modules and tests/foleygan_cli)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pytorch_lightning.trainer.connectors.signal_connector import _SignalConnector

JOB = "4242"
SLURM_VARS = {"SLURM_JOB_ID": JOB, "SLURM_NTASKS": "1", "SLURM_PROCID": "0",
              "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_JOB_NAME": "foleygan-test"}
SIGUSR1 = getattr(signal, "SIGUSR1", None)
needs_signal_path = pytest.mark.skipif(
    SIGUSR1 is None or not hasattr(_SignalConnector, "_slurm_sigusr_handler_fn"),
    reason="no SIGUSR1 on this platform, or this Lightning has no SLURM requeue handler "
           "(_SignalConnector._slurm_sigusr_handler_fn)")


def fake_scontrol(tmp_path: Path) -> tuple[Path, Path]:
    """A `scontrol` that appends its arguments to a file: (its folder, the file)."""
    folder, calls = tmp_path / "bin", tmp_path / "scontrol.calls"
    folder.mkdir()
    script = folder / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\n')
    script.chmod(0o755)
    return folder, calls
