"""VGGish (Hershey et al. 2017), the embedding network of the official DCASE 2023 Task 7 FAD.

Module names are those of the torchvggish port (`features.*`, `embeddings.*`), so its weight file
`vggish-10086976.pth` loads strictly. The embedding is the output of the last Linear layer
(`embeddings.4`) BEFORE its ReLU, 128-d, without PCA, as the challenge's evaluation uses it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from encoders.state_dict_check import state_dict_problems
from encoders.vggish_input import waveform_to_examples

VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
DEFAULT_VGGISH_PATH = Path("checkpoints") / "vggish" / "vggish-10086976.pth"
PCA_KEYS = ("pca_eigen_vectors", "pca_means")

__all__ = ["VGGish", "waveform_to_examples", "VGGISH_URL", "DEFAULT_VGGISH_PATH"]


def _vgg_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 1
    for spec in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if spec == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(spec), kernel_size=3, padding=1), nn.ReLU()]
            in_channels = int(spec)
    return nn.Sequential(*layers)  # weights at indices 0, 3, 6, 8, 11, 13


class VGGish(nn.Module):
    """examples [N, 1, 96, 64] (frames x mel bands) -> embeddings [N, 128] (pre-ReLU, no PCA)."""

    num_features = 128

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg_features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, 128),  # torchvggish follows this with a ReLU: not used by the FAD
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        # examples [N, 1, 96, 64] -> embeddings [N, 128]
        if examples.dim() != 4 or tuple(examples.shape[1:]) != (1, 96, 64):
            raise ValueError(
                f"VGGish expects examples [N, 1, 96, 64], got {tuple(examples.shape)}; "
                "make them with encoders.vggish.waveform_to_examples."
            )
        x = self.features(examples)  # [N, 512, 6, 4]
        x = x.permute(0, 2, 3, 1).flatten(1)  # channels last, as the TensorFlow weights expect
        return self.embeddings(x)

    @torch.no_grad()
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] at 22,050 Hz (official framing, no resampling) -> [B * windows, 128]
        examples = waveform_to_examples(wav.to(self.embeddings[0].weight.device))
        return self(examples)

    @classmethod
    def from_state_dict_file(
        cls, path: str | Path = DEFAULT_VGGISH_PATH, map_location: str | torch.device = "cpu"
    ) -> "VGGish":
        """Load torchvggish's `vggish-10086976.pth` strictly; eval mode, no gradients."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"VGGish weights not found at {path}. Run `make fetch-vggish` (or `foleygan "
                f"fetch-vggish --dest {path}`), or download {VGGISH_URL} by hand and put it there."
            )
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # any read failure: re-raised with the file name
            raise ValueError(
                f"Could not read VGGish weights {path}: {err}. Expected torchvggish's "
                f"vggish-10086976.pth (a state dict){_pca_hint(path.name)}."
            ) from err
        if not isinstance(state, dict):
            raise ValueError(
                f"VGGish weights {path} hold {type(state).__name__}, not a state dict."
            )
        with torch.device("meta"):  # no random init of 72 M parameters: the file assigns them
            model = cls()
        model.load_checked(state, source=str(path), assign=True)
        return model.eval().requires_grad_(False).to(map_location)

    def load_checked(self, state: dict, source: str = "state dict", assign: bool = False) -> None:
        """load_state_dict(strict=True) with a message that names the file and the keys."""
        if any(key in state for key in PCA_KEYS):
            raise ValueError(
                f"{source} is torchvggish's PCA parameter file (vggish_pca_params-970ea276.pth), "
                f"not the network weights; the official FAD uses no PCA. Use {VGGISH_URL}."
            )
        expected = self.state_dict()
        missing, unexpected, mismatched = state_dict_problems(expected, state)
        if missing or unexpected or mismatched:
            raise ValueError(
                f"VGGish weights {source} do not match the torchvggish layout: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}, mismatched {mismatched[:5]}. "
                f"Expected the file {VGGISH_URL}."
            )
        self.load_state_dict(state, strict=True, assign=assign)


def _pca_hint(name: str) -> str:
    return "; this looks like the PCA parameter file, which is not needed" if "pca" in name else ""
