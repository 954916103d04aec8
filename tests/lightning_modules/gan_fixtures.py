"""Shared GAN test fixtures: a 3-class tiny FoleyGANModule size and a datamodule of mels."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.mel import MelParams

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
