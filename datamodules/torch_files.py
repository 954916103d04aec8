"""Reading the project's own torch files with errors that name the file and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def read_torch_file(
    path: str | os.PathLike,
    *,
    what: str,
    how: str,
    map_location: str | torch.device = "cpu",
    weights_only: bool = True,
) -> object:
    """torch.load `path`; a missing or unreadable file raises an error naming `what` and `how`.

    what: the kind of file expected ("encoder export"); how: how to make or get one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found: {how}")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as error:  # whatever torch.load raises, the user's fix is the same
        raise ValueError(
            f"{path} is not a readable {what} ({type(error).__name__}: {error}); {how}"
        ) from error
