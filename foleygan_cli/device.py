"""The --device check that the CLI tools share."""

from __future__ import annotations

import sys


def cuda_missing(device: str, prog: str) -> bool:
    """True (after printing why and the fix) when `device` asks for CUDA and none is visible."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"{prog}: --device {device} but no CUDA device is visible; use --device cpu",
              file=sys.stderr)
        return True
    return False
