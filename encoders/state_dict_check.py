"""Compare a checkpoint's state dict with a network's before loading it (strict, with names)."""

from __future__ import annotations

import torch


def state_dict_problems(
    expected: dict[str, torch.Tensor], state: dict, optional: set[str] = frozenset()
) -> tuple[list[str], list[str], list[str]]:
    """-> (missing keys, unexpected keys, 'key: file shape vs model shape' mismatches).

    Keys in `optional` may be absent from `state` without counting as missing.
    """
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, mismatched
