"""Griffin-Lim vocoder: round trip through the project's log-mel, length, alignment, batching."""

from __future__ import annotations

import math

import pytest
import torch

from datamodules.mel import LogMelSpectrogram
from vocoders.griffin_lim import GriffinLimVocoder

SR = 22050


def _test_clip(seed: int, f0: float = 220.0, n: int = 4 * SR) -> torch.Tensor:
    """A 4 s harmonic tone plus three decaying noise bursts."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / SR
    tone = sum(0.3 / k * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 8))
    bursts = torch.zeros(n)
    for start in (0.5, 1.7, 2.9):
        i = int(start * SR)
        bursts[i : i + 2000] = torch.exp(-torch.arange(2000) / 400.0)
    return 0.5 * tone + 0.5 * bursts * torch.randn(n, generator=gen)


@pytest.fixture(scope="module")
def round_trip():
    mel = LogMelSpectrogram()
    clips = torch.stack([_test_clip(0), 0.5 * _test_clip(1, f0=330.0)])
    logmel = mel(clips)
    wav = GriffinLimVocoder()(logmel)
    return mel, clips, logmel, wav


def test_length_range_and_batch(round_trip) -> None:
    _, _, logmel, wav = round_trip
    assert logmel.shape == (2, 80, 344)
    assert wav.shape == (2, 256 * 344) and wav.dtype == torch.float32
    assert wav.abs().max() <= 1.0 and torch.isfinite(wav).all()
    short = logmel[:, :, :40]  # the batch does not mix clips (momentum 0.99 amplifies float
    vocoder = GriffinLimVocoder()  # differences between batched and single FFTs: compare loosely)
    batched, single = vocoder(short), vocoder(short[1:])[0]
    assert (batched[1] - single).abs().mean() < 0.05 * single.abs().mean()
    assert (batched[0] - single).abs().mean() > 0.5 * single.abs().mean()


def test_log_mel_round_trip_is_close(round_trip) -> None:
    # Measured on this clip: 0.26 nat mean |log-mel difference| (32 iterations), against 6.1 for a
    # uniform random signal and 4.6 for silence. 0.5 leaves room for BLAS / FFT differences.
    mel, clips, logmel, wav = round_trip
    err = (mel(wav) - mel(clips[:, : wav.shape[1]])).abs().mean()
    noise = torch.rand(clips.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    err_random = (mel(noise) - logmel).abs().mean()
    assert err < 0.5
    assert err < 0.1 * err_random


def test_output_is_aligned_with_the_mel_frames(round_trip) -> None:
    # Shifting the reconstruction by half a hop either way makes its log-mel worse (measured on
    # clip 0: 0.260 aligned, 0.304 at -128 samples, 0.289 at +128; 0.269 / 0.263 at -32 / +32).
    mel, clips, _, wav = round_trip
    target = mel(clips[:, : wav.shape[1]])

    def err(shift: int) -> float:
        return (mel(torch.roll(wav, shift, -1)) - target).abs().mean().item()

    aligned = err(0)
    assert aligned < err(-128) - 0.01
    assert aligned < err(128) - 0.01


def test_mel_inversion_is_non_negative_and_fits() -> None:
    vocoder = GriffinLimVocoder()
    logmel = LogMelSpectrogram()(_test_clip(2)[None, : SR // 2])
    spec = vocoder.mel_to_magnitude(logmel)
    assert spec.shape == (1, 513, logmel.shape[-1]) and (spec >= 0).all()
    refit = torch.log(torch.matmul(vocoder.mel_basis, spec).clamp(min=1e-5))
    assert (refit - logmel).abs().mean() < 0.1  # measured ~0.04 with 30 updates
    crude = GriffinLimVocoder(nnls_iters=0).mel_to_magnitude(logmel)
    crude_fit = torch.log(torch.matmul(vocoder.mel_basis, crude).clamp(min=1e-5))
    assert (refit - logmel).abs().mean() < (crude_fit - logmel).abs().mean()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expects log-mel \[B, 80, T\], got \(80, 10\)"):
        GriffinLimVocoder()(torch.zeros(80, 10))
    with pytest.raises(ValueError, match="momentum must be in"):
        GriffinLimVocoder(momentum=1.5)
