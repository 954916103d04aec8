"""The mel contract against a direct NumPy implementation of the FACTS.md formula."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from datamodules.mel import CLIP_SAMPLES, LOG_FLOOR, LogMelSpectrogram, MelParams


def reference_log_mel(wav: np.ndarray) -> np.ndarray:
    """[N] -> [80, T] in float64: reflect pad 384, periodic Hann frames, rfft, Slaney basis."""
    n_fft, hop, pad = 1024, 256, 384
    basis = librosa.filters.mel(sr=22050, n_fft=n_fft, n_mels=80, fmin=0.0, fmax=8000.0)
    x = np.pad(wav.astype(np.float64), (pad, pad), mode="reflect")
    # the contract's window is torch.hann_window(1024): periodic Hann as float32 (its values
    # differ from the float64 formula rounded to float32 by up to 1.8e-7, which moves near-floor
    # log-mels of loud tonal clips by ~1e-3, so the reference takes torch's float32 values)
    window = torch.hann_window(n_fft).double().numpy()
    periodic = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    assert np.abs(window - periodic).max() < 1e-6
    n_frames = (len(x) - n_fft) // hop + 1
    frames = np.stack([x[i * hop : i * hop + n_fft] * window for i in range(n_frames)], axis=1)
    spec = np.fft.rfft(frames, axis=0)
    magnitude = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return np.log(np.maximum(basis.astype(np.float64) @ magnitude, 1e-5))


def _tone_and_bursts(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 22050
    wav = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)
    for start in rng.integers(0, n - 2000, size=5):
        wav[start : start + 2000] += 0.4 * rng.standard_normal(2000) * np.hanning(2000)
    return np.clip(wav, -1, 1).astype(np.float32)


def _signal(kind: str) -> np.ndarray:
    if kind == "noise":
        return np.random.default_rng(1).uniform(-0.5, 0.5, CLIP_SAMPLES).astype(np.float32)
    return _tone_and_bursts(CLIP_SAMPLES, seed=2)


@pytest.mark.parametrize("kind", ["noise", "tone_bursts"])
def test_float64_module_matches_numpy_reference(kind: str) -> None:
    wav = _signal(kind)
    ours = LogMelSpectrogram().double()(torch.from_numpy(wav).double()[None])[0].numpy()
    ref = reference_log_mel(wav)
    assert ours.shape == ref.shape == (80, 344)
    assert np.abs(ours - ref).max() < 1e-6


@pytest.mark.parametrize("kind", ["noise", "tone_bursts"])
def test_float32_module_matches_numpy_reference(kind: str) -> None:
    wav = _signal(kind)
    ours = LogMelSpectrogram()(torch.from_numpy(wav)[None])[0].double().numpy()
    ref = reference_log_mel(wav)
    assert ours.shape == ref.shape == (80, 344)
    diff = np.abs(ours - ref)
    # float32 FFT rounding is ~1e-7 of the loudest bin, so only bands well above the floor
    # (mel >= 1e-3) meet 1e-4 on the loud tonal clip; near the floor the error stays small
    audible = ref >= np.log(1e-3)
    assert audible.mean() > 0.15
    assert diff[audible].max() < 1e-4
    assert diff.max() < (1e-4 if kind == "noise" else 5e-3)


def test_frames_and_floor() -> None:
    mel = LogMelSpectrogram()
    out = mel(torch.zeros(1, CLIP_SAMPLES))
    assert out.shape == (1, 80, 344)
    assert MelParams().num_frames(CLIP_SAMPLES) == 344
    # silence: sqrt(1e-9) magnitudes stay below the floor, so everything clamps to ln(1e-5)
    assert torch.allclose(out, torch.full_like(out, LOG_FLOOR))
    assert abs(LOG_FLOOR - np.log(1e-5)) < 1e-6


def test_batched_equals_per_item() -> None:
    mel = LogMelSpectrogram()
    wav = torch.rand(3, 22050) - 0.5
    batched = mel(wav)
    single = torch.cat([mel(wav[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)


def test_buffers_move_with_to() -> None:
    mel = LogMelSpectrogram()
    names = {name for name, _ in mel.named_buffers()}
    assert {"mel_basis", "window"} <= names
    moved = mel.to(torch.float64)
    assert moved.mel_basis.dtype == torch.float64 and moved.window.dtype == torch.float64
    # non-persistent: checkpoints of modules that own a LogMelSpectrogram stay free of it
    assert mel.state_dict() == {}


def test_rejects_bad_rank() -> None:
    with pytest.raises(ValueError, match=r"expects wav \[B, N\]"):
        LogMelSpectrogram()(torch.zeros(1, 1, 4096))
