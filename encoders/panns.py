"""PANNs CNN14 (Kong et al. 2020), the 32 kHz AudioSet tagger, as an embedding network.

Module names and shapes are those of the public checkpoint `Cnn14_mAP=0.431.pth`
(qiuqiangkong/audioset_tagging_cnn, Zenodo record 3987831), which holds its state dict under
`model`: the front end (`spectrogram_extractor.stft.conv_real/conv_imag`,
`logmel_extractor.melW`, see `encoders.panns_frontend`), `bn0` (BatchNorm over the 64 mel bins),
`conv_block1..6` (each conv1, bn1, conv2, bn2: 3 x 3 convolutions without bias, ReLU, then a
2 x 2 average pool; block 6 pools 1 x 1), `fc1` (2,048 -> 2,048) and `fc_audioset` (527 classes).

Forward (inference; the training-only SpecAugment and dropout are identity in eval mode and left
out): log-mel [B, 1, T, 64] -> bn0 over mel bins -> six conv blocks -> mean over frequency ->
max + mean over time -> ReLU(fc1) = the 2,048-d clip embedding (PANNs' `embedding` output).
Input: 32 kHz waveforms; the 32 kHz model uses window 1024, hop 320, 64 mel bins, 50-14,000 Hz.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.panns_frontend import LogMel, Spectrogram
from encoders.state_dict_check import state_dict_problems

PANNS_URL = "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth"
DEFAULT_PANNS_PATH = Path("checkpoints") / "panns" / "Cnn14_mAP=0.431.pth"
PANNS_SAMPLE_RATE = 32000
WIDTHS = (64, 128, 256, 512, 1024, 2048)
MIN_SAMPLES = 31 * 320  # five 2 x 2 pools need at least 32 frames


class ConvBlock(nn.Module):
    """x [B, C_in, T, F] -> [B, C_out, T / p, F / p]: (3 x 3 conv, BN, ReLU) x 2, avg-pool p."""

    def __init__(self, in_channels: int, out_channels: int, pool: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, C_in, T, F] -> [B, C_out, T // pool, F // pool]
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, self.pool) if self.pool > 1 else x


class Cnn14(nn.Module):
    """wav [B, N] at 32 kHz -> embedding [B, 2048] (ReLU(fc1)); `tag` gives the 527 AudioSet
    probabilities."""

    num_features = 2048

    def __init__(self, sample_rate: int = PANNS_SAMPLE_RATE, classes: int = 527) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.spectrogram_extractor = Spectrogram(n_fft=1024, hop_length=320)
        self.logmel_extractor = LogMel(sample_rate, 1024, 64, 50.0, 14000.0)
        self.bn0 = nn.BatchNorm2d(64)
        channels = (1, *WIDTHS)
        for i in range(6):
            block = ConvBlock(channels[i], channels[i + 1], pool=2 if i < 5 else 1)
            self.add_module(f"conv_block{i + 1}", block)
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, classes)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] at 32 kHz -> embedding [B, 2048]
        if wav.dim() != 2 or wav.shape[1] < MIN_SAMPLES:
            raise ValueError(
                f"Cnn14 expects wav [B, N] at 32 kHz with N >= {MIN_SAMPLES}, got shape "
                f"{tuple(wav.shape)}; resample to 32 kHz and pass clips of at least 0.31 s"
            )
        x = self.logmel_extractor(self.spectrogram_extractor(wav))  # [B, 1, T, 64]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # normalise each mel bin
        for i in range(6):
            x = getattr(self, f"conv_block{i + 1}")(x)  # [B, 2048, T / 32, 2] at the end
        x = x.mean(dim=3)  # over frequency: [B, 2048, T']
        x = x.amax(dim=2) + x.mean(dim=2)  # over time
        return F.relu(self.fc1(x))

    @torch.no_grad()
    def tag(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] at 32 kHz -> AudioSet probabilities [B, 527]
        return torch.sigmoid(self.fc_audioset(self(wav)))

    @classmethod
    def from_checkpoint(
        cls, path: str | Path = DEFAULT_PANNS_PATH, map_location: str | torch.device = "cpu"
    ) -> "Cnn14":
        """Load `Cnn14_mAP=0.431.pth` ({"model": state dict}) strictly; eval mode, no gradients."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"PANNs CNN14 weights not found at {path}. Run `foleygan fetch-panns --dest {path}`"
                f", or download {PANNS_URL} by hand and put it there."
            )
        state = _read_checkpoint(path)
        model = cls()
        model.load_checked(state, source=str(path))
        return model.eval().requires_grad_(False).to(map_location)

    def load_checked(self, state: dict, source: str = "state dict") -> None:
        """load_state_dict(strict=True) with a message that names the file and the keys."""
        expected = self.state_dict()
        optional = {k for k in expected if k.endswith("num_batches_tracked")}  # old checkpoints
        missing, unexpected, mismatched = state_dict_problems(expected, state, optional)
        if missing or unexpected or mismatched:
            raise ValueError(
                f"PANNs weights {source} do not match the CNN14 (32 kHz) layout: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}, mismatched {mismatched[:5]}. "
                f"Expected Cnn14_mAP=0.431.pth from {PANNS_URL} (the 16 kHz variant and other "
                "PANNs models have other shapes)."
            )
        self.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent


def _numpy_globals() -> list:
    """numpy's array reconstructors, allowed in addition when a training checkpoint also pickled
    numpy arrays (the repository's checkpoints can carry the sampler's state); nothing else."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    return [
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,  # numpy 2 writes numpy._core..., numpy 1 numpy.core...
        multiarray.scalar,
        (multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
        *(type(np.dtype(c)) for c in "bBhHiIlLqQefdgFDG?"),
    ]


def _read_checkpoint(path: Path) -> dict:
    """The state dict of a PANNs checkpoint file (torch.load with weights_only=True)."""
    try:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            with torch.serialization.safe_globals(_numpy_globals()):
                raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file name and the fix
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported" in line), lines[0] if lines else "")
        raise ValueError(
            f"Could not read PANNs weights {path} ({type(err).__name__}: {reason[:200]}). "
            f"Expected the file {PANNS_URL} "
            "(a dict with the state dict under 'model'); download it again with "
            "`foleygan fetch-panns --force`."
        ) from err
    state = raw.get("model", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise ValueError(
            f"PANNs weights {path} hold {type(raw).__name__}, not a checkpoint dict with the "
            f"state dict under 'model'; expected {PANNS_URL}."
        )
    return state
