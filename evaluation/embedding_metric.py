"""`ClassEmbeddings`: generated embeddings per class, gathered over ranks, scored by KAD and PRDC.

KAD and precision / recall / density / coverage need the embeddings themselves, not sums. The
metric keeps every generated row and its class in list states with `dist_reduce_fx="cat"`: at
`compute()` torchmetrics gathers them (uneven counts are padded and trimmed), so every rank holds
the union of all ranks' rows, in rank order, and computes the same figures from it. The rows are
float64; 7 classes x 100 clips x 10 VGGish windows x 128 dims is 7 MB, PANNs' 700 x 2,048 11 MB.

The reference side is fixed per class (`set_reference`, kept across `reset()`): its rows and, for
KAD, the bandwidth (median pairwise distance of that class's reference rows, computed once). Per
class with generated rows: `kad/<Class>` = `kernel_audio_distance(generated, reference)`, and
`prdc/<name>/<Class>` = `prdc(real=reference, fake=generated, k)[name]`; then `kad/mean` and
`prdc/<name>/mean` over those classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from evaluation.kad import kernel_audio_distance, median_pairwise_distance
from evaluation.prdc import PRDC_NAMES, prdc

VALIDATION_METRICS = ("fad", "kad", "prdc")
EMBEDDING_METRICS = ("kad", "prdc")  # the ones this metric computes


def validation_metrics(names: str | Sequence[str], k: int = 5) -> tuple[str, ...]:
    """ "fad,kad" or ["fad", "kad"] -> ("fad", "kad") in VALIDATION_METRICS order; unknown names,
    an empty list or a bad k raise `ValueError` naming the valid choices."""
    parts = names.split(",") if isinstance(names, str) else list(names)
    chosen = [str(n).strip().lower() for n in parts if str(n).strip()]
    unknown = sorted(set(chosen) - set(VALIDATION_METRICS))
    if unknown or not chosen:
        raise ValueError(
            f"unknown validation metric(s) {unknown or chosen!r}; choose from "
            f"{list(VALIDATION_METRICS)} (e.g. metrics: [fad, kad, prdc]); fad_inf and the "
            "bootstrap intervals are for `foleygan fad --metrics` on synthesised folders"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (nearest neighbours of PRDC) must be an integer >= 1, got {k!r}")
    return tuple(m for m in VALIDATION_METRICS if m in chosen)


@torch.no_grad()
def embed_clips(
    backbone: nn.Module, wav: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """wav [B, N], labels [B] -> (rows [M, D] float64, labels [M]): every clip's M / B rows."""
    if wav.dim() != 2 or labels.dim() != 1 or wav.shape[0] != labels.shape[0]:
        raise ValueError(
            f"embed_clips expects wav [B, N] and labels [B], got {tuple(wav.shape)} and "
            f"{tuple(labels.shape)}; squeeze a channel dimension, one label per clip"
        )
    backbone.eval()
    emb = backbone.embed(wav).detach().double()
    if emb.dim() != 2 or emb.shape[0] % max(wav.shape[0], 1):
        raise ValueError(
            f"backbone.embed returned shape {tuple(emb.shape)} for {wav.shape[0]} clips; it "
            "must return [M, D] with the same number of rows per clip"
        )
    per_clip = emb.shape[0] // max(wav.shape[0], 1)
    return emb, labels.to(emb.device).repeat_interleave(per_clip)


class ClassEmbeddings(Metric):
    """Per-class KAD and PRDC of generated embeddings against fixed reference embeddings."""

    is_differentiable = False
    higher_is_better = None  # KAD lower, PRDC higher
    full_state_update = False

    def __init__(
        self,
        class_names: Sequence[str],
        num_features: int,
        metrics: Sequence[str] = EMBEDDING_METRICS,
        k: int = 5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        chosen = validation_metrics(metrics, k)
        self.metrics = tuple(m for m in chosen if m in EMBEDDING_METRICS)
        if not self.metrics:
            raise ValueError(f"ClassEmbeddings computes {list(EMBEDDING_METRICS)}, got {chosen}")
        self.class_names, self.num_features, self.k = list(class_names), int(num_features), k
        self.add_state("gen_emb", default=[], dist_reduce_fx="cat")
        self.add_state("gen_label", default=[], dist_reduce_fx="cat")
        self._seed_states()
        self.reference: list[torch.Tensor] = []  # per class [n_c, D] float64 on CPU
        self.bandwidth: list[float] = []

    def _seed_states(self) -> None:
        # an empty [0, D] block first: a rank without clips still gathers tensors of the right
        # shape and dtype (torchmetrics would substitute a 1-D float32 one)
        device = self.device
        self.gen_emb.append(torch.zeros(0, self.num_features, dtype=torch.float64, device=device))
        self.gen_label.append(torch.zeros(0, dtype=torch.long, device=device))

    def reset(self) -> None:
        super().reset()
        self._seed_states()

    @property
    def has_reference(self) -> bool:
        return bool(self.reference)

    def min_reference_rows(self) -> int:
        """Rows a class needs on each side: 2 for KAD, k + 1 for PRDC."""
        return max(2, self.k + 1 if "prdc" in self.metrics else 2)

    def set_reference(self, emb: torch.Tensor, labels: torch.Tensor, where: str = "") -> None:
        """emb [R, D] reference rows, labels [R] into class_names. Every class needs
        `min_reference_rows()` rows; `where` names the reference in the error."""
        emb = torch.as_tensor(emb).detach().to("cpu", torch.float64)
        labels = torch.as_tensor(labels).to("cpu", torch.long)
        if emb.dim() != 2 or emb.shape[1] != self.num_features or labels.shape != emb.shape[:1]:
            raise ValueError(
                f"reference embeddings [R, {self.num_features}] with labels [R] expected, got "
                f"{tuple(emb.shape)} and {tuple(labels.shape)}; embed them with the same backbone"
            )
        need = self.min_reference_rows()
        counts = [int((labels == c).sum()) for c in range(len(self.class_names))]
        short = {n: c for n, c in zip(self.class_names, counts, strict=True) if c < need}
        if short:
            raise ValueError(
                f"reference embeddings per class {short} of {where or 'the reference'}: "
                f"{'/'.join(self.metrics)} need at least {need} per class (KAD 2, PRDC with "
                f"k={self.k} more than k); add reference clips for these classes or lower k"
            )
        self.reference = [emb[labels == c] for c in range(len(self.class_names))]
        self.bandwidth = (
            [median_pairwise_distance(ref) for ref in self.reference]
            if "kad" in self.metrics
            else []
        )

    def update(self, emb: torch.Tensor, labels: torch.Tensor) -> None:
        """Keep generated rows emb [M, D] with their labels [M] (indices into class_names)."""
        if emb.dim() != 2 or emb.shape[1] != self.num_features or labels.shape != emb.shape[:1]:
            raise ValueError(
                f"ClassEmbeddings.update expects rows [M, {self.num_features}] and labels [M], "
                f"got {tuple(emb.shape)} and {tuple(labels.shape)}"
            )
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names)}), got {labels.unique().tolist()}"
            )
        self.gen_emb.append(emb.detach().to(self.device, torch.float64))
        self.gen_label.append(labels.detach().to(self.device, torch.long))

    def compute(self) -> dict[str, torch.Tensor]:
        """{"kad/<Class>", "kad/mean", "prdc/<name>/<Class>", "prdc/<name>/mean"} (float64) for
        the classes with generated rows (the union over ranks)."""
        if not self.reference:
            raise ValueError("ClassEmbeddings has no reference; call set_reference first")
        emb = dim_zero_cat(self.gen_emb).to("cpu", torch.float64)
        labels = dim_zero_cat(self.gen_label).to("cpu", torch.long)
        present = [c for c in range(len(self.class_names)) if bool((labels == c).any())]
        if not present:
            raise ValueError("ClassEmbeddings.compute() called with no generated rows")
        per_class = {c: self._class_values(c, emb[labels == c]) for c in present}
        results: dict[str, torch.Tensor] = {}
        for key in per_class[present[0]]:
            for c in present:
                results[f"{key}/{self.class_names[c]}"] = _f64(per_class[c][key])
            values = [per_class[c][key] for c in present]
            results[f"{key}/mean"] = _f64(sum(values) / len(values))
        return results

    def _class_values(self, c: int, gen: torch.Tensor) -> dict[str, float]:
        """{"kad": ..., "prdc/precision": ..., ...} of one class's generated rows gen [m, D]."""
        need = self.min_reference_rows()
        if gen.shape[0] < need:
            raise ValueError(
                f"class {self.class_names[c]} has {gen.shape[0]} generated embedding(s); "
                f"{'/'.join(self.metrics)} need at least {need} (KAD 2, PRDC with k={self.k} "
                "more than k): generate more clips per class (FADCallback n_per_class) or lower k"
            )
        values: dict[str, float] = {}
        if "kad" in self.metrics:
            ref, bw = self.reference[c], self.bandwidth[c]
            values["kad"] = kernel_audio_distance(gen, ref, bandwidth=bw)
        if "prdc" in self.metrics:
            scores = prdc(self.reference[c], gen, k=self.k)
            values.update({f"prdc/{name}": scores[name] for name in PRDC_NAMES})
        return values


def _f64(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64)


def reference_store(
    items: Sequence[tuple[os.PathLike, int]],
    backbone: nn.Module,
    class_names: Sequence[str],
    metrics: Sequence[str] = EMBEDDING_METRICS,
    k: int = 5,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    where: str = "",
) -> ClassEmbeddings:
    """A `ClassEmbeddings` whose reference is the embeddings of items [(path, label into
    class_names)], cached on disk like the reference statistics
    (`evaluation.class_embeddings.reference_embeddings`)."""
    from evaluation.class_embeddings import reference_embeddings

    ref = reference_embeddings(list(items), backbone, cache_dir=cache_dir, batch_size=batch_size)
    store = ClassEmbeddings(class_names, int(backbone.num_features), metrics=metrics, k=k)
    store.set_reference(ref["emb"], ref["label"], where=where)
    return store
