"""`ProbeCallback`: does G draw the class it is asked for? The frozen encoder's probe, per epoch.

For every validation batch the generator draws one mel per label (`pl_module.generate(labels)`,
fresh z) and the frozen SupCon encoder E classifies it with its nearest-centroid probe
(`FrozenEncoder.classify`). The confusion counts are summed over the epoch and over ranks and
logged as `val/probe/acc` and `val/probe/acc/<ClassName>` (the keys SupConEncoderModule logs
for real clips). Chance level is 1 / C. Without an encoder (`frozen_encoder()` is None, e.g. a
hinge or 2C run without encoder_path) nothing is logged.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from encoders.probe import confusion_counts, probe_figures


class ProbeCallback(pl.Callback):
    """Needs a module with `generate(labels)`, `class_names` and `frozen_encoder()` (an encoder
    with `classify(mel) -> logits [B, C]`, or None), and batches {"mel", "label": [B]}."""

    def __init__(self) -> None:
        super().__init__()
        self._encoder: nn.Module | None = None
        self._confusion: torch.Tensor | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        missing = [name for name in ("generate", "class_names", "frozen_encoder")
                   if not hasattr(pl_module, name)]
        if missing:
            raise ValueError(
                f"ProbeCallback drives a generator module through generate(labels), class_names "
                f"and frozen_encoder(); {type(pl_module).__name__} has no {', '.join(missing)}: "
                "use it with FoleyGANModule or remove it from the callbacks"
            )

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        encoder = pl_module.frozen_encoder()
        self._encoder = encoder if encoder is not None and hasattr(encoder, "classify") else None
        num_classes = len(pl_module.class_names)
        self._confusion = torch.zeros(num_classes, num_classes, dtype=torch.long,
                                      device=pl_module.device)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch: dict, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self._encoder is None:
            return
        labels = batch["label"].to(pl_module.device)
        predicted = self._encoder.classify(pl_module.generate(labels)).argmax(dim=1)
        self._confusion += confusion_counts(labels, predicted, self._confusion.shape[0])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._encoder is None:
            return
        confusion = trainer.strategy.reduce(self._confusion.clone(), reduce_op="sum")
        for key, value in probe_figures(confusion, list(pl_module.class_names)).items():
            # the counts are summed over ranks: identical everywhere, no second reduction
            pl_module.log(key, value, sync_dist=False)
        self._encoder = None
