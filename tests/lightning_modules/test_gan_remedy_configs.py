"""The remedies' config overlays (configs/gan/diffaug.yaml, lecam.yaml) and their sweep
(configs/sweeps/remedies.yaml) parse through the real CLI to the module's options."""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import pytest
import yaml

from foleygan_cli.lightning import run_lightning_cli
from foleygan_cli.sweep import load_sweep, trial_command

ROOT = Path(__file__).resolve().parents[2]
GAN = ROOT / "configs" / "gan"
SWEEP = ROOT / "configs" / "sweeps" / "remedies.yaml"
STACK = ["--config", "configs/data/synthetic.yaml", "--config", "configs/gan/base.yaml",
         "--config", "configs/gan/csupcon.yaml"]


def resolved_model(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        run_lightning_cli(["fit", *args, "--print_config"])
    assert done.value.code in (0, None), out.getvalue()[-2000:]
    config = yaml.safe_load(out.getvalue())
    return {**config["model"]["init_args"], "seed_everything": config.get("seed_everything")}


def overlay(name: str) -> dict:
    path = GAN / f"{name}.yaml"
    assert len(path.read_text().splitlines()) < 12  # a small diff, like the loss files
    return yaml.safe_load(path.read_text())["model"]["init_args"]


def test_overlays_hold_the_papers_settings_and_nothing_else() -> None:
    assert overlay("diffaug") == {"diffaug": "translation,cutout",
                                  "diffaug_translation_ratio": 0.125, "diffaug_cutout_ratio": 0.5}
    assert overlay("lecam") == {"lecam_weight": 0.3, "lecam_decay": 0.99}


def test_overlays_stack_after_the_loss_file() -> None:
    plain = resolved_model(STACK)
    assert (plain["diffaug"], plain["lecam_weight"], plain["loss"]) == ("", 0.0, "csupcon")
    both = resolved_model([*STACK, "--config", "configs/gan/diffaug.yaml",
                           "--config", "configs/gan/lecam.yaml"])
    assert {k: both[k] for k in (*overlay("diffaug"), *overlay("lecam"))} == {
        **overlay("diffaug"), **overlay("lecam")}
    assert {k: v for k, v in both.items() if k not in {*overlay("diffaug"), *overlay("lecam")}
            } == {k: v for k, v in plain.items() if k not in {*overlay("diffaug"),
                                                              *overlay("lecam")}}


def test_sweep_crosses_four_settings_three_seeds_two_systems() -> None:
    params = load_sweep(SWEEP)["parameters"]
    assert params["model.init_args.diffaug"]["values"] == ["", overlay("diffaug")["diffaug"]]
    assert params["model.init_args.lecam_weight"]["values"] == [0.0,
                                                                 overlay("lecam")["lecam_weight"]]
    assert params["seed_everything"]["values"] == [0, 1, 2]
    assert params["config"]["values"] == ["configs/experiment/kt_s2.yaml",
                                          "configs/experiment/kt_s3.yaml"]
    assert all(spec["values"] for spec in params.values())
    assert len(list(itertools.product(*(spec["values"] for spec in params.values())))) == 24


@pytest.mark.parametrize(
    ("system", "tau_c", "diffaug", "config_last"),
    [("kt_s2", 0.1, "", False), ("kt_s3", 1.0, "translation,cutout", True)],
)
def test_a_trials_arguments_reach_the_model(system, tau_c, diffaug, config_last) -> None:
    params = {"config": f"configs/experiment/{system}.yaml",
              "model.init_args.diffaug": diffaug, "model.init_args.lecam_weight": 0.3,
              "seed_everything": 2}
    if config_last:  # the agent's argument order is its own: either must work
        params = {**{k: v for k, v in params.items() if k != "config"},
                  "config": params["config"]}
    command = trial_command(load_sweep(SWEEP), params)
    assert command[:2] == [".venv/bin/foleygan", "fit"]
    assert f"--model.init_args.diffaug={diffaug}" in command
    model = resolved_model(command[2:])
    assert (model["diffaug"], model["lecam_weight"], model["seed_everything"]) == (diffaug, 0.3, 2)
    assert (model["loss"], model["use_labels"], model["tau_c"]) == ("csupcon", False, tau_c)
