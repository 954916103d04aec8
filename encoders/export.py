"""The frozen-encoder export: one self-contained file that the GAN's C-SupCon loss loads.

File (torch.save of plain types, loadable with weights_only=True):
    {"format": "foleygan-encoder", "version": 1,
     "arch": {"in_channels", "base_width", "proj_hidden", "proj_dim"},
     "state_dict": ResNet18Encoder weights, "mel_params": MelParams.as_dict(),
     "class_names": [C names], "centroids": [C, proj_dim] unit-norm (nearest-centroid probe)}
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import torch
from torch import nn

from datamodules.atomic import atomic_torch_save
from datamodules.mel import MelParams
from datamodules.torch_files import read_torch_file
from encoders.probe import centroid_logits
from encoders.resnet import ResNet18Encoder

FORMAT = "foleygan-encoder"
VERSION = 1
HOW_TO_MAKE = (
    "pretrain one with `make pretrain-encoder`, or export a SupConEncoderModule checkpoint "
    "with `foleygan export-encoder CKPT OUT`"
)


class EncoderMismatchError(ValueError):
    """The encoder was trained on log-mels other than the ones it is about to be fed."""


class FrozenEncoder(nn.Module):
    """A pretrained ResNet18Encoder that is always in eval mode and never trained.

    `forward(mel [B, n_mels, T]) -> z [B, proj_dim]` unit norm; `features(mel) -> h`;
    `classify(mel) -> logits [B, C]`: cosine of z to the stored class centroids.
    """

    def __init__(
        self,
        encoder: ResNet18Encoder,
        centroids: torch.Tensor,
        class_names: list[str],
        mel_params: MelParams,
    ) -> None:
        super().__init__()
        if centroids.shape != (len(class_names), encoder.proj_dim):
            raise ValueError(
                f"centroids must be [{len(class_names)}, {encoder.proj_dim}] (classes x proj_dim),"
                f" got {tuple(centroids.shape)}; re-export the encoder"
            )
        self.encoder = encoder
        self.register_buffer("centroids", centroids.detach().clone().float())
        self.class_names = list(class_names)
        self.mel_params = mel_params
        self.requires_grad_(False)
        super().train(False)

    @property
    def num_features(self) -> int:
        return self.encoder.proj_dim

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Stays in eval mode whatever is asked (BatchNorm statistics never change)."""
        return super().train(False)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] -> h [B, 8 * base_width]
        return self.encoder.features(mel)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] -> z [B, proj_dim], unit norm
        return self.encoder(mel)

    def classify(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, n_mels, T] -> logits [B, C] (cosine to the class centroids)
        return centroid_logits(self.encoder(mel), self.centroids)


def export_from_module(module: nn.Module, out_path: str | os.PathLike) -> Path:
    """Write the export of a SupConEncoderModule (duck-typed: .encoder, .centroids,
    .class_names, .mel_params) atomically; returns the path.

    From a Lightning checkpoint: `foleygan export-encoder CKPT OUT`
    (`foleygan_cli.export_encoder.export_checkpoint`), which loads the module class; this
    package never imports the training modules."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": module.encoder.arch(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.encoder.state_dict().items()},
        "mel_params": module.mel_params.as_dict(),
        "class_names": list(module.class_names),
        "centroids": module.centroids.detach().cpu().float().clone(),
    }
    return atomic_torch_save(payload, out_path)


def _mel_differences(expected: MelParams, found: MelParams) -> list[str]:
    return [
        f"{f.name}: expected {getattr(expected, f.name)!r}, found {getattr(found, f.name)!r}"
        for f in fields(MelParams)
        if getattr(expected, f.name) != getattr(found, f.name)
    ]


def _read_payload(path: Path, map_location: str | torch.device) -> dict:
    payload = read_torch_file(path, what="encoder export", how=HOW_TO_MAKE,
                              map_location=map_location)
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if found != FORMAT:
        raise ValueError(
            f"{path} is not a foleygan encoder export (format {found!r}, expected {FORMAT!r}); "
            f"a Lightning checkpoint must be exported first: {HOW_TO_MAKE}"
        )
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path} has export version {payload.get('version')!r}, this code reads version "
            f"{VERSION}; re-export it with this version of foleygan"
        )
    return payload


def load_frozen_encoder(
    path: str | os.PathLike,
    mel_params: MelParams | None = None,
    map_location: str | torch.device = "cpu",
) -> FrozenEncoder:
    """Load an export; with `mel_params`, refuse an encoder trained on other log-mels."""
    path = Path(path)
    payload = _read_payload(path, map_location)
    found = MelParams(**payload["mel_params"])
    if mel_params is not None and found != mel_params:
        raise EncoderMismatchError(
            f"encoder {path} was trained on different log-mels: "
            + "; ".join(_mel_differences(mel_params, found))
            + ". Fix: re-export an encoder pretrained on the same mel configuration as the data "
            "(make pretrain-encoder with this data config), or change the data config to match"
        )
    encoder = ResNet18Encoder(**payload["arch"])
    encoder.load_state_dict(payload["state_dict"])
    frozen = FrozenEncoder(encoder, payload["centroids"], payload["class_names"], found)
    return frozen.to(map_location)
