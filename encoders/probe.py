"""The nearest-class-centroid probe: class sums, centroids, cosine logits, counts, accuracies.

The probe works on the L2-normalised projection outputs z (the embedding the GAN's C-SupCon
loss uses as its source term), so probe accuracy measures exactly what is exported. A centroid
is the normalised mean of a class's z; a sample is assigned the class of highest cosine.

One implementation for every user: SupConEncoderModule (validation, export), FrozenEncoder.classify,
`evaluation.class_probe` (`foleygan probe`) and `evaluation.probe_callback.ProbeCallback`. Both
training modules log the same keys: `val/probe/acc` and `val/probe/acc/<ClassName>`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

PROBE_KEY = "val/probe/acc"


def class_sums(
    z: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """z [N, D], labels [N] -> (sums [C, D] float32, counts [C] float32)."""
    if z.dim() != 2 or labels.shape != (z.shape[0],):
        raise ValueError(
            f"class_sums expects z [N, D] and labels [N], got {tuple(z.shape)} and "
            f"{tuple(labels.shape)}"
        )
    _check_labels(labels, num_classes)
    sums = torch.zeros(num_classes, z.shape[1], dtype=torch.float32, device=z.device)
    sums.index_add_(0, labels, z.float())
    counts = torch.bincount(labels, minlength=num_classes).float()
    return sums, counts


def centroids_from_sums(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """sums [C, D], counts [C] -> unit-norm centroids [C, D]; classes never seen stay zero."""
    means = sums / counts.clamp(min=1.0)[:, None]
    return torch.where(counts[:, None] > 0, F.normalize(means, dim=1), torch.zeros_like(means))


def centroid_logits(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """z [N, D] unit norm (encoder outputs are) -> cosine to each unit-norm centroid [N, C]."""
    return z @ centroids.to(z.dtype).T


def confusion_counts(
    labels: torch.Tensor, predicted: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """labels [N], predicted [N] -> confusion [C, C] long (row = true, column = predicted)."""
    if labels.shape != predicted.shape or labels.dim() != 1:
        raise ValueError(
            f"confusion_counts expects labels [N] and predicted [N], got {tuple(labels.shape)} "
            f"and {tuple(predicted.shape)}"
        )
    _check_labels(labels, num_classes)
    _check_labels(predicted, num_classes)
    flat = labels.long() * num_classes + predicted.long().to(labels.device)
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, -1)


def accuracies(confusion: torch.Tensor) -> tuple[float, list[float | None]]:
    """confusion [C, C] (rows = true class, cols = predicted) -> (overall, per class).

    A class with no samples gets None rather than a made-up number.
    """
    confusion = confusion.double()
    total = float(confusion.sum())
    overall = float(confusion.diagonal().sum()) / total if total > 0 else 0.0
    rows = confusion.sum(dim=1)
    per_class = [
        float(confusion[c, c] / rows[c]) if rows[c] > 0 else None for c in range(len(rows))
    ]
    return overall, per_class


def probe_figures(
    confusion: torch.Tensor, class_names: Sequence[str], key: str = PROBE_KEY
) -> dict[str, float]:
    """confusion [C, C] -> {key: overall, f"{key}/<ClassName>": per class}; empty rows skipped."""
    if len(class_names) != confusion.shape[0]:
        raise ValueError(
            f"{len(class_names)} class names for a {confusion.shape[0]}-class confusion matrix; "
            "pass one name per row"
        )
    if float(confusion.sum()) == 0:
        return {}
    overall, per_class = accuracies(confusion)
    figures = {key: overall}
    for name, acc in zip(class_names, per_class, strict=True):
        if acc is not None:
            figures[f"{key}/{name}"] = acc
    return figures


def _check_labels(labels: torch.Tensor, num_classes: int) -> None:
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}], got range "
            f"[{int(labels.min())}, {int(labels.max())}]; check num_classes against the data"
        )
