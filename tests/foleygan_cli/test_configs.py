"""Every shipped config stack parses through the real CLI to the settings it had before the
configs became small diffs (config_snapshot.json, taken with --print_config at 388ac1c).

The stacks are the ones the tools really run: `make -n` prints the Makefile's `foleygan fit`
lines, `foleygan_cli.demo` exposes its argument lists.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from foleygan_cli import demo
from foleygan_cli.download import DEFAULT_CONFIG as DOWNLOAD_CONFIG
from foleygan_cli.lightning import run_lightning_cli

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
SNAPSHOT = json.loads((Path(__file__).with_name("config_snapshot.json")).read_text())["stacks"]
LOSSES = ["hinge", "2c", "2c_label", "csupcon", "csupcon_label"]
KT_LOSS = {"kt_s0": "2c", "kt_s1": "2c", "kt_s2": "csupcon", "kt_s3": "csupcon"}
LOSS_KEYS = {"loss", "use_labels", "projection", "encoder_path"}
CLI_GROUPS = ["callbacks", "data", "encoder", "experiment", "gan", "logger", "trainer"]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_fit_args(target: str, **knobs: str) -> list[str]:
    """The arguments of the last `foleygan fit` that `make -n TARGET KNOB=...` would run."""
    command = ["make", "-n", "-o", ".venv/.setup-stamp", target]
    command += [f"{key}={value}" for key, value in knobs.items()]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    lines = [shlex.split(line) for line in done.stdout.replace("\\\n", " ").splitlines()]
    fits = [line[2:] for line in lines if line[:2] == [".venv/bin/foleygan", "fit"]]
    assert fits, done.stdout
    return fits[-1]


def stack_args(name: str) -> list[str]:
    """`foleygan fit` arguments of the snapshot's stack `name`, as shipped today."""
    if name == "demo":
        return demo.gan_args(1200)
    if name == "demo_encoder":
        return demo.encoder_args(8)
    if name == "tiny_1s_encoder":
        return make_fit_args("runs/tiny_1s/encoder.pt")
    if name.startswith("tiny_1s/"):
        return make_fit_args("tiny-gan", LOSS=name.split("/")[1])
    if name in KT_LOSS:
        return make_fit_args("train", DATA_CONFIG="dcase", LOSS=KT_LOSS[name], EXPERIMENT=name)
    if name == "pretrain_encoder":
        return make_fit_args("pretrain-encoder", DATA_CONFIG="dcase")
    if name.startswith("train/"):
        return make_fit_args("train", DATA_CONFIG="dcase", LOSS=name.split("/")[1])
    raise KeyError(name)


def resolved(args: list[str]) -> dict:
    """The config `foleygan fit ARGS --print_config` prints."""
    out, argv = io.StringIO(), list(sys.argv)
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        run_lightning_cli(["fit", *args, "--print_config"])
    assert done.value.code in (0, None), out.getvalue()[-2000:]
    assert sys.argv == argv  # the CLI restores the process's argv
    return yaml.safe_load(out.getvalue())


def config_files(args: list[str]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--config"]


def callback(config: dict, class_name: str) -> dict:
    found = [c for c in config["trainer"]["callbacks"] if c["class_path"].endswith(class_name)]
    assert len(found) == 1, [c["class_path"] for c in config["trainer"]["callbacks"]]
    return found[0].get("init_args") or {}


def expected_model(before: dict) -> dict:
    """The snapshot's model settings in today's names (injected optimizers, callbacks)."""
    model = {k: v for k, v in before.items() if k not in ("lr_g", "lr_d", "betas", "lr",
                                                           "weight_decay", "val_per_class")}
    if "lr_g" in before:
        for name, lr in (("optimizer_g", before["lr_g"]), ("optimizer_d", before["lr_d"])):
            model[name] = ("torch.optim.Adam", {"lr": lr, "betas": before["betas"]})
    else:
        model["optimizer"] = ("torch.optim.AdamW",
                              {"lr": before["lr"], "weight_decay": before["weight_decay"]})
    return model


def effective_model(config: dict, expected: dict) -> dict:
    model = config["model"]
    found = {"class_path": model["class_path"]}
    for key, value in expected.items():
        if key.startswith("optimizer"):
            spec = model["init_args"][key]
            args = {k: (list(v) if k == "betas" else v) for k, v in spec["init_args"].items()}
            found[key] = (spec["class_path"], {k: args[k] for k in value[1]})
        elif key != "class_path":
            found[key] = model["init_args"][key]
    return found


def check_last_checkpoint(config: dict) -> None:
    """last.ckpt independent of validation: LastCheckpoint first (trainer.checkpoint_callback),
    the only last.ckpt writer; CPU GAN stacks save more often than the GPU ones."""
    callbacks = config["trainer"]["callbacks"]
    assert callbacks[0]["class_path"] == "lightning_modules.last_checkpoint.LastCheckpoint"
    last = callbacks[0]["init_args"]
    assert last.get("save_on_exception", True) is True
    others = [c.get("init_args") or {} for c in callbacks[1:]
              if c["class_path"].endswith("Checkpoint")]
    assert not any(args.get("save_last") for args in others), others
    steps, minutes = last["every_n_train_steps"], last["every_n_minutes"]
    cpu_gan = config["trainer"]["accelerator"] == "cpu" and "gan" in config["model"]["class_path"]
    assert 0 < steps <= (100 if cpu_gan else 1000) and 0 < minutes <= (5 if cpu_gan else 30)


@needs_make
@pytest.mark.parametrize("name", sorted(SNAPSHOT))
def test_stack_keeps_its_settings(name: str) -> None:
    before = SNAPSHOT[name]
    config = resolved(stack_args(name))
    expected = expected_model(before["model"])
    assert effective_model(config, expected) == expected
    assert {k: config["data"][k] for k in before["data"]} == before["data"]
    assert {k: config["trainer"][k] for k in before["trainer"]} == before["trainer"]
    assert config["trainer"]["logger"]["class_path"] == before["logger"]
    for old in before["callbacks"]:  # every callback is still there, with its settings
        name = old["class_path"].rsplit(".", 1)[1]
        if name == "ModelCheckpoint" and old.get("monitor") is None:
            name = "LastCheckpoint"  # the last.ckpt writer is LastCheckpoint since issue 12
        args = callback(config, name)
        for key, value in old.items():
            if key == "monitor" and value == "val/acc":
                value = "val/probe/acc"  # the encoder's probe key since issue 10
            assert key == "class_path" or args.get(key) == value, (old, args)
    if "val_per_class" in before["model"]:  # the GAN's validation figures are callbacks now
        diversity = callback(config, "DiversityCallback")
        assert diversity.get("n_per_class", 16) == before["model"]["val_per_class"]
        callback(config, "ProbeCallback")
    check_last_checkpoint(config)


def test_base_yaml_equals_the_module_defaults() -> None:
    """A stack that forgets gan/base.yaml still trains the report's model."""
    loss = ["--config", "configs/data/synthetic.yaml", "--config", "configs/gan/csupcon.yaml"]
    alone = resolved(loss)["model"]["init_args"]
    with_base = resolved([*loss[:2], "--config", "configs/gan/base.yaml", *loss[2:]])
    with_base = with_base["model"]["init_args"]
    for name in ("optimizer_g", "optimizer_d"):  # a default function vs a class + init_args
        assert optimizer_settings(alone.pop(name)) == optimizer_settings(with_base.pop(name))
    assert with_base == alone


def optimizer_settings(spec: str | dict) -> tuple[type, dict]:
    """The optimizer a printed OptimizerCallable builds: its class and `defaults`."""
    if isinstance(spec, str):  # a module-level function params -> optimizer
        module, _, name = spec.rpartition(".")
        build = getattr(importlib.import_module(module), name)
    else:
        module, _, name = spec["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        build = functools.partial(cls, **spec.get("init_args", {}))
    optimizer = build([torch.nn.Parameter(torch.zeros(1))])
    return type(optimizer), {k: tuple(v) if isinstance(v, list) else v
                             for k, v in optimizer.defaults.items()}


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_files_hold_only_their_loss(loss: str) -> None:
    path = CONFIGS / "gan" / f"{loss}.yaml"
    assert len(path.read_text().splitlines()) < 12
    model = yaml.safe_load(path.read_text())["model"]
    assert set(model["init_args"]) == LOSS_KEYS


@needs_make
def test_cpu_overlay_is_not_overridden_again() -> None:
    overlay = leaf_keys(yaml.safe_load((CONFIGS / "gan" / "cpu.yaml").read_text()))
    stacks = [demo.gan_args(1200), *(make_fit_args("tiny-gan", LOSS=loss) for loss in LOSSES)]
    for args in stacks:
        files = config_files(args)
        later = files[files.index("configs/gan/cpu.yaml") + 1:]
        keys = {key for path in later for key in leaf_keys(yaml.safe_load(Path(ROOT, path)
                                                                          .read_text()))}
        keys |= {arg[2:].split("=")[0].replace(".init_args.", ".") for arg in args
                 if arg.startswith("--") and "=" in arg}
        clash = {k for k in keys if any(k.startswith(o) or o.startswith(k) for o in overlay)}
        assert not clash, (later, clash)


def leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    """Dotted keys of the leaves, `init_args` dropped: model.optimizer_g.lr."""
    keys = set()
    for key, value in tree.items():
        name = prefix if key == "init_args" else f"{prefix}{key}."
        if isinstance(value, dict):
            keys |= leaf_keys(value, name)
        else:
            keys.add(name.rstrip("."))
    return keys


def shipped_yaml() -> list[Path]:
    return sorted(p for group in CLI_GROUPS for p in (CONFIGS / group).glob("*.yaml"))


def test_loggers_and_callbacks_live_in_their_own_groups() -> None:
    for path in shipped_yaml():
        trainer = (yaml.safe_load(path.read_text()) or {}).get("trainer", {})
        group = path.parent.name
        assert ("logger" in trainer) == (group == "logger"), path
        assert ("callbacks" in trainer) == (group == "callbacks"), path


@needs_make
def test_every_fit_stack_names_one_logger_and_one_callbacks_file() -> None:
    stacks = [demo.gan_args(1200), demo.encoder_args(8), make_fit_args("tiny-gan"),
              make_fit_args("runs/tiny_1s/encoder.pt"), make_fit_args("train"),
              make_fit_args("pretrain-encoder")]
    for args in stacks:
        groups = [Path(path).parent.name for path in config_files(args)]
        assert groups.count("logger") == 1 and groups.count("callbacks") == 1, args


@pytest.mark.parametrize("name", ["gan", "gan_cpu", "demo", "tiny_1s"])
def test_gan_callbacks_files_log_diversity_and_probe(name: str) -> None:
    config = yaml.safe_load((CONFIGS / "callbacks" / f"{name}.yaml").read_text())
    classes = [c["class_path"] for c in config["trainer"]["callbacks"]]
    assert "evaluation.diversity.DiversityCallback" in classes
    assert "evaluation.probe_callback.ProbeCallback" in classes


def test_a_later_callbacks_list_replaces_and_plus_appends() -> None:
    """The rule the callbacks files' headers state: one file per stack, `+=` to add one."""
    base = ["--config", "configs/data/synthetic.yaml", "--config", "configs/gan/base.yaml",
            "--config", "configs/gan/hinge.yaml", "--config", "configs/callbacks/gan.yaml"]
    stacked = resolved([*base, "--config", "configs/callbacks/tiny_1s.yaml"])
    assert len(stacked["trainer"]["callbacks"]) == 3
    added = resolved([*base, "--trainer.callbacks+=evaluation.confusion.ConfusionMatrixCallback"])
    classes = [c["class_path"] for c in added["trainer"]["callbacks"]]
    in_gan = yaml.safe_load((CONFIGS / "callbacks" / "gan.yaml").read_text())["trainer"]
    assert len(classes) == len(in_gan["callbacks"]) + 1
    assert classes[-1] == "evaluation.confusion.ConfusionMatrixCallback"


def class_paths(tree: object) -> list[str]:
    if isinstance(tree, dict):
        found = [tree["class_path"]] if isinstance(tree.get("class_path"), str) else []
        return found + [p for value in tree.values() for p in class_paths(value)]
    if isinstance(tree, list):
        return [p for value in tree for p in class_paths(value)]
    return []


def test_every_class_path_in_configs_imports() -> None:
    named = {p for path in CONFIGS.rglob("*.yaml") for p in class_paths(yaml.safe_load(
        path.read_text()))}
    assert "lightning_modules.gan.FoleyGANModule" in named  # the walk finds them
    for class_path in sorted(named):
        module, _, name = class_path.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), class_path


def test_download_settings_sit_outside_the_lightning_groups() -> None:
    assert DOWNLOAD_CONFIG.relative_to(CONFIGS).parts[0] not in CLI_GROUPS
    settings = yaml.safe_load(DOWNLOAD_CONFIG.read_text())
    assert settings["url"].endswith(settings["archive_name"])
    for path in shipped_yaml():  # each of those is a LightningCLI file
        top = set(yaml.safe_load(path.read_text()) or {})
        assert top <= {"trainer", "model", "data", "seed_everything", "ckpt_path"}, path
