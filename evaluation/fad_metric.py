"""`FrechetAudioDistance`: per-class FAD as a torchmetrics `Metric` (DDP-safe sum states).

Shaped like torchmetrics' FID: the generated side accumulates float64 sums per class (sum x,
sum x x^T, count) with `dist_reduce_fx="sum"`, so ranks may hold uneven numbers of clips; the
reference side is a fixed (mu, sigma) per class, set once and kept across `reset()`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import Metric

from datamodules.classes import CLASS_NAMES
from evaluation.fad import frechet_distance, gaussian_stats, stats_from_sums


class FrechetAudioDistance(Metric):
    """Per-class Frechet Audio Distance of generated clips against reference statistics.

    backbone: an `nn.Module` with `embed(wav [B, N]) -> [M, D]` (M a multiple of B: every clip
    gives M / B embeddings, e.g. VGGish's ten 1 s windows) and `num_features = D`. It is kept in
    eval mode and never receives gradients.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 7,
        class_names: Sequence[str] | None = None,
        reference_stats: dict[str, torch.Tensor] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not hasattr(backbone, "embed") or not hasattr(backbone, "num_features"):
            raise TypeError(
                f"backbone {type(backbone).__name__} needs `embed(wav [B, N]) -> [M, D]` and "
                "`num_features`; build one with evaluation.backbones.load_backbone"
            )
        names = list(class_names) if class_names is not None else list(CLASS_NAMES[:num_classes])
        if len(names) != num_classes:
            raise ValueError(
                f"got {len(names)} class names for num_classes={num_classes}; "
                "pass one name per class"
            )
        self.backbone = backbone.eval()
        self.num_classes, self.class_names = num_classes, names
        d = int(backbone.num_features)
        f64 = torch.float64
        self.add_state("gen_sum", torch.zeros(num_classes, d, dtype=f64), dist_reduce_fx="sum")
        self.add_state("gen_outer", torch.zeros(num_classes, d, d, dtype=f64), dist_reduce_fx="sum")
        self.add_state("gen_count", torch.zeros(num_classes, dtype=f64), dist_reduce_fx="sum")
        self.register_buffer("ref_mu", torch.zeros(num_classes, d, dtype=f64), persistent=False)
        self.register_buffer(
            "ref_sigma", torch.zeros(num_classes, d, d, dtype=f64), persistent=False
        )
        self.register_buffer(
            "ref_valid", torch.zeros(num_classes, dtype=torch.bool), persistent=False
        )
        if reference_stats is not None:
            self.set_reference(reference_stats)

    @property
    def has_reference(self) -> bool:
        return bool(self.ref_valid.any())

    @torch.no_grad()
    def _embed(self, wav: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # wav [B, N], labels [B] -> embeddings [M, D] float64, labels [M]
        if wav.dim() != 2 or labels.dim() != 1 or wav.shape[0] != labels.shape[0]:
            raise ValueError(
                f"FrechetAudioDistance expects wav [B, N] and labels [B], got {tuple(wav.shape)} "
                f"and {tuple(labels.shape)}; squeeze a channel dimension, one label per clip"
            )
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}), got {labels.unique().tolist()}"
            )
        self.backbone.eval()
        emb = self.backbone.embed(wav).detach().double()
        if emb.dim() != 2 or emb.shape[0] % max(wav.shape[0], 1):
            raise ValueError(
                f"backbone.embed returned shape {tuple(emb.shape)} for {wav.shape[0]} clips; "
                "it must return [M, D] with the same number of embeddings per clip"
            )
        per_clip = emb.shape[0] // max(wav.shape[0], 1)
        return emb, labels.to(emb.device).repeat_interleave(per_clip)

    def update(
        self,
        wav: torch.Tensor,
        labels: torch.Tensor,
        embedded: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        """Embed generated clips wav [B, N] (22,050 Hz) with labels [B] and accumulate per class.

        embedded: (rows [M, D], labels [M]) of these clips when the caller already embedded them
        with this backbone (`evaluation.embedding_metric.embed_clips`): not embedded twice.
        """
        emb, emb_labels = self._embed(wav, labels) if embedded is None else embedded
        emb = emb.to(self.gen_sum.device)
        emb_labels = emb_labels.to(self.gen_sum.device)
        self.gen_sum.index_add_(0, emb_labels, emb)
        self.gen_count += torch.bincount(emb_labels, minlength=self.num_classes).double()
        for c in emb_labels.unique().tolist():
            rows = emb[emb_labels == c]
            self.gen_outer[c] += rows.T @ rows

    def set_reference(self, stats: dict[str, torch.Tensor]) -> None:
        """stats: {"mu": [C, D], "sigma": [C, D, D], optional "count": [C]} (0 count = no data)."""
        mu, sigma = torch.as_tensor(stats["mu"]), torch.as_tensor(stats["sigma"])
        expected = (tuple(self.ref_mu.shape), tuple(self.ref_sigma.shape))
        if (tuple(mu.shape), tuple(sigma.shape)) != expected:
            raise ValueError(
                f"reference stats have shapes {tuple(mu.shape)} / {tuple(sigma.shape)}, expected "
                f"{expected[0]} / {expected[1]}; compute them with the same backbone and classes"
            )
        count = stats.get("count")
        valid = torch.ones(self.num_classes, dtype=torch.bool)
        if count is not None:
            valid = torch.as_tensor(count).to("cpu") >= 2
        self.ref_mu.copy_(mu.to(self.ref_mu))
        self.ref_sigma.copy_(sigma.to(self.ref_sigma))
        self.ref_valid.copy_(valid.to(self.ref_valid.device))

    @torch.no_grad()
    def compute_reference(self, wav: torch.Tensor, labels: torch.Tensor) -> None:
        """Set the reference statistics from reference clips wav [B, N] with labels [B]."""
        emb, emb_labels = self._embed(wav, labels)
        d = emb.shape[1]
        stats = {
            "mu": torch.zeros(self.num_classes, d, dtype=torch.float64),
            "sigma": torch.zeros(self.num_classes, d, d, dtype=torch.float64),
            "count": torch.bincount(emb_labels.cpu(), minlength=self.num_classes),
        }
        for c in emb_labels.unique().tolist():
            rows = emb[emb_labels == c]
            if rows.shape[0] >= 2:
                stats["mu"][c], stats["sigma"][c] = gaussian_stats(rows)
        self.set_reference(stats)

    def compute(self) -> dict[str, torch.Tensor]:
        """{ClassName: FAD} for every class with generated clips, plus "mean" over them."""
        present = [c for c in range(self.num_classes) if float(self.gen_count[c]) > 0]
        if not present:
            raise ValueError(
                "FrechetAudioDistance.compute() called with no generated clips; call update() first"
            )
        results: dict[str, torch.Tensor] = {}
        for c in present:
            name = self.class_names[c]
            if float(self.gen_count[c]) < 2:
                raise ValueError(
                    f"class {name} has {int(self.gen_count[c])} generated embedding(s); a "
                    "covariance needs at least 2: generate more clips for it"
                )
            if not bool(self.ref_valid[c]):
                raise ValueError(
                    f"class {name} has no reference statistics (fewer than 2 reference "
                    "embeddings or none set); call set_reference / compute_reference with it"
                )
            mu, sigma = stats_from_sums(self.gen_sum[c], self.gen_outer[c], self.gen_count[c])
            fad = frechet_distance(self.ref_mu[c], self.ref_sigma[c], mu, sigma)
            results[name] = torch.tensor(fad, dtype=torch.float64)
        results["mean"] = torch.stack(list(results.values())).mean()
        return results
