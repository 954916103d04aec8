"""Build a synthesis-only generator from a FoleyGANModule Lightning checkpoint alone.

Reads `hyper_parameters` and `state_dict`; takes the EMA generator's weights when the EMA has
started, else the trained generator's; the mel normaliser's statistics come from the same
checkpoint. The encoder file (`encoder_path`) is not needed and never opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from datamodules.classes import CLASS_NAMES
from datamodules.torch_files import read_torch_file
from lightning_modules.mel_norm import MelNormalizer
from lightning_modules.sagan import Generator

_HOW = "pass a FoleyGANModule checkpoint (runs/<experiment>/<version>/checkpoints/*.ckpt)"


class GeneratorForSynthesis(nn.Module):
    """labels [B] -> raw log-mel [B, 80, T] (denormalised), always in eval mode."""

    def __init__(self, generator: Generator, mel_norm: MelNormalizer, class_names: list[str]):
        super().__init__()
        self.generator = generator.eval().requires_grad_(False)
        self.mel_norm = mel_norm
        self.class_names = list(class_names)
        self.mel_shape = tuple(generator.mel_shape)
        self.z_dim = generator.z_dim

    def train(self, mode: bool = True) -> GeneratorForSynthesis:
        return super().train(False)

    @torch.no_grad()
    def generate(
        self, labels: torch.Tensor, z: torch.Tensor | None = None, seed: int | None = None
    ) -> torch.Tensor:
        # labels [B] long, z [B, Z] or None -> log-mel [B, 80, T]
        device = self.mel_norm.lo.device
        labels = torch.as_tensor(labels, dtype=torch.long, device=device)
        if z is None:
            gen = torch.Generator(device="cpu")
            if seed is not None:
                gen.manual_seed(seed)
            else:
                gen.seed()
            z = torch.randn(labels.shape[0], self.z_dim, generator=gen)
        return self.mel_norm.denormalize(self.generator(z.to(device), labels))

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # labels [B] long, z [B, Z] or None -> log-mel [B, 80, T]
        return self.generate(labels, z)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file as given, or the newest `last.ckpt` below a run folder."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = sorted(path.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no last.ckpt below the run folder {path}; {_HOW}")
    return found[-1]


def _read_checkpoint(path: Path, map_location) -> dict:
    # our own Lightning checkpoints hold hyperparameters beyond tensors: weights_only=False
    ckpt = read_torch_file(path, what="generator checkpoint", how=_HOW,
                           map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise ValueError(f"{path} has no state_dict / hyper_parameters; {_HOW}")
    if not any(k.startswith("generator.") for k in ckpt["state_dict"]):
        raise ValueError(f"{path} holds no generator weights (not a FoleyGANModule); {_HOW}")
    return ckpt


def _sub_state(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_generator(
    ckpt_path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    untrained: bool = False,
    init_seed: int = 0,
) -> GeneratorForSynthesis:
    """FoleyGANModule checkpoint (or a run folder: its newest last.ckpt) -> GeneratorForSynthesis
    (EMA weights when present).

    `untrained=True` keeps the checkpoint's architecture, normaliser and class names but leaves
    G at its initialisation (seeded by `init_seed`): the baseline a trained G must beat.
    """
    path = resolve_checkpoint(ckpt_path)
    ckpt = _read_checkpoint(path, map_location)
    hp, state = ckpt["hyper_parameters"], ckpt["state_dict"]
    num_classes = int(hp.get("num_classes", 7))
    mel_shape = tuple(hp.get("mel_shape", (80, 344)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        generator = _build_generator(hp, num_classes, mel_shape)
    if not untrained:
        ema_updates = state.get("g_ema.num_updates")
        started = ema_updates is not None and int(ema_updates) > 0
        generator.load_state_dict(_sub_state(state, "g_ema.module." if started else "generator."))
    mel_norm = MelNormalizer(mel_shape[0])
    mel_norm.load_state_dict(_sub_state(state, "mel_norm."))
    if not mel_norm.is_fitted:
        raise ValueError(f"{path} carries an unfitted mel normaliser; train longer than setup")
    names = hp.get("class_names") or list(CLASS_NAMES[:num_classes])
    return GeneratorForSynthesis(generator, mel_norm, names).to(map_location)


def _build_generator(hp: dict, num_classes: int, mel_shape: tuple) -> Generator:
    return Generator(
        num_classes=num_classes,
        z_dim=int(hp.get("z_dim", 128)),
        width=int(hp.get("g_width", 64)),
        mel_shape=mel_shape,
        n_stages=int(hp.get("n_stages", 4)),
        attention_stage=int(hp.get("g_attention_stage", 2)),
    )
