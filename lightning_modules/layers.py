"""SAGAN building blocks: spectral-norm layers, conditional batch norm, self-attention.

Facts (SAGAN / StudioGAN): spectral norm on G and D, orthogonal weight init, conditional BN
(BN without affine; gain = 1 + Linear(one-hot), bias = Linear(one-hot)), self-attention with
query/key C/8, value C/2 and a learnable gate initialised at 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class _SpectralNormNoAutocast(_SpectralNorm):
    """torch's spectral-norm parametrization with autocast off inside.

    CUDA autocast runs `torch.mv` in bf16 / fp16, and `_SpectralNorm.forward` then fails on
    `torch.vdot(u, mv(W, v))` (float32 u, bf16 product). Here the power iteration and sigma
    always run in the weight's own dtype (float32), as without autocast; the convolution or
    matmul that uses the normalised weight is still autocast. Same buffers (`_u`, `_v`), same
    state-dict keys and numbers as `torch.nn.utils.parametrizations.spectral_norm`.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            return super().forward(weight)


def spectral_norm(module: nn.Module) -> nn.Module:
    """`torch.nn.utils.parametrizations.spectral_norm(module)` (weight, dim 0, one power
    iteration per training forward), safe under autocast."""
    parametrize.register_parametrization(module, "weight", _SpectralNormNoAutocast(module.weight))
    return module


def wants_channels_last(setting: bool | None, x: torch.Tensor) -> bool:
    """A network's `channels_last` setting: True / False, or None = on CPU only (oneDNN's
    NHWC convolutions are much faster there; on CUDA it is the owner's choice)."""
    return x.device.type == "cpu" if setting is None else setting


def _orthogonal(module: nn.Module) -> nn.Module:
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def sn_conv2d(
    in_channels: int, out_channels: int, kernel_size: int = 3, padding: int | None = None
) -> nn.Module:
    """Orthogonally initialised Conv2d under spectral norm ('same' padding by default)."""
    pad = kernel_size // 2 if padding is None else padding
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad)
    return spectral_norm(_orthogonal(conv))


def sn_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Module:
    """Orthogonally initialised Linear under spectral norm."""
    return spectral_norm(_orthogonal(nn.Linear(in_features, out_features, bias=bias)))


def sn_embedding(num_embeddings: int, embedding_dim: int) -> nn.Module:
    """Orthogonally initialised Embedding under spectral norm (the class proxies e(c))."""
    return spectral_norm(_orthogonal(nn.Embedding(num_embeddings, embedding_dim)))


class ConditionalBatchNorm2d(nn.Module):
    """BN without affine, then x * (1 + gain(y)) + bias(y); gain and bias are SN-Linear(one-hot)."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = sn_linear(num_classes, num_features, bias=False)
        self.bias = sn_linear(num_classes, num_features, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # x [B, C, H, W], labels [B] long -> [B, C, H, W]
        onehot = F.one_hot(labels, self.num_classes).to(x.dtype)
        gain = (1.0 + self.gain(onehot)).unsqueeze(-1).unsqueeze(-1)
        bias = self.bias(onehot).unsqueeze(-1).unsqueeze(-1)
        return self.bn(x) * gain + bias


class SelfAttention2d(nn.Module):
    """SAGAN self-attention: x + gamma * o(softmax(q k^T) v), gamma initialised at 0.

    Query/key have C/8 channels (at least 1), value C/2; no 1/sqrt(d) scaling (SAGAN's form).

    Keys and values are max-pooled by 2 (SAGAN's memory saving) only when both spatial dims
    are even; odd maps such as 5 x 43 attend over all positions.

    With `fused` (the default) the softmax(q k^T) v product runs through
    `F.scaled_dot_product_attention` (flash attention on CPU and CUDA: the [HW, N] matrix is
    never stored, forward or backward). Those kernels need one head size, so q, k (and v) are
    zero-padded to the value's channel count rounded up to 16 (measured on a 2-core AVX-512
    CPU: head 16 runs fwd + bwd 1.5x faster than head 8, and 1.5x faster than head 32); the
    zeros add nothing to q.k, so the maths is unchanged and only the rounding of the online
    softmax differs (float tolerance). `fused = False` runs the explicit bmm / softmax / bmm
    (the reference form).
    """

    def __init__(self, channels: int, pool: bool = True) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(
                f"SelfAttention2d needs at least 2 channels (value uses channels // 2), "
                f"got {channels}; raise the network width"
            )
        self.pool = pool
        self.fused = True
        qk, self.v_channels = max(1, channels // 8), channels // 2
        self.query = sn_conv2d(channels, qk, kernel_size=1)
        self.key = sn_conv2d(channels, qk, kernel_size=1)
        self.value = sn_conv2d(channels, self.v_channels, kernel_size=1)
        self.out = sn_conv2d(self.v_channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, C, H, W] -> [B, C, H, W]
        b, c, h, w = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)  # [B, C/8 | C/8 | C/2, H, W]
        if self.pool and h % 2 == 0 and w % 2 == 0:
            k, v = F.max_pool2d(k, 2), F.max_pool2d(v, 2)
        o = _attend_fused(q, k, v) if self.fused else _attend(q, k, v)
        return x + self.gamma * self.out(o)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q [B, Cq, H, W], k [B, Cq, h, w], v [B, Cv, h, w] -> [B, Cv, H, W]: the explicit
    v softmax(q^T k)^T over the HW queries and hw keys (the reference form)."""
    b, _, h, w = q.shape
    attn = torch.softmax(torch.bmm(q.flatten(2).transpose(1, 2), k.flatten(2)), dim=-1)
    return torch.bmm(v.flatten(2), attn.transpose(1, 2)).view(b, -1, h, w)


def _attend_fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Same as `_attend` through scaled_dot_product_attention (scale 1, one padded head).

    Works on [B, positions, channels] views, free for channels-last maps; the result comes
    back as a channels-last [B, Cv, H, W] view.
    """
    b, _, h, w = q.shape
    v_channels = v.shape[1]
    head = -(-max(q.shape[1], v_channels) // 16) * 16

    def rows(t: torch.Tensor) -> torch.Tensor:  # [B, C, h, w] -> [B, 1, hw, head], unit stride
        t = t.permute(0, 2, 3, 1).reshape(b, -1, t.shape[1])
        return F.pad(t, (0, head - t.shape[-1])).contiguous().unsqueeze(1)

    o = F.scaled_dot_product_attention(rows(q), rows(k), rows(v), scale=1.0)  # [B, 1, HW, head]
    return o.squeeze(1)[..., :v_channels].view(b, h, w, v_channels).permute(0, 3, 1, 2)
