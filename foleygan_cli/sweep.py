"""`foleygan sweep configs/sweeps/kt_table.yaml [--project foleygan] [--count N]`.

Creates the W&B sweep and starts an agent on this machine. `trial_command` expands a sweep's
`command` for one parameter set exactly as the W&B agent does (`${env}`, `${interpreter}`,
`${program}`, `${args}`), so a trial can be run and tested without a server.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf


def load_sweep(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {path} not found: see configs/sweeps/ for examples")
    sweep = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if "command" not in sweep or "${args}" not in sweep["command"]:
        raise ValueError(
            f"{path}: the sweep needs a `command` list containing ${{args}}, where "
            "the agent puts the trial's `--key=value` overrides"
        )
    return sweep


def _format_value(value: object) -> str:
    return str(value)  # the agent's own formatting: True/False, 0.1, 2c


def trial_command(sweep: dict, params: dict, extra_args: tuple[str, ...] = ()) -> list[str]:
    """The argv the W&B agent runs for `params`; `extra_args` go right after `${args}`."""
    args = [f"--{key}={_format_value(value)}" for key, value in params.items()] + list(extra_args)
    command: list[str] = []
    for item in sweep["command"]:
        if item == "${env}":
            continue  # the agent prefixes /usr/bin/env; the environment is inherited anyway
        if item == "${interpreter}":
            command.append(sys.executable)
        elif item == "${program}":
            command.append(str(sweep.get("program", "")))
        elif item == "${args}":
            command.extend(args)
        elif item == "${args_no_hyphens}":
            command.extend(a.lstrip("-") for a in args)
        else:
            command.append(str(item))
    return command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="foleygan sweep", description=__doc__)
    parser.add_argument("sweep", help="sweep YAML (configs/sweeps/...)")
    parser.add_argument("--project", default="foleygan")
    parser.add_argument("--entity", default=None)
    parser.add_argument("--count", type=int, default=None, help="trials for this agent")
    args = parser.parse_args(argv)
    import wandb

    sweep_id = wandb.sweep(sweep=load_sweep(args.sweep), project=args.project, entity=args.entity)
    agent = [shutil.which("wandb") or "wandb", "agent"]
    agent += ["--count", str(args.count)] if args.count else []
    target = "/".join(p for p in (args.entity, args.project, sweep_id) if p)
    print(f"sweep {target}: starting an agent (more agents: wandb agent {target})")
    return subprocess.call([*agent, target])
