"""Every shipped config stack parses through the real CLI and resolves to the intended values."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest
import yaml

from foleygan_cli.lightning import run_lightning_cli

BASE = ["configs/trainer/cpu.yaml", "configs/logger/csv.yaml", "configs/data/synthetic.yaml"]
GAN_LOSSES = ["hinge", "2c", "2c_label", "csupcon", "csupcon_label"]
# experiment -> (loss file it stacks on, expected (loss, use_labels, tau_c))
KT_SYSTEMS = {"kt_s0": ("2c", (False, 0.1)), "kt_s1": ("2c", (False, 1.0)),
              "kt_s2": ("csupcon", (False, 0.1)), "kt_s3": ("csupcon", (False, 1.0))}


def resolved(*configs: str, extra: tuple[str, ...] = ()) -> dict:
    """The config `foleygan fit --config ... --print_config` resolves to."""
    out, argv = io.StringIO(), list(sys.argv)
    args = ["fit", *(a for c in (*BASE, *configs) for a in ("--config", c)), *extra,
            "--print_config"]
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        run_lightning_cli(args)
    assert done.value.code in (0, None), out.getvalue()[-2000:]
    assert sys.argv == argv  # the CLI restores the process's argv
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("loss", GAN_LOSSES)
def test_tiny_1s_stack_with_every_loss(loss: str) -> None:
    config = resolved(f"configs/gan/{loss}.yaml", "configs/gan/tiny.yaml",
                      "configs/experiment/tiny_1s.yaml")
    model = config["model"]["init_args"]
    assert config["data"]["num_samples"] == 22050 and config["data"]["batch_size"] == 8
    assert (model["g_width"], model["d_width"], model["lr_g"]) == (8, 8, 0.0004)
    assert model["loss"] == loss.split("_")[0] and model["use_labels"] == loss.endswith("label")
    assert model["encoder_path"] == "runs/tiny_1s/encoder.pt"
    assert config["trainer"]["max_steps"] == 2000


@pytest.mark.parametrize("system", sorted(KT_SYSTEMS))
def test_kt_systems_match_the_report(system: str) -> None:
    loss, (use_labels, tau_c) = KT_SYSTEMS[system]
    config = resolved(f"configs/gan/{loss}.yaml", f"configs/experiment/{system}.yaml",
                      extra=("--model.init_args.encoder_path=runs/encoder/encoder.pt",))
    model = config["model"]["init_args"]
    assert (model["loss"], model["use_labels"], model["tau_c"]) == (loss, use_labels, tau_c)
    assert (model["tau_d"], model["lr_g"], model["lr_d"]) == (0.1, 0.0001, 0.0001)
    assert list(model["betas"]) == [0.5, 0.999] and model["embed_dim"] == 128


def test_demo_and_encoder_stacks_parse() -> None:
    demo = resolved("configs/callbacks/demo.yaml", "configs/gan/csupcon.yaml",
                    "configs/gan/tiny.yaml", "configs/experiment/demo.yaml")
    assert demo["model"]["init_args"]["tau_c"] == 0.1 and demo["data"]["batch_size"] == 8
    encoder = resolved("configs/encoder/supcon_tiny.yaml", "configs/experiment/encoder.yaml")
    assert encoder["data"]["two_view"] is True
    assert encoder["model"]["class_path"] == "lightning_modules.supcon.SupConEncoderModule"
