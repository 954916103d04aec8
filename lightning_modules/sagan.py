"""SAGAN networks: the generator (here), the discriminator (`sagan_d.py`, re-exported).

80 x 344 = (5 x 2^4) x (43 x 2^3): with 4 stages the bottom map is 5 x 43 and the stages
upsample by (2, 2), (2, 2), (2, 2), (2, 1). The discriminator (`sagan_d.py`) pools by the
same per-stage factors in the same order, so its maps match the generator's stage for stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.layers import (
    ConditionalBatchNorm2d,
    SelfAttention2d,
    sn_conv2d,
    sn_linear,
    wants_channels_last,
)
from lightning_modules.sagan_d import DiscBlock, Discriminator
from lightning_modules.sagan_plan import plan_upsampling

__all__ = ["Generator", "Discriminator", "GenBlock", "plan_upsampling", "stage_channels"]


def stage_channels(width: int, n_stages: int) -> list[int]:
    """Generator channels [input of stage 0, output of stage 0, ...]: width * (8, 8, 4, 2, 1)."""
    outs = [width * min(2 ** (n_stages - 1 - i), 8) for i in range(n_stages)]
    return [outs[0]] + outs


class GenBlock(nn.Module):
    """CBN -> ReLU -> upsample -> conv3x3 -> CBN -> ReLU -> conv3x3, plus upsample -> conv1x1.

    The 1x1 shortcut commutes with nearest upsampling (a per-pixel map of replicated pixels),
    so with `shortcut_at_low_res` (the default) it runs at the input resolution and its output
    is upsampled: the same values (to float rounding) for 1/4 of the shortcut's work on (2, 2)
    stages. False runs the written order (the reference form).
    """

    def __init__(
        self, in_ch: int, out_ch: int, num_classes: int, factor: tuple[int, int]
    ) -> None:
        super().__init__()
        self.factor = factor
        self.bn1 = ConditionalBatchNorm2d(in_ch, num_classes)
        self.conv1 = sn_conv2d(in_ch, out_ch)
        self.bn2 = ConditionalBatchNorm2d(out_ch, num_classes)
        self.conv2 = sn_conv2d(out_ch, out_ch)
        self.shortcut = sn_conv2d(in_ch, out_ch, kernel_size=1)
        self.shortcut_at_low_res = True

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        if self.factor == (1, 1):
            return x
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # x [B, Cin, H, W], labels [B] -> [B, Cout, H * fh, W * fw]
        h = self.conv1(self._up(F.relu(self.bn1(x, labels))))
        h = self.conv2(F.relu(self.bn2(h, labels)))
        if self.shortcut_at_low_res:
            return h + self._up(self.shortcut(x))
        return h + self.shortcut(self._up(x))


class Generator(nn.Module):
    """z [B, Z], labels [B] -> normalised log-mel [B, H, T] in [-1, 1].

    `channels_last` (attribute, not saved): the layout of the feature maps inside; None (the
    default) = channels-last on CPU, where oneDNN's NHWC convolutions are much faster. The
    output is a plain [B, H, T] tensor either way and equal to float rounding.
    """

    def __init__(
        self,
        num_classes: int = 7,
        z_dim: int = 128,
        width: int = 64,
        mel_shape: tuple[int, int] = (80, 344),
        n_stages: int = 4,
        attention_stage: int = 2,
    ) -> None:
        super().__init__()
        if not 1 <= attention_stage <= n_stages:
            raise ValueError(
                f"attention_stage is the 1-based up-block after which attention sits: "
                f"expected 1..{n_stages}, got {attention_stage}"
            )
        self.num_classes, self.z_dim, self.mel_shape = num_classes, z_dim, tuple(mel_shape)
        self.bottom, factors = plan_upsampling(mel_shape, n_stages)
        chans = stage_channels(width, n_stages)
        self.attention_stage = attention_stage
        self.linear = sn_linear(z_dim, chans[0] * self.bottom[0] * self.bottom[1])
        self.blocks = nn.ModuleList(
            GenBlock(chans[i], chans[i + 1], num_classes, factors[i]) for i in range(n_stages)
        )
        self.attention = SelfAttention2d(chans[attention_stage])
        self.bn = nn.BatchNorm2d(chans[-1])
        self.conv_out = sn_conv2d(chans[-1], 1)
        self.channels_last: bool | None = None

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # z [B, Z], labels [B] long -> mel_norm [B, H, T]
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got shape {tuple(z.shape)}")
        x = self.linear(z).view(z.shape[0], -1, *self.bottom)
        if wants_channels_last(self.channels_last, x):
            x = x.contiguous(memory_format=torch.channels_last)
        for i, block in enumerate(self.blocks, start=1):
            x = block(x, labels)
            if i == self.attention_stage:
                x = self.attention(x)
        x = self.conv_out(F.relu(self.bn(x)))
        return torch.tanh(x).squeeze(1)


def use_reference_ops(net: nn.Module) -> nn.Module:
    """Switch G or D (in place) to the ops the networks are written in: explicit attention,
    NCHW feature maps, the 1x1 shortcuts at the higher resolution. Same weights, same outputs
    up to rounding; the reference the fast paths are tested and benchmarked against."""
    net.channels_last = False
    for module in net.modules():
        if isinstance(module, SelfAttention2d):
            module.fused = False
        if isinstance(module, (GenBlock, DiscBlock)):
            module.shortcut_at_low_res = False
    return net
