"""Conditional contrastive losses: 2C (report eq. 2-3) and C-SupCon (eq. 4-5).

With d_i the normalised embedding, e(c_i) the normalised class proxy and s_i the normalised
source embedding E(x_i) (C-SupCon only):

    d2d_{i,k} = exp(d_i . d_k / tau_d),  d2c_i = exp(d_i . e(c_i) / tau_c),
    d2s_i = exp(d_i . s_i / tau_c)
    l_i = -log( P_i / (d2c_i [+ d2s_i] + sum_{k != i} d2d_{i,k}) )

where P_i = d2c_i [+ d2s_i] without labels (the report's form) and additionally
+ sum_{k != i, y_k = y_i} d2d_{i,k} with ``use_labels=True`` (ContraGAN / C-SupConGAN).
Computed in float32 (float64 inputs stay float64) with logsumexp, so tau_d = 0.1 and bf16
inputs cannot overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_shapes(
    embed: torch.Tensor, proxy: torch.Tensor, labels: torch.Tensor, source: torch.Tensor | None
) -> None:
    if embed.dim() != 2:
        raise ValueError(f"embed must be [N, D], got shape {tuple(embed.shape)}")
    if proxy.shape != embed.shape:
        raise ValueError(
            f"proxy must match embed [N, D] = {tuple(embed.shape)}, got {tuple(proxy.shape)}; "
            "pass one class proxy e(c_i) per sample"
        )
    if labels.shape != (embed.shape[0],):
        raise ValueError(
            f"labels must be [N] = [{embed.shape[0]}], got shape {tuple(labels.shape)}"
        )
    if source is not None and source.shape != embed.shape:
        raise ValueError(
            f"source must match embed [N, D] = {tuple(embed.shape)}, got {tuple(source.shape)}; "
            "the encoder E must output the same dimension as the projection head"
        )


def conditional_contrastive_loss(
    embed: torch.Tensor,
    proxy: torch.Tensor,
    labels: torch.Tensor,
    source: torch.Tensor | None = None,
    tau_d: float = 0.1,
    tau_c: float = 1.0,
    use_labels: bool = False,
) -> torch.Tensor:
    """embed [N, D], proxy [N, D], labels [N] long, source [N, D] or None -> scalar (mean l_i)."""
    _check_shapes(embed, proxy, labels, source)
    if tau_d <= 0 or tau_c <= 0:
        raise ValueError(f"temperatures must be > 0, got tau_d={tau_d}, tau_c={tau_c}")
    dtype = torch.promote_types(embed.dtype, torch.float32)  # float32 at least, float64 kept
    d = F.normalize(embed.to(dtype), dim=1)
    e = F.normalize(proxy.to(dtype), dim=1)
    n = d.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=d.device)
    sim_dd = (d @ d.t() / tau_d).masked_fill(eye, float("-inf"))  # [N, N], self pair excluded
    anchors = [(d * e).sum(dim=1, keepdim=True) / tau_c]  # [N, 1] log d2c
    if source is not None:
        s = F.normalize(source.to(dtype), dim=1)
        anchors.append((d * s).sum(dim=1, keepdim=True) / tau_c)  # log d2s
    positives = torch.cat(anchors, dim=1)
    log_den = torch.logsumexp(torch.cat([positives, sim_dd], dim=1), dim=1)
    if use_labels:
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        sim_pos = sim_dd.masked_fill(~same, float("-inf"))
        log_num = torch.logsumexp(torch.cat([positives, sim_pos], dim=1), dim=1)
    else:
        log_num = torch.logsumexp(positives, dim=1)
    return (log_den - log_num).mean()
