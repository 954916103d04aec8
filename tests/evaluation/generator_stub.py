"""A LightningModule with the generator surface the validation callbacks drive, known outputs.

`generate(labels)` returns class level 10 * label plus seeded noise and records every call, so a
test can recompute what a callback should have logged from exactly the mels it saw.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

NAMES = ["A", "B", "C"]
SHAPE = (6, 10)


class StubGenerator(pl.LightningModule):
    def __init__(self, encoder: torch.nn.Module | None = None, noise: float = 1.0) -> None:
        super().__init__()
        self.class_names = list(NAMES)
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.encoder, self.noise = encoder, noise
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._rng = torch.Generator().manual_seed(0)

    def frozen_encoder(self) -> torch.nn.Module | None:
        return self.encoder

    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # labels [B] long -> mel [B, 6, 10]
        noise = torch.randn(len(labels), *SHAPE, generator=self._rng)
        mel = 10.0 * labels.float().view(-1, 1, 1) + self.noise * noise
        self.calls.append((labels.clone(), mel.clone()))
        return mel

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return (self.weight - 1.0) ** 2

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        return None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class LevelEncoder(nn.Module):
    """classify: minus the distance of the mel's mean to `levels` (one per class)."""

    def __init__(self, levels: tuple[float, ...] = (0.0, 10.0, 20.0)) -> None:
        super().__init__()
        self.levels = torch.tensor(levels)

    def classify(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, H, W] -> logits [B, C]
        return -(mel.mean(dim=(1, 2))[:, None] - self.levels.to(mel.device)[None]).abs()


def val_batches(n_batches: int = 3, batch: int = 5, seed: int = 1) -> list[dict]:
    """Batches {"mel": [B, 6, 10], "label": [B]} with uneven class counts."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        labels = torch.randint(0, 3, (batch,), generator=g)
        out.append({"mel": torch.randn(batch, *SHAPE, generator=g) * (1 + labels.view(-1, 1, 1)),
                    "label": labels})
    return out


def loader(batches: list[dict]) -> DataLoader:
    return DataLoader(batches, batch_size=None)
