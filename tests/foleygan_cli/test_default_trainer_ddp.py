"""Slow: the shipped default trainer stack (configs/trainer/default.yaml, GanDDPStrategy) trains
the GAN through `foleygan fit` on 2 gloo processes, and on 1 device, and writes a checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def _fit(tmp_path: Path, devices: int) -> Path:
    data = tmp_path / "data"
    if not data.exists():
        subprocess.run([sys.executable, "-m", "foleygan_cli.main", "synthetic", str(data),
                        "--clips-per-class", "4"], check=True, cwd=ROOT, timeout=300)
    callbacks = {"trainer": {"callbacks": [{
        "class_path": "lightning_modules.last_checkpoint.LastCheckpoint",
        "init_args": {"every_n_train_steps": 2, "every_n_minutes": 10}}]}}
    (tmp_path / "callbacks.yaml").write_text(yaml.safe_dump(callbacks))
    stack = [CONFIGS / "trainer/default.yaml", CONFIGS / "logger/csv.yaml",
             CONFIGS / "data/synthetic.yaml", tmp_path / "callbacks.yaml",
             CONFIGS / "gan/base.yaml", CONFIGS / "gan/2c.yaml", CONFIGS / "gan/cpu.yaml"]
    runs = tmp_path / f"runs{devices}"
    args = [sys.executable, "-m", "foleygan_cli.main", "fit",
            *[a for path in stack for a in ("--config", str(path))],
            "--trainer.accelerator=cpu", f"--trainer.devices={devices}",
            "--trainer.max_steps=4", "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false", f"--trainer.logger.init_args.save_dir={runs}",
            "--trainer.logger.init_args.name=ddp", f"--data.data_root={data}",
            "--data.num_samples=4096", "--data.batch_size=4", "--data.num_workers=0",
            "--model.init_args.g_width=4", "--model.init_args.d_width=4"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ckpts = sorted(runs.rglob("*.ckpt"))
    assert ckpts, f"no checkpoint under {runs}"
    return ckpts[-1]


@pytest.mark.slow
@pytest.mark.parametrize("devices", [2, 1])
def test_default_trainer_stack_fits(tmp_path: Path, devices: int) -> None:
    ckpt = torch.load(_fit(tmp_path, devices), map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4  # 2 batches of one D + one G update
    state = ckpt["state_dict"]
    assert any(key.startswith("discriminator.") for key in state)
    assert not any(key.startswith(("ddp_nets", "generator.module.", "discriminator.module."))
                   for key in state)  # the DDP wrappers leave the checkpoint keys alone
    assert int(state["g_steps"]) == 2
