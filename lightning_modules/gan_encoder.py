"""The GAN's frozen encoder E (C-SupCon's source embeddings, the probe's judge): set, loaded
from `encoder_path` at setup, never part of the state_dict (the GAN checkpoint stays free of it).

A mixin of FoleyGANModule: it reads the module's `hparams.encoder_path`, `class_names`,
`criterion`, `trainer` and `device`.
"""

from __future__ import annotations

import torch
from torch import nn

from encoders.export import load_frozen_encoder


class FrozenEncoderMixin:
    """set_encoder / frozen_encoder / _load_encoder / _source for a LightningModule."""

    def set_encoder(self, encoder: nn.Module) -> None:
        """Use `encoder` (mel [B, 80, T] -> [B, embed_dim], normalised) as the frozen E."""
        object.__setattr__(self, "_encoder", encoder.eval().requires_grad_(False))

    def frozen_encoder(self) -> nn.Module | None:
        """The frozen E on the module's device (a FrozenEncoder when loaded from encoder_path),
        or None when there is none."""
        enc = self.__dict__.get("_encoder")
        return None if enc is None else enc.to(self.device).eval()

    def _load_encoder(self) -> None:
        if self.frozen_encoder() is not None or not self.hparams.encoder_path:
            return
        dm = getattr(self.trainer, "datamodule", None)
        enc = load_frozen_encoder(self.hparams.encoder_path, getattr(dm, "mel_params", None))
        names = list(getattr(enc, "class_names", self.class_names))
        if names != self.class_names:
            raise ValueError(
                f"encoder {self.hparams.encoder_path} was trained on classes {names}, the GAN "
                f"uses {self.class_names}: its probe would mislabel them; re-export the encoder "
                "from a pretraining run on the same dataset"
            )
        self.set_encoder(enc)

    def _source(self, mel: torch.Tensor) -> torch.Tensor | None:
        if self.criterion is None or not self.criterion.needs_source:
            return None
        enc = self.frozen_encoder()
        if enc is None:
            raise RuntimeError("loss='csupcon' but no encoder is loaded: call set_encoder()")
        with torch.no_grad():
            return enc(mel).float()
