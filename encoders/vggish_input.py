"""VGGish input examples with the DCASE 2023 Task 7 evaluation framing, in batched torch.

The official FAD code of the challenge does not resample: the 22,050 Hz samples are fed to VGGish
as if they were 16 kHz. Per clip:

1. scale x / max(0.1, max(x)) (the positive maximum, not the absolute one);
2. cut 1 s windows of 16,000 samples every 8,000 samples; an incomplete trailing window is
   dropped, as the official code does: 88,200 samples give (88,200 - 16,000) // 8,000 + 1 = 10;
3. each window -> the VGGish log-mel of the TensorFlow `mel_features` code: 400-sample (25 ms)
   periodic Hann frames every 160 samples (10 ms) without padding (98 frames per window),
   |rfft| with 512 points, 64 HTK mel bands (1127 ln(1 + f / 700)) from 125 to 7,500 Hz with the
   DC bin zeroed, ln(mel + 0.01);
4. examples of 96 frames with hop 96 per window: 98 frames give exactly one 96 x 64 example
   (frames 0-95), so a clip gives one example per window.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torchaudio.functional as AF

VGGISH_SAMPLE_RATE = 16000
WINDOW_SAMPLES = 16000  # 1 s at the assumed 16 kHz
WINDOW_HOP = 8000
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
FFT_SIZE = 512  # next power of two >= 400
NUM_BANDS = 64
MEL_MIN_HZ, MEL_MAX_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96
MIN_PEAK = 0.1


def hertz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale of the TensorFlow mel_features code: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=4)
def vggish_mel_matrix(
    num_bands: int = NUM_BANDS,
    num_bins: int = FFT_SIZE // 2 + 1,
    sample_rate: int = VGGISH_SAMPLE_RATE,
    lower_hz: float = MEL_MIN_HZ,
    upper_hz: float = MEL_MAX_HZ,
) -> np.ndarray:
    """[num_bins, num_bands] float64 triangular weights, TensorFlow mel_features' construction."""
    bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_bins))
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_bands + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # the DC bin carries no weight
    return weights


def window_log_mel(windows: torch.Tensor) -> torch.Tensor:
    # windows [..., S] float -> log-mel [..., 1 + (S - 400) // 160, 64]
    frames = windows.unfold(-1, STFT_WINDOW, STFT_HOP)
    hann = torch.hann_window(STFT_WINDOW, periodic=True, dtype=frames.dtype, device=frames.device)
    magnitude = torch.fft.rfft(frames * hann, n=FFT_SIZE).abs()
    weights = torch.from_numpy(vggish_mel_matrix()).to(device=frames.device, dtype=frames.dtype)
    return torch.log(torch.matmul(magnitude, weights) + LOG_OFFSET)


def waveform_to_examples(
    wav: torch.Tensor | np.ndarray,
    sample_rate: int = 22050,
    resample: bool = False,
) -> torch.Tensor:
    """wav [N] (or [B, N], clip-major output) -> VGGish examples [n, 1, 96, 64] float32.

    The official framing (module docstring): no resampling, so `sample_rate` only matters with
    `resample=True`, a non-official option that first resamples to 16 kHz (as other FAD tools
    do, giving different numbers). Runs on the tensor's device.
    """
    x = torch.as_tensor(wav)
    if x.dim() not in (1, 2):
        raise ValueError(f"waveform_to_examples expects wav [N] or [B, N], got {tuple(x.shape)}")
    x = (x if x.dim() == 2 else x.unsqueeze(0)).float()
    if resample and sample_rate != VGGISH_SAMPLE_RATE:
        x = AF.resample(x, sample_rate, VGGISH_SAMPLE_RATE)
    if x.shape[-1] < WINDOW_SAMPLES:
        raise ValueError(
            f"waveform_to_examples needs at least {WINDOW_SAMPLES} samples (one VGGish window), "
            f"got {x.shape[-1]}; pad the clip (DCASE clips are 88,200 samples)."
        )
    peak = x.max(dim=-1, keepdim=True).values.clamp(min=MIN_PEAK)
    windows = (x / peak).unfold(-1, WINDOW_SAMPLES, WINDOW_HOP)  # [B, n, 16000]
    log_mel = window_log_mel(windows)  # [B, n, 98, 64]
    examples = log_mel.unfold(-2, EXAMPLE_FRAMES, EXAMPLE_FRAMES)  # [B, n, k, 64, 96]
    return examples.transpose(-1, -2).reshape(-1, 1, EXAMPLE_FRAMES, NUM_BANDS)
