"""SAGAN discriminator: D_1 (residual down-blocks + attention + sum pooling) and D_2 heads.

Heads: `adv` (SN-Linear -> logit), an optional projection term <embed(y), h>, the 2-layer
projection head h(.) to `embed_dim` (the report's 128-d d_i) and the class proxy e(c).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.layers import (
    SelfAttention2d,
    sn_conv2d,
    sn_embedding,
    sn_linear,
    wants_channels_last,
)
from lightning_modules.sagan_plan import plan_upsampling


class DiscBlock(nn.Module):
    """[ReLU] -> conv3x3 -> ReLU -> conv3x3 -> avg-pool, plus conv1x1 -> avg-pool shortcut.

    Average pooling and a 1x1 convolution are both linear per pixel, so they commute (the
    bias too): with `shortcut_at_low_res` (the default) the shortcut pools first and runs the
    1x1 at the lower resolution, the same values to float rounding; False runs the written
    order (the reference form). The first block always pools first (its input is the mel).
    """

    def __init__(self, in_ch: int, out_ch: int, factor: tuple[int, int], first: bool) -> None:
        super().__init__()
        self.factor, self.first = factor, first
        self.conv1 = sn_conv2d(in_ch, out_ch)
        self.conv2 = sn_conv2d(out_ch, out_ch)
        self.shortcut = sn_conv2d(in_ch, out_ch, kernel_size=1)
        self.shortcut_at_low_res = True

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        if self.factor == (1, 1):
            return x
        return F.avg_pool2d(x, kernel_size=self.factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, Cin, H, W] -> [B, Cout, H / fh, W / fw]
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.first or self.shortcut_at_low_res:  # first: pool the spectrogram, then 1x1
            return self._down(h) + self.shortcut(self._down(x))
        return self._down(h) + self._down(self.shortcut(x))


class Discriminator(nn.Module):
    """mel_norm [B, H, T], labels [B] -> dict(logits [B], embed [B, E], proxy [B, E]).

    `channels_last` (attribute, not saved): feature-map layout, None = channels-last on CPU
    (see `Generator`); the outputs are equal to float rounding either way.
    """

    def __init__(
        self,
        num_classes: int = 7,
        width: int = 64,
        mel_shape: tuple[int, int] = (80, 344),
        n_stages: int = 4,
        attention_stage: int = 1,
        projection: bool = True,
        embed_dim: int = 128,
        proj_hidden: int | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= attention_stage <= n_stages:
            raise ValueError(
                f"attention_stage is the 1-based down-block after which attention sits: "
                f"expected 1..{n_stages}, got {attention_stage}"
            )
        self.mel_shape = tuple(mel_shape)
        _, factors = plan_upsampling(mel_shape, n_stages)
        chans = [1] + [width * min(2**i, 8) for i in range(n_stages)]
        self.attention_stage = attention_stage
        self.blocks = nn.ModuleList(
            DiscBlock(chans[i], chans[i + 1], factors[i], first=i == 0) for i in range(n_stages)
        )
        self.attention = SelfAttention2d(chans[attention_stage])
        feat = chans[-1]
        self.adv = sn_linear(feat, 1)
        self.class_embed = sn_embedding(num_classes, feat) if projection else None
        hidden = proj_hidden or feat
        self.head = nn.Sequential(
            sn_linear(feat, hidden), nn.ReLU(), sn_linear(hidden, embed_dim)
        )
        self.proxy = sn_embedding(num_classes, embed_dim)
        self.channels_last: bool | None = None

    def features(self, mel_norm: torch.Tensor) -> torch.Tensor:
        # mel_norm [B, H, T] -> h [B, C] (D_1: blocks, attention, ReLU, global sum pooling)
        if mel_norm.dim() != 3 or tuple(mel_norm.shape[1:]) != self.mel_shape:
            raise ValueError(
                f"Discriminator expects mel [B, {self.mel_shape[0]}, {self.mel_shape[1]}], "
                f"got shape {tuple(mel_norm.shape)}"
            )
        if wants_channels_last(self.channels_last, mel_norm):
            x = mel_norm.unsqueeze(-1).permute(0, 3, 1, 2)  # [B, 1, H, T], NHWC strides, no copy
        else:
            x = mel_norm.unsqueeze(1)
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i == self.attention_stage:
                x = self.attention(x)
        return F.relu(x).sum(dim=(2, 3))

    def forward(self, mel_norm: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        # mel_norm [B, H, T], labels [B] -> logits [B], embed [B, E], proxy [B, E]
        h = self.features(mel_norm)
        logits = self.adv(h).squeeze(1)
        if self.class_embed is not None:
            logits = logits + (self.class_embed(labels) * h).sum(dim=1)
        return {"logits": logits, "embed": self.head(h), "proxy": self.proxy(labels)}
