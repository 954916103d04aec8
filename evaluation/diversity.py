"""Diversity of generated mels next to real ones: `DiversityCallback` and its figures.

Per class, the mean pairwise RMS distance between mels (`mean_pairwise_rms`) of up to
`n_per_class` validation clips ("real") and as many generated with the same labels ("fake").
Logged every validation epoch as `val/diversity/<ClassName>/real`, `.../fake` and
`val/diversity/mean_ratio` (mean over classes of fake / real; below 1 means G draws less varied
mels than the data, near 0 is mode collapse). The banks are fixed-size buffers gathered across
ranks before the figures are computed, so every rank logs the same numbers.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch


class ClassSampleBank:
    """Keeps up to `per_class` mels of each class in a fixed [C, K, H, W] buffer (gather-able)."""

    def __init__(
        self, num_classes: int, per_class: int, mel_shape: tuple[int, int], device: torch.device
    ) -> None:
        self.per_class = per_class
        self.samples = torch.zeros(num_classes, per_class, *mel_shape, device=device)
        self.counts = torch.zeros(num_classes, dtype=torch.long, device=device)

    def room(self, labels: torch.Tensor) -> torch.Tensor:
        """labels [B] -> bool [B]: which rows `add` would store (the class still has room)."""
        counts = self.counts.tolist()
        keep = []
        for label in labels.tolist():
            keep.append(counts[label] < self.per_class)
            counts[label] += 1
        return torch.tensor(keep, dtype=torch.bool, device=labels.device)

    def add(self, mel: torch.Tensor, labels: torch.Tensor) -> None:
        """mel [B, H, W], labels [B]: store while the class has room."""
        for row, label in zip(mel.detach().float(), labels.tolist(), strict=True):
            slot = int(self.counts[label])
            if slot < self.per_class:
                self.samples[label, slot] = row
                self.counts[label] += 1


def mean_pairwise_rms(x: torch.Tensor) -> float:
    """x [n, H, W] -> mean over pairs i < j of ||x_i - x_j||_2 / sqrt(H W); nan when n < 2."""
    n = x.shape[0]
    if n < 2:
        return math.nan
    flat = x.reshape(n, -1).double()
    dist = torch.cdist(flat, flat)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), diagonal=1)
    return float(dist[upper].mean() / math.sqrt(flat.shape[1]))


def diversity_figures(
    real: torch.Tensor,
    real_counts: torch.Tensor,
    fake: torch.Tensor,
    fake_counts: torch.Tensor,
    class_names: list[str],
) -> dict[str, float]:
    """real/fake [R, C, K, H, W] gathered banks, counts [R, C] -> val/diversity/* figures."""
    out: dict[str, float] = {}
    ratios = []
    for c, name in enumerate(class_names):
        figures = {}
        for kind, bank, counts in (("real", real, real_counts), ("fake", fake, fake_counts)):
            rows = [bank[r, c, : int(counts[r, c])] for r in range(bank.shape[0])]
            figures[kind] = mean_pairwise_rms(torch.cat(rows))
            if not math.isnan(figures[kind]):
                out[f"val/diversity/{name}/{kind}"] = figures[kind]
        if not math.isnan(figures["real"] + figures["fake"]) and figures["real"] > 0:
            ratios.append(figures["fake"] / figures["real"])
    if ratios:
        out["val/diversity/mean_ratio"] = sum(ratios) / len(ratios)
    return out


class DiversityCallback(pl.Callback):
    """Log `val/diversity/*` from the validation batches and `pl_module.generate(labels)`.

    The first `n_per_class` validation mels of each class (per rank) fill the real bank; the
    generator draws one mel for each of those labels (fresh z) into the fake bank. Needs a
    module with `generate(labels) -> mel [B, H, W]` and `class_names`, and batches
    `{"mel": [B, H, W], "label": [B]}`.
    """

    def __init__(self, n_per_class: int = 16) -> None:
        super().__init__()
        if n_per_class < 2:
            raise ValueError(
                f"DiversityCallback(n_per_class={n_per_class}): a pairwise distance needs at "
                "least 2 clips per class; use n_per_class >= 2 (16 by default)"
            )
        self.n_per_class = n_per_class
        self._banks: tuple[ClassSampleBank, ClassSampleBank] | None = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._banks = None

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch: dict, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        mel, labels = batch["mel"], batch["label"]
        if self._banks is None:
            args = (len(pl_module.class_names), self.n_per_class, tuple(mel.shape[-2:]),
                    mel.device)
            self._banks = (ClassSampleBank(*args), ClassSampleBank(*args))
        real, fake = self._banks
        keep = fake.room(labels)
        real.add(mel, labels)
        if bool(keep.any()):
            fake.add(pl_module.generate(labels[keep]), labels[keep])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._banks is None:  # no validation batch on this rank
            return
        real, fake = self._banks
        gathered = [_gather(trainer, pl_module, x)
                    for x in (real.samples, real.counts, fake.samples, fake.counts)]
        figures = diversity_figures(*gathered, list(pl_module.class_names))
        for key, value in figures.items():
            # computed from the gathered banks: identical on every rank, no second reduction
            pl_module.log(key, value, sync_dist=False)
        self._banks = None


def _gather(trainer: pl.Trainer, pl_module: pl.LightningModule, x: torch.Tensor) -> torch.Tensor:
    """x [...] -> [world_size, ...] (all ranks' copies; [1, ...] in a single process)."""
    return pl_module.all_gather(x) if trainer.world_size > 1 else x.unsqueeze(0)
