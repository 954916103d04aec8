"""DiffAugment for log-mels: identity, shapes, per-sample draws, fill, gradients."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.diffaug import cutout, diff_augment, translate_time

FILL = -3.0


def _mels(b: int = 6, h: int = 8, t: int = 32) -> torch.Tensor:
    return torch.randn(b, h, t)


def test_empty_policy_is_the_identity() -> None:
    x = _mels()
    assert diff_augment(x, "", FILL) is x


def test_unknown_policy_names_the_valid_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown DiffAugment policy \['color'\].*translation"):
        diff_augment(_mels(), "translation,color", FILL)


def test_shapes_are_kept() -> None:
    x = _mels()
    assert diff_augment(x, "translation,cutout", FILL).shape == x.shape


def test_translation_is_a_time_shift_with_fill() -> None:
    """Each row is x shifted by an integer s within the ratio; vacated frames hold fill."""
    x = _mels(b=16, t=40)
    out = translate_time(x, 0.125, FILL, torch.Generator().manual_seed(1))
    reach = int(40 * 0.125 + 0.5)
    shifts = []
    for b in range(x.shape[0]):
        matches = [s for s in range(-reach, reach + 1)
                   if torch.equal(out[b], _reference_shift(x[b], s))]
        assert len(matches) == 1, f"sample {b} is not a pure shift within {reach} frames"
        shifts.append(matches[0])
    assert len(set(shifts)) > 1, "every sample drew the same shift"


def _reference_shift(row: torch.Tensor, s: int) -> torch.Tensor:
    out = torch.full_like(row, FILL)
    t = row.shape[1]
    for dst in range(t):
        if 0 <= dst - s < t:
            out[:, dst] = row[:, dst - s]
    return out


def test_cutout_sets_one_clipped_rectangle_to_fill() -> None:
    x = _mels(b=32, h=8, t=32) + 10.0  # far from FILL, so filled cells are recognisable
    out = cutout(x, 0.5, FILL, torch.Generator().manual_seed(2))
    areas = set()
    for b in range(x.shape[0]):
        cut = out[b] == FILL
        assert torch.equal(out[b][~cut], x[b][~cut])
        rows, cols = cut.any(dim=1).nonzero().flatten(), cut.any(dim=0).nonzero().flatten()
        assert cut.sum() == len(rows) * len(cols), "the cut cells are not one rectangle"
        assert 0 < len(rows) <= 4 and 0 < len(cols) <= 16
        areas.add((int(rows[0]), int(cols[0]), len(rows), len(cols)))
    assert len(areas) > 1, "every sample drew the same rectangle"


def test_per_band_fill() -> None:
    x = _mels(b=4, h=3, t=16) + 10.0
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = translate_time(x, 0.5, fill, torch.Generator().manual_seed(0))
    vacated = out < 5.0
    for band in range(3):
        assert torch.all(out[:, band][vacated[:, band]] == fill[band])
    with pytest.raises(ValueError, match="4 values but the mels have 3 bands"):
        translate_time(x, 0.5, torch.zeros(4))


def test_gradient_is_one_on_kept_cells_and_zero_on_filled_ones() -> None:
    x = (_mels(b=8) + 10.0).requires_grad_(True)
    out = diff_augment(x, "translation,cutout", FILL, generator=torch.Generator().manual_seed(3))
    out.sum().backward()
    kept = int((out != FILL).sum())
    assert float(x.grad.sum()) == kept  # every kept output cell came from one input cell
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}


def test_a_generator_makes_draws_reproducible() -> None:
    x = _mels()
    a = diff_augment(x, "translation,cutout", FILL, generator=torch.Generator().manual_seed(5))
    b = diff_augment(x, "translation,cutout", FILL, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
