"""Shared GAN test fixtures: a 3-class tiny FoleyGANModule size, a datamodule of mels, and a
frozen copy of the training step as it was before the remedies, the guard and the sync-free
counters (git 97fa581, lightning_modules/gan.py): the reference that the module with every new
option off must equal to the bit. Do not edit `LegacyStepGAN` to follow the module."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.mel import MelParams
from lightning_modules.gan import FoleyGANModule
from lightning_modules.losses.adversarial import hinge_d, hinge_g

SHAPE = (16, 32)
SMALL = dict(num_classes=3, mel_shape=SHAPE, z_dim=8, g_width=8, d_width=8, n_stages=2,
             embed_dim=16, ema_start=2, class_names=["A", "B", "C"])


class _Mels(Dataset):
    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.labels = torch.arange(n) % 3
        self.mel = torch.randn(n, *SHAPE, generator=g) + self.labels.view(-1, 1, 1) - 6.0

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"mel": self.mel[i], "label": self.labels[i]}


class TinyData(pl.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.ds = _Mels()
        self.mel_params = MelParams()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.ds, batch_size=4, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.ds, batch_size=4)

    def mel_stats(self) -> dict:
        return {"min": self.ds.mel.amin(dim=(0, 2)), "max": self.ds.mel.amax(dim=(0, 2))}


class LegacyStepGAN(FoleyGANModule):
    """Today's networks and __init__, yesterday's training_step (no validation logits)."""

    def _legacy_cond_loss(self, out: dict, labels: torch.Tensor, source) -> torch.Tensor:
        if self.criterion is None:
            return out["logits"].new_zeros((), dtype=torch.float32)
        parts = [out["embed"], out["proxy"], labels] + ([] if source is None else [source])
        if self.hparams.gather_negatives and self.trainer.world_size > 1:
            parts = [self.all_gather(p, sync_grads=True).flatten(0, 1) for p in parts]
        return self.criterion(*parts)

    def _legacy_optimize(self, opt, loss: torch.Tensor) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.grad_clip is not None:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip,
                                gradient_clip_algorithm="norm")
        opt.step()

    def _legacy_cond_weight(self) -> float:
        warmup = self.hparams.cond_warmup_steps
        ramp = 1.0 if warmup <= 0 else min(1.0, int(self.g_steps) / warmup)
        return self.hparams.cond_weight * ramp

    def _legacy_d_step(self, batch: dict, source) -> dict:
        real, labels = self.mel_norm.normalize(batch["mel"]), batch["label"]
        opt = self.optimizers()[1]
        with self.toggled_optimizer(opt):
            with torch.no_grad():
                fake = self.generator(self._z(labels.shape[0]), labels)
            out = self.discriminator(torch.cat([real, fake.to(real.dtype)]),
                                     torch.cat([labels, labels]))
            logits_real, logits_fake = out["logits"].float().chunk(2)
            real_out = {k: v[: labels.shape[0]] for k, v in out.items()}
            adv = hinge_d(logits_real, logits_fake)
            cond = self._legacy_cond_loss(real_out, labels, source)
            loss = adv + self._legacy_cond_weight() * cond
            self._legacy_optimize(opt, loss)
        return {"train/d/loss": loss, "train/d/adv": adv, "train/d/cond": cond,
                "train/d/logits_real": logits_real.mean(),
                "train/d/logits_fake": logits_fake.mean()}

    def _legacy_g_step(self, batch: dict, source) -> dict:
        labels = batch["label"]
        opt = self.optimizers()[0]
        with self.toggled_optimizer(opt):
            out = self.discriminator(self.generator(self._z(labels.shape[0]), labels), labels)
            adv = hinge_g(out["logits"].float())
            cond = self._legacy_cond_loss(out, labels, source)
            loss = adv + self._legacy_cond_weight() * cond
            self._legacy_optimize(opt, loss)
        self.g_steps += 1
        self.g_ema.update(self.generator, step=int(self.g_steps))
        return {"train/g/loss": loss, "train/g/adv": adv, "train/g/cond": cond}

    def training_step(self, batch: dict, batch_idx: int) -> None:
        source = self._source(batch["mel"])
        logs = {}
        for _ in range(self.hparams.d_steps_per_g_step):
            logs.update(self._legacy_d_step(batch, source))
        logs.update(self._legacy_g_step(batch, source))
        logs["train/cond/weight"] = torch.tensor(self._legacy_cond_weight())
        self.log_dict({k: v.detach() for k, v in logs.items()}, prog_bar=False,
                      batch_size=batch["label"].shape[0])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        return None
