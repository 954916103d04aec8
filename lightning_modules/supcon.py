"""SupConEncoderModule: pretrains the C-SupCon source encoder E (ResNet18 + SupCon).

Train batches: {"mel": [B, V >= 2, n_mels, T] augmented views, "label": [B]} (FoleyDataModule
with two_view=True); validation batches: {"mel": [B, n_mels, T], "label": [B]}.

Probe: nearest class centroid on the normalised projection z (encoders/probe.py), logged as
`val/probe/acc` and `val/probe/acc/<ClassName>` (the GAN's ProbeCallback uses the same keys).
Centroid sums come from the first view of each training batch, are summed over ranks when
validation starts and stored in the `centroids` buffer (so they land in the checkpoint); at the
end of fit they are recomputed in eval mode over the datamodule's un-augmented train loader
before the export. The first (sanity-check) validation has no centroids and skips the probe.

`finetune_epochs > 0` adds the report's classification fine-tuning: the last finetune_epochs
epochs train a linear head on frozen pooled features (cross-entropy, encoder in eval mode).
Under DDP that stage leaves parameters without gradients: use `ddp_find_unused_parameters_true`.

`optimizer` (an OptimizerCallable; default AdamW lr 1e-3, weight decay 1e-4) receives the
parameter groups [encoder, linear head (only with finetune_epochs > 0)]; the warm-up + cosine
LambdaLR built here wraps whatever it returns, one schedule per group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import OptimizerCallable
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from datamodules.classes import CLASS_NAMES
from datamodules.mel import MelParams
from encoders.export import export_from_module
from encoders.probe import (
    PROBE_KEY,
    centroid_logits,
    centroids_from_sums,
    class_sums,
    probe_figures,
)
from encoders.resnet import ResNet18Encoder
from lightning_modules.losses.supcon import supcon_loss
from lightning_modules.optimizers import supcon_adamw
from lightning_modules.warmup_cosine import WarmupCosine

MEL_PARAMS_KEY = "foleygan_mel_params"


class SupConEncoderModule(pl.LightningModule):
    def __init__(
        self,
        num_classes: int = 7,
        base_width: int = 64,
        proj_hidden: int = 512,
        proj_dim: int = 128,
        temperature: float = 0.07,
        optimizer: OptimizerCallable = supcon_adamw,
        warmup_epochs: int = 0,
        max_epochs_for_schedule: int | None = None,
        export_path: str | None = None,
        finetune_epochs: int = 0,
        class_names: list[str] | None = None,
        export_recompute_centroids: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer = optimizer
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} entries but num_classes={num_classes}; "
                "give one name per class or leave class_names unset"
            )
        if class_names is None:
            default = list(CLASS_NAMES) if num_classes == len(CLASS_NAMES) else None
            class_names = default or [f"class_{i}" for i in range(num_classes)]
        self.class_names = list(class_names)
        self.mel_params = MelParams()
        self.encoder = ResNet18Encoder(
            in_channels=1, base_width=base_width, proj_hidden=proj_hidden, proj_dim=proj_dim
        )
        self.linear_head = (
            nn.Linear(self.encoder.num_features, num_classes) if finetune_epochs > 0 else None
        )
        self.register_buffer("centroids", torch.zeros(num_classes, proj_dim))
        self.register_buffer("centroid_counts", torch.zeros(num_classes))
        self.register_buffer("_sum_z", torch.zeros(num_classes, proj_dim), persistent=False)
        self.register_buffer("_count", torch.zeros(num_classes), persistent=False)
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.val_linear_acc = MulticlassAccuracy(num_classes, average="micro")
        self.last_confusion: torch.Tensor | None = None

    # -- set-up -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if isinstance(getattr(datamodule, "mel_params", None), MelParams):
            self.mel_params = datamodule.mel_params
        if self.hparams.class_names is None and datamodule is not None:
            names = list(getattr(datamodule, "class_names", self.class_names))
            if len(names) == self.hparams.num_classes:
                self.class_names = names
        max_epochs = self.trainer.max_epochs
        finetune = self.hparams.finetune_epochs
        if stage == "fit" and finetune > 0 and (max_epochs is None or max_epochs <= finetune):
            raise ValueError(
                f"finetune_epochs={finetune} needs trainer.max_epochs > {finetune} (got "
                f"{max_epochs}): the last finetune_epochs of max_epochs fine-tune a classifier; "
                "set trainer.max_epochs or finetune_epochs: 0"
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[MEL_PARAMS_KEY] = self.mel_params.as_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if MEL_PARAMS_KEY in checkpoint:
            self.mel_params = MelParams(**checkpoint[MEL_PARAMS_KEY])

    def _steps_per_epoch(self) -> int:
        if math.isinf(self.trainer.num_training_batches):  # max_steps-only runs skip this
            self.trainer.fit_loop.setup_data()
        batches = self.trainer.num_training_batches
        if math.isinf(batches):
            raise ValueError(
                "the LR schedule needs a sized train loader (got an infinite one); set "
                "max_epochs_for_schedule and use a map-style dataset"
            )
        return max(1, math.ceil(batches / self.trainer.accumulate_grad_batches))

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        total = self.trainer.estimated_stepping_batches  # also sets up the train loader
        per_epoch = self._steps_per_epoch()
        if hp.max_epochs_for_schedule is not None:
            total = hp.max_epochs_for_schedule * per_epoch
        if math.isinf(total):
            raise ValueError("set trainer.max_epochs / max_steps or max_epochs_for_schedule")
        contrastive = max(1, int(total) - hp.finetune_epochs * per_epoch)
        warmup = min(hp.warmup_epochs * per_epoch, contrastive)
        groups = [{"params": list(self.encoder.parameters())}]
        lambdas = [WarmupCosine(warmup, contrastive)]
        if self.linear_head is not None:
            groups.append({"params": list(self.linear_head.parameters())})
            lambdas.append(WarmupCosine(0, max(1, hp.finetune_epochs * per_epoch), contrastive))
        optimizer = self.optimizer(groups)  # the injected optimizer, one group per part
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        schedule = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    # -- training -----------------------------------------------------------------------------
    def in_finetune(self) -> bool:
        """True during the last `finetune_epochs` epochs of fit."""
        trainer = self._trainer
        if self.linear_head is None or trainer is None or trainer.max_epochs is None:
            return False
        return self.current_epoch >= trainer.max_epochs - self.hparams.finetune_epochs

    def on_train_epoch_start(self) -> None:
        self._sum_z.zero_()
        self._count.zero_()

    def _accumulate(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        sums, counts = class_sums(z.detach(), labels, self.hparams.num_classes)
        self._sum_z += sums
        self._count += counts

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        # mel [B, V, n_mels, T], label [B] -> scalar loss
        mel, labels = batch["mel"], batch["label"]
        if mel.dim() != 4 or mel.shape[1] < 2:
            raise ValueError(
                f"SupConEncoderModule trains on two-view batches mel [B, 2, n_mels, T], got "
                f"{tuple(mel.shape)}; set the data module's two_view: true"
            )
        if self.in_finetune():
            return self._finetune_step(mel[:, 0], labels)
        b, v = mel.shape[:2]
        features = self.encoder(mel.flatten(0, 1)).view(b, v, -1)  # [B, V, D]
        loss = supcon_loss(features, labels, temperature=self.hparams.temperature)
        self._accumulate(features[:, 0], labels)
        self.log("train/supcon/loss", loss, prog_bar=True, batch_size=b)
        return loss

    def _finetune_step(self, mel: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.encoder.eval()  # frozen: BatchNorm statistics stay as pretrained
        with torch.no_grad():
            h = self.encoder.features(mel)
            self._accumulate(self.encoder.project(h), labels)
        logits = self.linear_head(h)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        self.log("train/finetune/loss", loss, prog_bar=True, batch_size=len(labels))
        self.log("train/finetune/acc", acc, batch_size=len(labels))
        return loss

    # -- validation: the nearest-centroid probe -----------------------------------------------
    def probe_ready(self) -> bool:
        return bool(self.centroid_counts.sum() > 0)

    def on_validation_epoch_start(self) -> None:
        self.last_confusion = None
        strategy = self.trainer.strategy
        counts = strategy.reduce(self._count.clone(), reduce_op="sum")
        if counts.sum() > 0:
            sums = strategy.reduce(self._sum_z.clone(), reduce_op="sum")
            self.centroids.copy_(centroids_from_sums(sums, counts))
            self.centroid_counts.copy_(counts)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # mel [B, n_mels, T] (a views axis is tolerated: the first view is used), label [B]
        mel, labels = batch["mel"], batch["label"]
        mel = mel[:, 0] if mel.dim() == 4 else mel
        h = self.encoder.features(mel)
        z = self.encoder.project(h)
        if len(labels) > 1:
            loss = supcon_loss(z[:, None], labels, temperature=self.hparams.temperature)
            self.log("val/supcon/loss", loss, batch_size=len(labels), sync_dist=True)
        if self.probe_ready():
            self.val_confusion.update(centroid_logits(z, self.centroids).argmax(dim=1), labels)
        if self.in_finetune():
            self.val_linear_acc(self.linear_head(h), labels)
            self.log("val/linear_acc", self.val_linear_acc, batch_size=len(labels))

    def on_validation_epoch_end(self) -> None:
        if not self.probe_ready():
            self.val_confusion.reset()
            return
        confusion = self.val_confusion.compute()
        self.val_confusion.reset()
        self.last_confusion = confusion.detach().cpu()
        for key, value in probe_figures(confusion, self.class_names).items():
            self.log(key, value, prog_bar=key == PROBE_KEY, sync_dist=True)

    # -- export ---------------------------------------------------------------------------------
    @torch.no_grad()
    def recompute_centroids(self, batches: Iterable[dict]) -> None:
        """Centroids in eval mode from batches {"mel": [B, (V,) n_mels, T], "label": [B]}."""
        was_training = self.encoder.training
        self.encoder.eval()
        sums = torch.zeros_like(self._sum_z)
        counts = torch.zeros_like(self._count)
        for batch in batches:
            mel = batch["mel"].to(self.device)
            mel = mel[:, 0] if mel.dim() == 4 else mel
            s, c = class_sums(self.encoder(mel), batch["label"].to(self.device), len(counts))
            sums += s
            counts += c
        self.encoder.train(was_training)
        if counts.sum() > 0:
            self.centroids.copy_(centroids_from_sums(sums, counts))
            self.centroid_counts.copy_(counts)

    def on_fit_end(self) -> None:
        if self.hparams.export_path is None:
            return
        if self.trainer.is_global_zero:
            datamodule = getattr(self.trainer, "datamodule", None)
            if self.hparams.export_recompute_centroids and datamodule is not None:
                self.recompute_centroids(datamodule.train_dataloader())
            export_from_module(self, Path(self.hparams.export_path))
        self.trainer.strategy.barrier("supcon_export")
