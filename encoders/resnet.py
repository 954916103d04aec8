"""A 1-channel ResNet18 (He et al., BasicBlock [2, 2, 2, 2]) for log-mels, with a SupCon head.

Input normalisation: a fixed affine `(mel - MEL_CENTER) / MEL_SCALE` with MEL_CENTER = -5,
MEL_SCALE = 5 maps the log-mel range [ln(1e-5) = -11.5, ~3] to about [-1.3, 1.6]. A fixed map
(rather than a BatchNorm on the input) behaves the same in train and eval mode, needs no data
statistics and cannot drift, so an exported encoder sees exactly what it saw in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MEL_CENTER = -5.0
MEL_SCALE = 5.0


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and a residual; a 1x1 strided projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, C_in, H, W] -> [B, C_out, H / stride, W / stride]
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18Encoder(nn.Module):
    """mel [B, 80, T] (or [B, in_channels, 80, T]) -> z [B, proj_dim], L2-normalised.

    `features(mel)` gives the global-average-pooled backbone output h [B, 8 * base_width];
    `project(h)` the normalised projection-head output. Works for any T >= 32 (and smaller).
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_width: int = 64,
        proj_hidden: int = 512,
        proj_dim: int = 128,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("base_width", base_width),
                            ("proj_hidden", proj_hidden), ("proj_dim", proj_dim)):
            if value < 1:
                raise ValueError(f"ResNet18Encoder {name} must be >= 1, got {value}")
        self.in_channels = in_channels
        self.base_width = base_width
        self.proj_hidden = proj_hidden
        self.proj_dim = proj_dim
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base_width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        widths = [base_width * m for m in (1, 2, 4, 8)]
        stages, channels = [], base_width
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock(channels, width, stride), BasicBlock(width, width)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.layers = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.Linear(channels, proj_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(proj_hidden, proj_dim),
        )
        self._init_weights()

    @property
    def num_features(self) -> int:
        """Width of the pooled backbone features h."""
        return 8 * self.base_width

    def arch(self) -> dict[str, int]:
        """The constructor arguments, enough to rebuild this network."""
        return {
            "in_channels": self.in_channels,
            "base_width": self.base_width,
            "proj_hidden": self.proj_hidden,
            "proj_dim": self.proj_dim,
        }

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def _as_image(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 3 and self.in_channels == 1:
            mel = mel.unsqueeze(1)
        if mel.dim() != 4 or mel.shape[1] != self.in_channels:
            raise ValueError(
                "ResNet18Encoder expects mel [B, n_mels, T] or "
                f"[B, {self.in_channels}, n_mels, T], "
                f"got shape {tuple(mel.shape)}; for two-view batches [B, 2, n_mels, T] encode "
                "mel.flatten(0, 1)"
            )
        return (mel - MEL_CENTER) / MEL_SCALE

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> h [B, 8 * base_width]
        x = self.layers(self.stem(self._as_image(mel)))
        return x.mean(dim=(2, 3))

    def project(self, h: torch.Tensor) -> torch.Tensor:
        # h [B, 8 * base_width] -> z [B, proj_dim], unit norm
        return F.normalize(self.head(h), dim=-1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> z [B, proj_dim], unit norm
        return self.project(self.features(mel))
