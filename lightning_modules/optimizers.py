"""The modules' default optimizers as named functions `params -> Optimizer` (OptimizerCallable).

A config replaces them with `class_path: torch.optim.Adam` + `init_args`; a named module-level
function (unlike a lambda or a partial) is a default that jsonargparse can print
(`foleygan fit --print_config`) and that works when a module is built in Python.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def gan_adam(params: Iterable) -> torch.optim.Adam:
    """The report's GAN optimizer (section 3.2): Adam, lr 1e-4, betas (0.5, 0.999)."""
    return torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999))


def supcon_adamw(params: Iterable) -> torch.optim.AdamW:
    """The encoder pretraining optimizer: AdamW, lr 1e-3, weight decay 1e-4."""
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
