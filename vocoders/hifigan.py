"""HiFi-GAN V1 generator (Kong et al. 2020), the DCASE 2023 Task 7 baseline vocoder.

Module names follow the published checkpoints (`conv_pre`, `ups.{i}`, `resblocks.{j}.convs1.{k}`,
`resblocks.{j}.convs2.{k}`, `conv_post`), so the challenge's `g_00935000` loads strictly. The
convolutions are plain: weight norm is folded into `weight` when a checkpoint is read (inference
only), whichever way the checkpoint stores it (legacy `weight_g`/`weight_v`, the parametrization
names `parametrizations.weight.original0/1`, or already folded `weight`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.1
RESBLOCK_TYPES = ("1", "2")
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "vocoder" / "hifigan_v1.json"
DEFAULT_CHECKPOINT = Path("checkpoints") / "hifigan" / "g_00935000"
CONFIG_KEYS = (
    "resblock",
    "upsample_rates",
    "upsample_kernel_sizes",
    "upsample_initial_channel",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
)
WHERE_TO_GET = (
    "Use the pretrained HiFi-GAN of the DCASE 2023 Task 7 baseline "
    "(github.com/DCASE2023-Task7-Foley-Sound-Synthesis/dcase2023_task7_baseline, file g_00935000 "
    f"with its hifigan_config.json) and place it at {DEFAULT_CHECKPOINT}/ (or pass its path)."
)


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return dilation * (kernel_size - 1) // 2


class ResBlock1(nn.Module):
    """HiFi-GAN resblock type 1: per dilation, lrelu, dilated conv, lrelu, conv, plus residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))
            for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, C, L] -> [B, C, L]
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            xt = conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = x + xt
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN resblock type 2 (V3): per dilation, lrelu -> dilated conv, plus residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, C, L] -> [B, C, L]
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """mel [B, num_mels, T] (natural-log mel, HiFi-GAN contract) -> wav [B, 1, hop T] in [-1, 1].

    hop = prod(upsample_rates) = 256 for V1. Weight norm is folded at load time, so the module
    holds plain convolutions and is meant for inference (`from_checkpoint` returns it in eval mode
    with gradients off).
    """

    def __init__(
        self,
        num_mels: int = 80,
        upsample_rates: Sequence[int] = (8, 8, 2, 2),
        upsample_kernel_sizes: Sequence[int] = (16, 16, 4, 4),
        upsample_initial_channel: int = 512,
        resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
        resblock_dilation_sizes: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        resblock: str = "1",
    ) -> None:
        super().__init__()
        resblock = str(resblock)
        if resblock not in RESBLOCK_TYPES:
            raise ValueError(
                f"HiFi-GAN resblock type {resblock!r} is not supported; use one of "
                f"{RESBLOCK_TYPES} "
                "('1' for V1/V2, '2' for V3)."
            )
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ValueError(
                f"upsample_rates {list(upsample_rates)} and upsample_kernel_sizes "
                f"{list(upsample_kernel_sizes)} must have the same length (one per stage)."
            )
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ValueError(
                f"resblock_kernel_sizes {list(resblock_kernel_sizes)} and resblock_dilation_sizes "
                f"{[list(d) for d in resblock_dilation_sizes]} must have the same length."
            )
        self.num_mels = int(num_mels)
        self.num_kernels = len(resblock_kernel_sizes)
        self.hop_length = math.prod(int(r) for r in upsample_rates)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.conv_pre = nn.Conv1d(num_mels, upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            c_in, c_out = upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(
                nn.ConvTranspose1d(c_in, c_out, kernel, stride=rate, padding=(kernel - rate) // 2)
            )
            for k, dilations in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(c_out, k, dilations))
        self.conv_post = nn.Conv1d(c_out, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, num_mels, T] -> wav [B, 1, hop * T]
        if mel.dim() != 3 or mel.shape[1] != self.num_mels:
            raise ValueError(
                f"HiFiGANGenerator expects mel [B, {self.num_mels}, T], got {tuple(mel.shape)}"
            )
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            x = torch.stack([block(x) for block in blocks]).mean(dim=0)
        x = self.conv_post(F.leaky_relu(x))  # PyTorch's default slope 0.01, as in HiFi-GAN
        return torch.tanh(x)

    def load_checkpoint_state(self, state_dict: dict, source: str = "state dict") -> None:
        """Load a HiFi-GAN state dict strictly, folding any weight norm into `weight`."""
        folded = fold_weight_norm(state_dict)
        check_state_dict(self.state_dict(), folded, source=source)
        self.load_state_dict(folded, strict=True)

    @classmethod
    def from_config_file(cls, path: str | Path) -> "HiFiGANGenerator":
        """Build an (untrained) generator from a HiFi-GAN JSON config; extra keys are ignored."""
        return cls(**read_config(path))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config_json: str | Path | None = None,
        map_location: str | torch.device = "cpu",
    ) -> "HiFiGANGenerator":
        """Load `{"generator": state_dict}` (or a bare state dict), eval mode, no gradients.

        The config is `config_json` if given, else a `config.json` beside the checkpoint, else
        `configs/vocoder/hifigan_v1.json` (V1).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"HiFi-GAN checkpoint not found: {path}. {WHERE_TO_GET}")
        config = _resolve_config(path, config_json)
        model = cls(**read_config(config)) if config is not None else cls()
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 - re-raised with the file name
            raise ValueError(
                f"Could not read HiFi-GAN checkpoint {path}: {err}. Expected a torch.save'd dict "
                '{"generator": state_dict} as written by HiFi-GAN training.'
            ) from err
        state = checkpoint.get("generator", checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise ValueError(
                f"HiFi-GAN checkpoint {path} holds {type(checkpoint).__name__}, expected a dict "
                "with "
                "a 'generator' state dict or a bare state dict."
            )
        model.load_checkpoint_state(state, source=str(path))
        return model.eval().requires_grad_(False).to(map_location)


def fold_weight_norm(state_dict: dict) -> dict:
    """Replace (weight_g, weight_v) pairs by weight = g * v / ||v|| (norm over all dims but 0).

    Both the legacy names (`x.weight_g`, `x.weight_v`) and the parametrization names
    (`x.parametrizations.weight.original0` = g, `.original1` = v) are folded. HiFi-GAN applied
    weight norm with the default dim=0 everywhere, including the ConvTranspose1d ups whose
    weight is [in, out, k], so g has shape [dim0, 1, 1] in every case. Other keys pass unchanged.
    """
    pairs = {
        ".weight_g": (".weight_g", ".weight_v"),
        ".parametrizations.weight.original0": (
            ".parametrizations.weight.original0",
            ".parametrizations.weight.original1",
        ),
    }
    out, used = {}, set()
    for key in state_dict:
        for g_suffix, (gs, vs) in pairs.items():
            if key.endswith(g_suffix):
                prefix = key[: -len(g_suffix)]
                if prefix + vs in state_dict:
                    g, v = state_dict[prefix + gs], state_dict[prefix + vs]
                    dims = tuple(range(1, v.dim()))
                    out[prefix + ".weight"] = v * (g / v.norm(dim=dims, keepdim=True))
                    used.update({prefix + gs, prefix + vs})
    for key, value in state_dict.items():
        if key not in used:
            out[key] = value
    return out


def check_state_dict(expected: dict, given: dict, source: str) -> None:
    """Raise ValueError listing missing, unexpected and mis-shaped keys (first few of each)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    for name, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("mismatched", mismatched),
    ):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{len(items)} {name}: {items[:5]}{more}")
    raise ValueError(
        f"HiFi-GAN state dict from {source} does not fit the generator built from the config: "
        + "; ".join(parts)
        + ". Check that the config (upsample_*, resblock_*, num_mels) is the one the checkpoint "
        "was trained with."
    )


def _resolve_config(checkpoint: Path, config_json: str | Path | None) -> Path | None:
    if config_json is not None:
        return Path(config_json)
    beside = checkpoint.parent / "config.json"
    if beside.is_file():
        return beside
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def read_config(path: str | Path) -> dict:
    """The generator's keyword arguments from a HiFi-GAN JSON config (hifigan_config.json keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"HiFi-GAN config not found: {path}. Pass the hifigan_config.json that came with the "
            f"checkpoint, or omit it to use {DEFAULT_CONFIG}."
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"HiFi-GAN config {path} is not valid JSON: {err}") from err
    missing = [key for key in CONFIG_KEYS if key not in raw]
    if missing:
        raise ValueError(
            f"HiFi-GAN config {path} lacks {missing}; it needs {list(CONFIG_KEYS)} (+ num_mels), "
            "as in HiFi-GAN's config_v1.json."
        )
    kwargs = {key: raw[key] for key in CONFIG_KEYS}
    kwargs["num_mels"] = int(raw.get("num_mels", 80))
    kwargs["resblock"] = str(kwargs["resblock"])
    return kwargs


class HiFiGANVocoder(nn.Module):
    """The project's vocoder call around a HiFi-GAN generator: mel [B, 80, T] -> wav [B, 256 T]."""

    def __init__(self, generator: HiFiGANGenerator) -> None:
        super().__init__()
        self.generator = generator
        self.hop_length = generator.hop_length

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config_json: str | Path | None = None,
        map_location: str | torch.device = "cpu",
    ) -> "HiFiGANVocoder":
        generator = HiFiGANGenerator.from_checkpoint(path, config_json, map_location)
        return cls(generator).eval()

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> wav [B, 256 T]
        return self.generator(mel).squeeze(1)
