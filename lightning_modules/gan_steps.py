"""Helpers for FoleyGANModule: option checks and the bounded per-class validation samples."""

from __future__ import annotations

import math

import torch

LOSSES = ("hinge", "2c", "csupcon")


def check_loss_options(loss: str, encoder_path: str | None, d_steps_per_g_step: int) -> None:
    """Raise ValueError for an unknown loss, a C-SupCon run without encoder, or bad step counts."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {list(LOSSES)}")
    if loss == "csupcon" and not encoder_path:
        raise ValueError(
            "loss='csupcon' needs the frozen encoder E: set encoder_path to the file written by "
            "`encoders.export.export_encoder` (e.g. runs/encoder/encoder.pt)"
        )
    if d_steps_per_g_step < 1:
        raise ValueError(f"d_steps_per_g_step must be >= 1, got {d_steps_per_g_step}")


class ClassSampleBank:
    """Keeps up to `per_class` mels of each class in a fixed [C, K, H, W] buffer (gather-able)."""

    def __init__(
        self, num_classes: int, per_class: int, mel_shape: tuple[int, int], device: torch.device
    ) -> None:
        self.per_class = per_class
        self.samples = torch.zeros(num_classes, per_class, *mel_shape, device=device)
        self.counts = torch.zeros(num_classes, dtype=torch.long, device=device)

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


def probe_figures(
    correct: torch.Tensor, total: torch.Tensor, class_names: list[str]
) -> dict[str, float]:
    """Summed per-class counts [C] -> val/probe/acc and val/probe/acc/<ClassName>."""
    out = {}
    if int(total.sum()) > 0:
        out["val/probe/acc"] = float(correct.sum()) / float(total.sum())
    for c, name in enumerate(class_names):
        if int(total[c]) > 0:
            out[f"val/probe/acc/{name}"] = float(correct[c]) / float(total[c])
    return out
