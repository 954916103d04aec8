"""A tiny `foleygan fit` subprocess for the kill / requeue tests: hinge GAN of width 4 on the
synthetic set (3 clips per class, 4,096 samples: 80 x 17 mels), batch 4, no validation, with the
shipped tiny_1s callbacks but last.ckpt every 4 global steps."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def tiny_fit_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    """`python -m foleygan_cli.main fit ...` for a run named `name` under tmp_path/runs."""
    from datamodules.synthetic import make_synthetic_dataset

    data = tmp_path / "data"
    if not data.exists():
        make_synthetic_dataset(data, clips_per_class=3, seed=0)
    callbacks = yaml.safe_load((CONFIGS / "callbacks" / "tiny_1s.yaml").read_text())
    callbacks["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = 4
    (tmp_path / "callbacks.yaml").write_text(yaml.safe_dump(callbacks))
    stack = ["trainer/cpu.yaml", "logger/csv.yaml", "data/synthetic.yaml", None, "gan/base.yaml",
             "gan/hinge.yaml", "gan/cpu.yaml"]
    configs = [str(tmp_path / "callbacks.yaml") if s is None else str(CONFIGS / s) for s in stack]
    return [
        sys.executable, "-m", "foleygan_cli.main", "fit",
        *[arg for path in configs for arg in ("--config", path)], *extra,
        f"--data.data_root={data}", "--data.num_samples=4096", "--data.batch_size=4",
        "--model.init_args.g_width=4", "--model.init_args.d_width=4",
        "--model.init_args.ema_start=1", "--trainer.limit_val_batches=0",
        "--trainer.enable_progress_bar=false", "--trainer.log_every_n_steps=1",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}",
        f"--trainer.logger.init_args.name={name}",
    ]


def tiny_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Offline, one thread, temporaries of Lightning's atomic saves inside tmp_path."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path / "tmp"), **extra}


def wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 300.0) -> None:
    """Wait until `path` exists while `proc` runs; fail with the log's tail otherwise."""
    start = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"fit exited ({proc.returncode}) before {path} appeared:\n"
                                 f"{log.read_text()[-3000:]}")
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError(f"no {path} after {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def checkpoint_steps(path: Path) -> dict[str, int]:
    """global_step, g_steps, the EMA's update count and both Adam step counts of a checkpoint."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    adam = [int(max(float(s["step"]) for s in o["state"].values()))
            for o in ckpt["optimizer_states"]]
    return {"global_step": int(ckpt["global_step"]),
            "g_steps": int(ckpt["state_dict"]["g_steps"]),
            "ema_updates": int(ckpt["state_dict"]["g_ema.num_updates"]),
            "adam_g": adam[0], "adam_d": adam[1]}


def first_logged_batch(version: Path) -> int:
    """The first logger step (Lightning counts batches, restored on resume) of a run version."""
    with (version / "metrics.csv").open() as rows:
        return min(int(row["step"]) for row in csv.DictReader(rows) if row.get("train/g/loss"))
