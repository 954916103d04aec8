"""The HiFi-GAN / DCASE 2023 Task 7 log-mel contract as a device-agnostic nn.Module."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 22050
CLIP_SAMPLES = 88200  # 4 s
LOG_FLOOR = float(torch.log(torch.tensor(1e-5)))  # ln(1e-5) = -11.5129


@dataclass(frozen=True)
class MelParams:
    """The numbers that define a log-mel; stored with caches, checkpoints and exports."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0

    def as_dict(self) -> dict:
        return asdict(self)

    def num_frames(self, num_samples: int) -> int:
        pad = (self.n_fft - self.hop_length) // 2
        return (num_samples + 2 * pad - self.n_fft) // self.hop_length + 1


def slaney_mel_basis(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> torch.Tensor:
    """librosa's default mel filterbank (Slaney scale, Slaney norm): [n_mels, n_fft // 2 + 1]."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
    return torch.from_numpy(basis).float()


class LogMelSpectrogram(nn.Module):
    """wav [B, N] float in [-1, 1] -> log-mel [B, n_mels, T], HiFi-GAN's `mel_spectrogram`.

    Reflect-pad (n_fft - hop) / 2 on each side, STFT with center=False and a periodic Hann
    window, magnitude sqrt(re^2 + im^2 + 1e-9), Slaney mel basis, ln(clamp(mel, 1e-5)).
    88,200 samples give 344 frames.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float = 8000.0,
    ) -> None:
        super().__init__()
        self.params = MelParams(sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max)
        basis = slaney_mel_basis(sample_rate, n_fft, n_mels, f_min, f_max)
        self.register_buffer("mel_basis", basis, persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> log-mel [B, n_mels, T]
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise ValueError(f"LogMelSpectrogram expects wav [B, N], got shape {tuple(wav.shape)}")
        p = self.params
        pad = (p.n_fft - p.hop_length) // 2
        # compute in the module's dtype (float32 by default, float64 after .double())
        x = wav.to(self.mel_basis.dtype).unsqueeze(1)
        x = F.pad(x, (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            x,
            n_fft=p.n_fft,
            hop_length=p.hop_length,
            win_length=p.win_length,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        mel = torch.matmul(self.mel_basis, magnitude)
        return torch.log(torch.clamp(mel, min=1e-5))
