"""One trial of the report's sweep, run offline through the real CLI and config stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datamodules.classes import CLASS_NAMES
from foleygan_cli.sweep import load_sweep, trial_command

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "configs" / "sweeps" / "kt_table.yaml"


def test_sweep_covers_the_reports_table():
    sweep = load_sweep(SWEEP)
    params = sweep["parameters"]
    assert params["model.init_args.loss"]["values"] == ["2c", "csupcon"]
    assert params["model.init_args.use_labels"]["values"] == [False, True]
    assert params["model.init_args.tau_c"]["values"] == [0.1, 1.0]
    assert sweep["metric"] == {"name": "val/fad/mean", "goal": "minimize"}


def test_sweep_holds_the_reports_optimizers():
    params = load_sweep(SWEEP)["parameters"]
    for name in ("optimizer_g", "optimizer_d"):
        assert params[f"model.init_args.{name}.init_args.lr"] == {"value": 1e-4}
        assert params[f"model.init_args.{name}.init_args.betas"] == {"value": [0.5, 0.999]}


def test_a_trials_overrides_reach_the_model():
    """The agent's `--key=value` strings (lists as Python writes them) parse through the CLI
    after the sweep's config stack; values off the report's show that none is ignored."""
    import contextlib
    import io

    import yaml

    from foleygan_cli.lightning import run_lightning_cli

    sweep = load_sweep(SWEEP)
    params = {key: spec.get("value", spec.get("values", [None])[-1])
              for key, spec in sweep["parameters"].items()}
    params["model.init_args.optimizer_g.init_args.lr"] = 3e-4
    params["model.init_args.optimizer_d.init_args.betas"] = [0.0, 0.9]
    command = trial_command(sweep, params)
    assert command.index("--config=configs/gan/base.yaml") < command.index(
        "--config=configs/gan/csupcon.yaml")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_lightning_cli([*command[command.index("fit"):], "--print_config"])
    model = yaml.safe_load(out.getvalue())["model"]["init_args"]
    assert (model["loss"], model["use_labels"], model["tau_c"]) == ("csupcon", True, 1.0)
    optimizers = [(spec["class_path"], spec["init_args"]["lr"], list(spec["init_args"]["betas"]))
                  for spec in (model["optimizer_g"], model["optimizer_d"])]
    assert optimizers == [("torch.optim.Adam", 3e-4, [0.5, 0.999]),
                          ("torch.optim.Adam", 1e-4, [0.0, 0.9])]


def test_trial_command_expands_like_the_agent():
    sweep = {
        "program": "train.py",
        "command": ["${env}", "${interpreter}", "${program}", "fit", "${args}"],
    }
    cmd = trial_command(sweep, {"model.init_args.tau_c": 0.1, "x": True}, extra_args=("--y=1",))
    assert cmd == [
        sys.executable,
        "train.py",
        "fit",
        "--model.init_args.tau_c=0.1",
        "--x=True",
        "--y=1",
    ]


def test_load_sweep_needs_args_placeholder(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("command: [foleygan, fit]\n")
    with pytest.raises(ValueError, match=r"\$\{args\}"):
        load_sweep(bad)


@pytest.fixture()
def tiny_setup(tmp_path):
    from datamodules.synthetic import make_synthetic_dataset
    from encoders.export import export_from_module
    from lightning_modules.supcon import SupConEncoderModule

    data = make_synthetic_dataset(tmp_path / "data", clips_per_class=3, seed=0)
    encoder = tmp_path / "encoder.pt"
    export_from_module(SupConEncoderModule(base_width=4, proj_hidden=16), encoder)
    callbacks = tmp_path / "callbacks.yaml"
    callbacks.write_text(
        "trainer:\n  callbacks:\n"
        "    - class_path: evaluation.callbacks.FADCallback\n      init_args:\n"
        f"        backbone: encoder:{encoder}\n        vocoder: griffin-lim\n"
        "        n_per_class: 3\n        batch_size: 21\n        n_media_per_class: 1\n"
        f"        cache_dir: {tmp_path / 'fadcache'}\n"
    )
    return data, encoder, callbacks


@pytest.mark.slow  # a whole `foleygan fit` subprocess: ~1 minute on 2 cores
def test_one_sweep_trial_offline_logs_every_class(tmp_path, tiny_setup):
    data, encoder, callbacks = tiny_setup
    params = {
        "model.init_args.loss": "csupcon",
        "model.init_args.use_labels": False,
        "model.init_args.tau_c": 1.0,
        "model.init_args.tau_d": 0.1,
    }
    extra = (
        "--config=configs/gan/cpu.yaml",
        f"--config={callbacks}",
        "--model.init_args.g_width=4",
        "--model.init_args.d_width=4",
        f"--model.init_args.encoder_path={encoder}",
        f"--data.data_root={data}",
        "--data.batch_size=7",
        "--data.val_fraction=0.34",
        "--data.num_workers=0",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--trainer.max_steps=4",
        "--trainer.val_check_interval=2",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'runs'}",
    )
    cmd = trial_command(load_sweep(SWEEP), params, extra)
    cmd[0] = str(ROOT / cmd[0]) if not os.path.isabs(cmd[0]) else cmd[0]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, list((tmp_path / "runs").rglob("*"))[:20]
    records = runs[0].read_bytes()
    for name in [*CLASS_NAMES, "mean"]:
        assert f"val/fad/{name}".encode() in records
    assert b"val/fad_table" in records and b"foleygan_config" in records
