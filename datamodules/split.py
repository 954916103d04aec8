"""Deterministic stratified train / validation split by class."""

from __future__ import annotations

import numpy as np


def stratified_split(
    labels: np.ndarray, val_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), each sorted, disjoint, together all of `labels`.

    Per class, n * val_fraction (rounded half up) clips go to validation, at most n - 1 so that
    every class keeps at least one training clip; each class is shuffled by its own generator
    seeded with (seed, label), so the split of one class does not depend on the others.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must be in [0, 1), got {val_fraction}; "
            "use e.g. 0.1, or 0 for no validation"
        )
    labels = np.asarray(labels, dtype=np.int64)
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = np.random.default_rng([seed, int(label)]).permutation(members)
        n_val = min(int(np.floor(len(members) * val_fraction + 0.5)), len(members) - 1)
        val.append(order[:n_val])
        train.append(order[n_val:])
    empty = np.zeros(0, dtype=np.int64)
    train_idx = np.sort(np.concatenate(train)) if train else empty
    val_idx = np.sort(np.concatenate(val)) if val else empty
    return train_idx.astype(np.int64), val_idx.astype(np.int64)
