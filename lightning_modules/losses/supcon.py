"""Supervised contrastive loss (Khosla et al. 2020, their eq. 2, "L_out").

For the N * V anchors a (every view of every sample), with P(a) the other anchors that share
a's label (the other view of the same sample or any view of another sample of the class, never a
itself):

    L = mean over {a : |P(a)| > 0} of  -1/|P(a)| sum_{p in P(a)} log( exp(z_a.z_p / t)
                                                           / sum_{k != a} exp(z_a.z_k / t) )

The reference code multiplies the loss by `temperature / base_temperature`; that factor is not
part of the equation and is not applied here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_inputs(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> None:
    if features.dim() != 3:
        raise ValueError(
            f"supcon_loss expects features [N, V, D] (samples, views, dims), got shape "
            f"{tuple(features.shape)}; add a views axis with features.unsqueeze(1) for one view"
        )
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"supcon_loss expects labels [N] with N = features.shape[0] = {features.shape[0]}, "
            f"got labels of shape {tuple(labels.shape)}; pass one integer label per sample"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            f"supcon_loss expects integer class labels, got dtype {labels.dtype}; "
            "pass class indices (torch.long)"
        )
    if not temperature > 0:
        raise ValueError(f"supcon_loss temperature must be > 0, got {temperature}")


def supcon_loss(
    features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """Supervised contrastive loss; features [N, V, D] (normalised here), labels [N] -> scalar.

    Anchors without a positive are left out of the mean; when no anchor has one the result is
    `0 * features.sum()` (zero, with defined gradients).
    """
    _check_inputs(features, labels, temperature)
    n, v, d = features.shape
    z = F.normalize(features, dim=-1).reshape(n * v, d)  # anchor i*V + j = sample i, view j
    anchor_labels = labels.to(features.device).repeat_interleave(v)
    self_mask = torch.eye(n * v, dtype=torch.bool, device=features.device)
    positives = (anchor_labels[:, None] == anchor_labels[None, :]) & ~self_mask
    num_pos = positives.sum(dim=1)
    has_pos = num_pos > 0
    if not bool(has_pos.any()):
        return 0.0 * features.sum()

    logits = z @ z.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()  # row max: stability
    log_denominator = torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1)
    log_prob = logits - log_denominator[:, None]
    pos_log_prob = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    mean_log_prob_pos = pos_log_prob[has_pos] / num_pos[has_pos].to(log_prob.dtype)
    return -mean_log_prob_pos.mean()
