"""Embedding backbones for FAD: `embed(wav [B, N] at 22,050 Hz) -> [M, D]`, `num_features = D`.

- `"vggish"` / `"vggish:<path>"`: the official DCASE 2023 Task 7 protocol. Each clip is framed
  into 1 s windows (16,000 samples, hop 8,000, no resampling: 22,050 Hz samples are read as if
  they were 16 kHz), so a 4 s clip gives 10 examples; every window is one sample of the
  distribution, and the 128-d pre-ReLU embedding is used (no PCA).
- `"encoder:<path>"`: the project's frozen SupCon ResNet18 (see `EncoderBackbone`). Its numbers
  are NOT comparable with the official VGGish FAD; use it for cheap relative comparisons only.
- `"panns"` / `"panns:<path>"`: PANNs CNN14 (32 kHz AudioSet tagger, `Cnn14_mAP=0.431.pth`), one
  2,048-d embedding per clip (ReLU(fc1), see `PANNsBackbone`). Better correlated with listening
  tests than VGGish (DCASE 2023 Task 7 organisers' study); not the official protocol.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from datamodules.mel import LogMelSpectrogram

VGGISH_WEIGHTS = Path("checkpoints/vggish/vggish-10086976.pth")
PANNS_WEIGHTS = Path("checkpoints/panns/Cnn14_mAP=0.431.pth")
_REPO_ROOT = Path(__file__).resolve().parents[1]
BACKBONE_CHOICES = ("vggish", "vggish:<path>", "encoder:<path>", "panns", "panns:<path>")


def _module_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


class VGGishBackbone(nn.Module):
    """wav [B, N] -> [B * n_windows, 128] VGGish embeddings (official framing, 10 per 4 s clip)."""

    def __init__(self, vggish: nn.Module, sample_rate: int = 22050, chunk: int = 256) -> None:
        super().__init__()
        self.vggish = vggish.eval().requires_grad_(False)
        self.sample_rate = sample_rate
        self.chunk = chunk  # examples per forward, bounds the activation memory
        self.num_features = 128
        self.name = "vggish"
        super().train(False)

    def train(self, mode: bool = True) -> VGGishBackbone:
        return super().train(False)

    def examples(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> examples [B * n_windows, 1, 96, 64] (clip-major), on the net's device
        from encoders.vggish import waveform_to_examples

        clips = wav.detach().to(_module_device(self.vggish), torch.float32)
        return waveform_to_examples(clips, sample_rate=self.sample_rate).float()

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * n_windows, 128]
        if wav.dim() != 2:
            raise ValueError(f"embed expects wav [B, N], got shape {tuple(wav.shape)}")
        examples = self.examples(wav)
        parts = [
            self.vggish(examples[i : i + self.chunk]) for i in range(0, len(examples), self.chunk)
        ]
        return torch.cat(parts).float()


class EncoderBackbone(nn.Module):
    """wav [B, N] -> [B * n_windows, 8 * width] pooled features of the frozen SupCon encoder.

    Choices, and why:
    - The pooled ResNet features (`FrozenEncoder.features`, before the projection head), not the
      128-d projection: the SupCon head is trained for the contrastive task and discards
      information, while the pooled features are what the encoder transfers (Khosla et al.).
    - 1 s windows (86 mel frames, hop 43: 7 per 4 s clip), like VGGish's 1 s / 0.5 s framing:
      the encoder ends in global average pooling, so a window is a valid input, and FAD needs
      many more samples than dimensions; 100 whole clips per class would give a rank-deficient
      512-d covariance. `window_frames=None` embeds whole clips instead.
    These numbers are NOT comparable with the official VGGish FAD.
    """

    def __init__(
        self, encoder: nn.Module, window_frames: int | None = 86, hop_frames: int = 43
    ) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        params = getattr(encoder, "mel_params", None)
        self.mel = (
            LogMelSpectrogram(**params.as_dict()) if params is not None else LogMelSpectrogram()
        )
        self.window_frames, self.hop_frames = window_frames, hop_frames
        self.name = "encoder"
        device = _module_device(self.encoder)
        self.mel.to(device)
        probe = torch.zeros(1, self.mel.params.n_mels, window_frames or 344, device=device)
        with torch.no_grad():
            self.num_features = int(self.encoder.features(probe).shape[1])
        super().train(False)

    def train(self, mode: bool = True) -> EncoderBackbone:
        return super().train(False)

    def windows(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> [B * n_windows, 80, window_frames]
        if self.window_frames is None or mel.shape[-1] <= self.window_frames:
            return mel
        frames = mel.unfold(-1, self.window_frames, self.hop_frames)  # [B, 80, n, W]
        return frames.permute(0, 2, 1, 3).reshape(-1, mel.shape[1], self.window_frames)

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * n_windows, num_features]
        if wav.dim() != 2:
            raise ValueError(f"embed expects wav [B, N], got shape {tuple(wav.shape)}")
        mel = self.mel(wav.to(_module_device(self.encoder), torch.float32))
        return self.encoder.features(self.windows(mel)).float()


class PANNsBackbone(nn.Module):
    """wav [B, N] at 22,050 Hz -> [B, 2048] PANNs CNN14 clip embeddings (one per clip).

    Clip level, as PANNs is: CNN14 pools over the whole clip (mean over frequency, max + mean
    over time) before fc1, and that pooled ReLU(fc1) output is its published `embedding`. The
    clips are resampled 22,050 -> 32,000 Hz once, here, with torchaudio's windowed-sinc resampler
    (the model was trained at 32 kHz). 100 clips per class give 100 rows of 2,048 dims: KAD and
    PRDC need no covariance; FAD's covariance then has rank <= 99 (the eigenvalue path in
    `evaluation.fad` handles it, but prefer KAD with this backbone).
    """

    def __init__(self, cnn14: nn.Module, sample_rate: int = 22050, chunk: int = 16) -> None:
        super().__init__()
        self.cnn14 = cnn14.eval().requires_grad_(False)
        self.sample_rate = sample_rate
        self.model_rate = int(getattr(cnn14, "sample_rate", 32000))
        self.chunk = chunk  # clips per forward, bounds the activation memory
        self.num_features = 2048
        self.name = "panns"
        super().train(False)

    def train(self, mode: bool = True) -> PANNsBackbone:
        return super().train(False)

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] at 22,050 Hz -> [B, 2048]
        import torchaudio.functional as AF

        if wav.dim() != 2:
            raise ValueError(f"embed expects wav [B, N], got shape {tuple(wav.shape)}")
        clips = wav.detach().to(_module_device(self.cnn14), torch.float32)
        clips = AF.resample(clips, self.sample_rate, self.model_rate)
        parts = [self.cnn14(clips[i : i + self.chunk]) for i in range(0, len(clips), self.chunk)]
        return torch.cat(parts).float()


def _missing(path: Path, what: str, fix: str) -> FileNotFoundError:
    return FileNotFoundError(f"{what} not found at {path}; {fix}")


def _weights_path(spec: str, default: Path) -> Path:
    if spec:
        return Path(spec).expanduser()
    if default.is_file():
        return default
    return _REPO_ROOT / default


def _load_panns(spec: str, device: str | torch.device) -> nn.Module:
    path = _weights_path(spec, PANNS_WEIGHTS)
    if not path.is_file():
        raise _missing(
            path,
            "PANNs CNN14 weights (Cnn14_mAP=0.431.pth)",
            "run `foleygan fetch-panns` or pass --backbone panns:<path to the .pth>",
        )
    from encoders.panns import Cnn14

    return PANNsBackbone(Cnn14.from_checkpoint(path, map_location=device))


def load_backbone(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """Build a FAD backbone from its name: "vggish", "vggish:<path>", "encoder:<path>", "panns"
    or "panns:<path>"."""
    kind, _, spec = str(name).partition(":")
    if kind == "vggish":
        path = _weights_path(spec, VGGISH_WEIGHTS)
        if not path.is_file():
            raise _missing(
                path,
                "VGGish weights (torchvggish vggish-10086976.pth)",
                "run `make fetch-vggish` (or `foleygan fetch-vggish`), pass --backbone "
                "vggish:<path to the .pth>, or use --backbone encoder:runs/encoder/encoder.pt "
                "for a non-official FAD",
            )
        from encoders.vggish import VGGish

        backbone = VGGishBackbone(VGGish.from_state_dict_file(os.fspath(path)))
    elif kind == "encoder" and spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise _missing(
                path,
                "frozen encoder export",
                "export one with `foleygan export-encoder CKPT --out runs/encoder/encoder.pt` "
                "or use --backbone vggish",
            )
        from encoders.export import load_frozen_encoder

        backbone = EncoderBackbone(load_frozen_encoder(path, map_location=device))
    elif kind == "panns":
        backbone = _load_panns(spec, device)
    else:
        raise ValueError(
            f"unknown FAD backbone {name!r}; choose one of {list(BACKBONE_CHOICES)} "
            "(e.g. `vggish` or `encoder:runs/encoder/encoder.pt`)"
        )
    backbone.name = str(name)
    return backbone.to(device)
