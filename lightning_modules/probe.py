"""The nearest-class-centroid probe: class sums, centroids, cosine logits, accuracies.

The probe works on the L2-normalised projection outputs z (the embedding the GAN's C-SupCon
loss uses as its source term), so probe accuracy measures exactly what is exported. A centroid
is the normalised mean of a class's z; a sample is assigned the class of highest cosine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_sums(
    z: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """z [N, D], labels [N] -> (sums [C, D] float32, counts [C] float32)."""
    if z.dim() != 2 or labels.shape != (z.shape[0],):
        raise ValueError(
            f"class_sums expects z [N, D] and labels [N], got {tuple(z.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}], got range "
            f"[{int(labels.min())}, {int(labels.max())}]; check num_classes against the data"
        )
    sums = torch.zeros(num_classes, z.shape[1], dtype=torch.float32, device=z.device)
    sums.index_add_(0, labels, z.float())
    counts = torch.bincount(labels, minlength=num_classes).float()
    return sums, counts


def centroids_from_sums(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """sums [C, D], counts [C] -> unit-norm centroids [C, D]; classes never seen stay zero."""
    means = sums / counts.clamp(min=1.0)[:, None]
    return torch.where(counts[:, None] > 0, F.normalize(means, dim=1), torch.zeros_like(means))


def centroid_logits(z: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """z [N, D] unit norm (encoder outputs are) -> cosine to each unit-norm centroid [N, C].

    The same product as FrozenEncoder.classify, so probe and export give identical logits.
    """
    return z @ centroids.to(z.dtype).T


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
