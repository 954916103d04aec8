"""DiffAugment for log-mels (Zhao et al. 2020): differentiable augmentations of every D input.

The same policy is applied to every input of D, real and fake, in the D step and the G step, and
each sample gets its own random draw. Facts carried over: the conditional BigGAN scripts use
`translation,cutout` (translation ratio 0.125, cutout ratio 0.5) and no colour policy.

For log-mels both policies work along time (translation) or on a time x band rectangle
(cutout), and vacated or cut cells take `fill`: the silence floor ln(1e-5) passed through the
GAN's mel normaliser (a float, or one value per band [H]), never 0, which would be a loud level.

Gradients: 1 on every kept cell (a kept output cell is exactly one input cell), 0 on filled ones.
"""

from __future__ import annotations

import torch

POLICIES = ("translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """'translation,cutout' -> ['translation', 'cutout']; '' -> []; unknown names raise."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ValueError(
            f"unknown DiffAugment policy {unknown} in {policy!r}: expected a comma-separated "
            f"subset of {list(POLICIES)}, or '' for none"
        )
    return names


def _fill_like(x: torch.Tensor, fill: float | torch.Tensor) -> torch.Tensor:
    """fill as a tensor broadcastable to x [B, H, T]: a scalar, or one value per band [H]."""
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    if fill.dim() == 1:
        if fill.shape[0] != x.shape[1]:
            raise ValueError(
                f"fill has {fill.shape[0]} values but the mels have {x.shape[1]} bands; pass a "
                "float or one value per band"
            )
        return fill.view(1, -1, 1)
    return fill


def _randint(low: int, high: int, n: int, device: torch.device, gen) -> torch.Tensor:
    return torch.randint(low, high, (n,), device=device, generator=gen)


def translate_time(
    x: torch.Tensor, ratio: float, fill: float | torch.Tensor, generator=None
) -> torch.Tensor:
    """x [B, H, T] -> shifted along T by an integer s_b in [-r, r], r = int(T * ratio + 0.5);
    out[b, :, t] = x[b, :, t - s_b] where that index exists, else fill."""
    b, _, t = x.shape
    reach = int(t * ratio + 0.5)
    if reach == 0:
        return x
    shift = _randint(-reach, reach + 1, b, x.device, generator)
    source = torch.arange(t, device=x.device).view(1, t) - shift.view(b, 1)  # [B, T]
    valid = (source >= 0) & (source < t)
    index = source.clamp(0, t - 1).unsqueeze(1).expand_as(x)
    moved = x.gather(2, index)
    return torch.where(valid.unsqueeze(1), moved, _fill_like(x, fill))


def cutout(
    x: torch.Tensor, ratio: float, fill: float | torch.Tensor, generator=None
) -> torch.Tensor:
    """x [B, H, T] -> one rectangle of int(H * ratio + 0.5) bands x int(T * ratio + 0.5) frames
    per sample set to fill; its centre is uniform over the map, so it may be clipped at edges."""
    b, h, t = x.shape
    size_h, size_t = int(h * ratio + 0.5), int(t * ratio + 0.5)
    if size_h == 0 or size_t == 0:
        return x
    top = _randint(0, h, b, x.device, generator) - size_h // 2
    left = _randint(0, t, b, x.device, generator) - size_t // 2
    rows = torch.arange(h, device=x.device).view(1, h)
    cols = torch.arange(t, device=x.device).view(1, t)
    in_rows = (rows >= top.view(b, 1)) & (rows < (top + size_h).view(b, 1))  # [B, H]
    in_cols = (cols >= left.view(b, 1)) & (cols < (left + size_t).view(b, 1))  # [B, T]
    cut = in_rows.unsqueeze(2) & in_cols.unsqueeze(1)  # [B, H, T]
    return torch.where(cut, _fill_like(x, fill), x)


def diff_augment(
    x: torch.Tensor,
    policy: str,
    fill: float | torch.Tensor,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x [B, H, T] log-mels (any scale) -> the same shape, augmented per `policy`.

    policy: comma-separated names of POLICIES applied in order ('' is the identity).
    fill: the value of vacated / cut cells (a float or per-band [H] values).
    """
    if x.dim() != 3:
        raise ValueError(f"diff_augment expects mels [B, H, T], got shape {tuple(x.shape)}")
    for name in parse_policy(policy):
        if name == "translation":
            x = translate_time(x, translation_ratio, fill, generator)
        else:
            x = cutout(x, cutout_ratio, fill, generator)
    return x
