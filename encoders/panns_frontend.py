"""PANNs' log-mel front end as modules with weights (the layout of torchlibrosa, which PANNs uses).

The released CNN14 checkpoint stores its front end in the state dict:
`spectrogram_extractor.stft.conv_real.weight` / `conv_imag.weight` [n_fft // 2 + 1, 1, n_fft]
(an STFT as two strided 1-D convolutions: the real and imaginary DFT rows times a periodic Hann
window) and `logmel_extractor.melW` [n_fft // 2 + 1, n_mels] (librosa's Slaney mel filterbank,
transposed). The computation, as in torchlibrosa with PANNs' settings: reflect-pad n_fft / 2 on
both sides (center=True), power spectrogram re^2 + im^2, mel = power @ melW, then
10 log10(max(mel, 1e-10)) (ref 1.0, no top_db). Layout: [B, 1, frames, bins], time before
frequency. The weights built here equal the published ones up to float rounding; the checkpoint's
own values are loaded over them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from datamodules.mel import slaney_mel_basis

AMIN = 1e-10  # power floor before the log, torchlibrosa's `amin`


class ConvSTFT(nn.Module):
    """wav [B, N] -> (real, imag), each [B, n_fft // 2 + 1, frames]; frames = N // hop + 1."""

    def __init__(self, n_fft: int = 1024, hop_length: int = 320) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop_length, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop_length, bias=False)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        angle = (
            2.0
            * math.pi
            * torch.outer(
                torch.arange(bins, dtype=torch.float64), torch.arange(n_fft, dtype=torch.float64)
            )
            / n_fft
        )  # [bins, n_fft]
        with torch.no_grad():  # DFT rows exp(-2 pi i k n / N) times the window
            self.conv_real.weight.copy_((torch.cos(angle) * window)[:, None, :])
            self.conv_imag.weight.copy_((-torch.sin(angle) * window)[:, None, :])
        self.requires_grad_(False)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # wav [B, N] -> real, imag [B, n_fft // 2 + 1, frames]
        half = self.n_fft // 2
        x = F.pad(wav[:, None, :], (half, half), mode="reflect")
        return self.conv_real(x), self.conv_imag(x)


class Spectrogram(nn.Module):
    """wav [B, N] -> power spectrogram [B, 1, frames, n_fft // 2 + 1] (module name `stft`)."""

    def __init__(self, n_fft: int = 1024, hop_length: int = 320) -> None:
        super().__init__()
        self.stft = ConvSTFT(n_fft, hop_length)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> power [B, 1, frames, bins]
        real, imag = self.stft(wav)
        return (real**2 + imag**2).transpose(1, 2)[:, None]


class LogMel(nn.Module):
    """power [B, 1, frames, bins] -> log-mel in dB [B, 1, frames, n_mels] (parameter `melW`)."""

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 1024,
        n_mels: int = 64,
        f_min: float = 50.0,
        f_max: float = 14000.0,
    ) -> None:
        super().__init__()
        basis = slaney_mel_basis(sample_rate, n_fft, n_mels, f_min, f_max)  # [n_mels, bins]
        self.melW = nn.Parameter(basis.T.contiguous(), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        # power [B, 1, frames, bins] -> [B, 1, frames, n_mels]
        return 10.0 * torch.log10((power @ self.melW).clamp(min=AMIN))
