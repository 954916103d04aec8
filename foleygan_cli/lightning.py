"""LightningCLI: the only place where configuration becomes objects.

`foleygan fit --config configs/trainer/cpu.yaml --config configs/logger/csv.yaml --config
configs/data/synthetic.yaml --config configs/gan/base.yaml --config configs/gan/csupcon.yaml`
builds a `FoleyDataModule`, the model named by
`model.class_path` (`FoleyGANModule` or `SupConEncoderModule`) and the Trainer. Values that must
agree between data and model (number of classes, mel size) are linked, never typed twice.
"""

from __future__ import annotations

import sys

from pytorch_lightning.cli import LightningCLI, SaveConfigCallback
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from datamodules.datamodule import FoleyDataModule
from foleygan_cli.resume import (
    check_resume_checkpoint,
    checkpoint_folders,
    find_last_checkpoint,
)


class SaveAndUploadConfig(SaveConfigCallback):
    """Save the resolved config beside the run and, with a W&B logger, upload it once.

    Lightning calls `save_config` on global rank 0 only, so the upload happens once per run.
    """

    def save_config(self, trainer, pl_module, stage: str) -> None:
        from pytorch_lightning.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                config = self.parser.dump(self.config, skip_none=False, format="yaml")
                logger.experiment.config.update({"foleygan_config": config}, allow_val_change=True)


class FoleyCLI(LightningCLI):
    """LightningCLI with the data -> model links of this project."""

    def add_arguments_to_parser(self, parser) -> None:  # parser: a jsonargparse parser
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        parser.link_arguments("data.mel_shape", "model.init_args.mel_shape", apply_on="instantiate")
        parser.link_arguments(
            "data.class_names", "model.init_args.class_names", apply_on="instantiate"
        )

    def before_fit(self) -> None:
        """`--ckpt_path=last`: the newest last.ckpt of this run's logger name, any version
        (foleygan_cli.resume); Lightning itself looks in the new, empty version folder only.
        A checkpoint file (given or found) must exist and hold this run's classes."""
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") == "last":
            found = find_last_checkpoint(self.trainer)
            config["ckpt_path"] = None if found is None else str(found)
            if found is None:
                folders = ", ".join(map(str, checkpoint_folders(self.trainer)))
                rank_zero_warn(f"--ckpt_path=last: no last.ckpt of this run name under "
                               f"{folders} (nor an hpc_ckpt_*.ckpt): training from step 0")
            else:
                rank_zero_info(f"--ckpt_path=last: resuming from {found}")
        path = config.get("ckpt_path")
        if path is not None and path not in ("best", "hpc") and not path.startswith("registry"):
            check_resume_checkpoint(path, self.model)


def _finish_wandb() -> None:
    """Close a W&B run (if one was started) so that its files are complete when we return."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def run_lightning_cli(args: list[str]) -> FoleyCLI:
    """Run `fit` / `validate` / `test` / `predict` with the project's parser settings.

    `args` become the process's argv for the duration: LightningCLI parses sys.argv itself (no
    "args and command line arguments" warning when a tool such as `foleygan demo` calls it), and
    DDP's subprocess launcher, which re-runs sys.argv for the other ranks, starts this command.
    """
    saved = sys.argv
    sys.argv = [saved[0], *args]
    try:
        return _build_cli()
    finally:
        sys.argv = saved
        _finish_wandb()


def _build_cli() -> FoleyCLI:
    return FoleyCLI(
        datamodule_class=FoleyDataModule,
        subclass_mode_model=True,
        parser_kwargs={"parser_mode": "omegaconf+"},
        save_config_callback=SaveAndUploadConfig,
        save_config_kwargs={"overwrite": True},
    )
