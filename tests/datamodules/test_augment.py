"""Fade and time-mask augmentations on log-mels."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from datamodules.augment import (
    RAMP_FLOOR,
    RandomFade,
    TimeMask,
    apply_fade,
    default_augment,
    time_mask,
)
from datamodules.mel import LOG_FLOOR


def _mel(batch: int = 8, n_mels: int = 10, frames: int = 50) -> torch.Tensor:
    """Random log-mels within the contract's range [LOG_FLOOR, ~3]."""
    return LOG_FLOOR + torch.rand(batch, n_mels, frames) * (3.0 - LOG_FLOOR)


def _fade_loop(mel: torch.Tensor, fade_in: list[int], fade_out: list[int]) -> torch.Tensor:
    """Direct per-frame implementation of the documented formula."""
    out = mel.clone()
    frames = mel.shape[-1]
    for b in range(mel.shape[0]):
        for t in range(frames):
            gain = 1.0
            if t < fade_in[b]:
                gain *= t / fade_in[b]
            if frames - 1 - t < fade_out[b]:
                gain *= (frames - 1 - t) / fade_out[b]
            if gain < 1.0:
                faded = mel[b, :, t] + math.log(max(gain, RAMP_FLOOR))
                out[b, :, t] = torch.minimum(mel[b, :, t], faded.clamp(min=LOG_FLOOR))
    return out


def test_apply_fade_matches_loop() -> None:
    mel = _mel(batch=4, frames=20)
    fade_in, fade_out = [0, 5, 3, 20], [0, 0, 7, 4]
    got = apply_fade(mel, torch.tensor(fade_in), torch.tensor(fade_out))
    torch.testing.assert_close(got, _fade_loop(mel, fade_in, fade_out))
    torch.testing.assert_close(apply_fade(mel, 0, 0), mel)


def test_apply_fade_ramp_values() -> None:
    mel = torch.zeros(1, 2, 10)  # ln(1): the output is ln(ramp)
    out = apply_fade(mel, 4, 0)[0, 0]
    assert out[0].item() == pytest.approx(LOG_FLOOR)  # gain 0 -> silence
    for t in range(1, 4):
        assert out[t].item() == pytest.approx(math.log(t / 4))
    assert torch.all(out[4:] == 0.0)


def test_random_fade_only_attenuates_and_respects_floor() -> None:
    mel = _mel(batch=64)
    mel[:, :, 3::7] = LOG_FLOOR  # silent frames must stay exactly at the floor
    out = RandomFade(max_fraction=0.5, p=1.0, seed=0)(mel)
    assert out.shape == mel.shape
    assert torch.all(out <= mel)
    assert torch.all(out >= LOG_FLOOR)
    assert torch.isfinite(out).all()
    changed = (out != mel).any(dim=1)  # [B, T]
    assert changed.any(dim=1).all()  # p=1: every item faded
    faded_in = changed[:, 0]
    assert faded_in.any()
    assert torch.all(out[faded_in, :, 0] == LOG_FLOOR)  # first frame silenced by a fade-in
    longest = int(0.5 * mel.shape[-1])
    assert not changed[:, longest + 1 : mel.shape[-1] - longest - 1].any()


def test_random_fade_probability_zero_is_identity() -> None:
    mel = _mel()
    assert torch.equal(RandomFade(p=0.0, seed=1)(mel), mel)


def test_time_mask_helper_sets_whole_frames() -> None:
    mel = _mel(batch=2, frames=12)
    out = time_mask(mel, torch.tensor([[2, 9], [0, 0]]), torch.tensor([[3, 1], [0, 4]]))
    expected = mel.clone()
    expected[0, :, 2:5] = LOG_FLOOR
    expected[0, :, 9] = LOG_FLOOR
    expected[1, :, 0:4] = LOG_FLOOR
    assert torch.equal(out, expected)


def test_time_mask_module() -> None:
    mel = _mel(batch=32, frames=100)
    out = TimeMask(max_width=10, n_masks=2, p=1.0, seed=0)(mel)
    masked_frames = (out == LOG_FLOOR).all(dim=1)  # [B, T]
    changed = (out != mel).any(dim=1)
    assert torch.all(changed <= masked_frames)  # only whole frames change, to LOG_FLOOR
    assert torch.all(masked_frames.sum(dim=1) <= 10 * 2)
    assert masked_frames.sum() > 0
    assert torch.all(out[~masked_frames.unsqueeze(1).expand_as(out)] == mel[
        ~masked_frames.unsqueeze(1).expand_as(mel)
    ])
    assert torch.equal(TimeMask(p=0.0, seed=0)(mel), mel)


@pytest.mark.parametrize(
    "make",
    [lambda: RandomFade(p=1.0, seed=3), lambda: TimeMask(seed=3), lambda: default_augment(seed=5)],
    ids=["fade", "mask", "default"],
)
def test_seeded_modules_are_deterministic_and_per_item(make) -> None:
    mel = _mel(batch=16)
    a, b = make(), make()
    first = a(mel)
    assert torch.equal(first, b(mel))
    assert not torch.equal(first, a(mel))  # the generator advances between calls
    patterns = {tuple((first[i] != mel[i]).any(dim=0).tolist()) for i in range(16)}
    assert len(patterns) > 4  # items of one batch get different augmentations


def test_copy_restarts_from_seed_and_unseeded_uses_global_rng() -> None:
    mel = _mel()
    fade = RandomFade(p=1.0, seed=7)
    first = fade(mel)
    assert torch.equal(copy.deepcopy(fade)(mel), first)
    torch.manual_seed(11)
    x = TimeMask(seed=None)(mel)
    torch.manual_seed(11)
    assert torch.equal(TimeMask(seed=None)(mel), x)


def test_default_augment_and_errors() -> None:
    augment = default_augment(seed=0)
    assert [type(m) for m in augment] == [RandomFade, TimeMask]
    with pytest.raises(ValueError, match=r"expects a float log-mel \[B, n_mels, T\]"):
        augment(torch.zeros(10, 50))
    with pytest.raises(ValueError, match="max_fraction must be in"):
        RandomFade(max_fraction=0.0)
    with pytest.raises(ValueError, match="p must be a probability"):
        TimeMask(p=1.5)
    with pytest.raises(ValueError, match="must be >= 0"):
        TimeMask(max_width=-1)
