"""Per-band statistics of cached log-mels, read from the memmap in chunks."""

from __future__ import annotations

import numpy as np
import torch


def band_stats(
    mels: np.ndarray, indices: np.ndarray, chunk: int = 64
) -> dict[str, torch.Tensor]:
    """`min`, `max`, `mean`, `std` ([n_mels] float32) over all frames of rows `indices` of
    mels [N, n_mels, T]. Accumulated in float64; `std` is the population (ddof=0) one."""
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    if indices.size == 0:
        raise ValueError(
            "cannot compute mel statistics of an empty split; "
            "check the dataset root and val_fraction"
        )
    n_mels = mels.shape[1]
    total = np.zeros(n_mels)
    total_sq = np.zeros(n_mels)
    low = np.full(n_mels, np.inf)
    high = np.full(n_mels, -np.inf)
    for start in range(0, indices.size, chunk):
        block = np.asarray(mels[indices[start : start + chunk]], dtype=np.float64)
        total += block.sum(axis=(0, 2))
        total_sq += np.square(block).sum(axis=(0, 2))
        low = np.minimum(low, block.min(axis=(0, 2)))
        high = np.maximum(high, block.max(axis=(0, 2)))
    count = indices.size * mels.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    as_tensor = lambda x: torch.from_numpy(x.astype(np.float32))  # noqa: E731
    return {
        "min": as_tensor(low), "max": as_tensor(high), "mean": as_tensor(mean),
        "std": as_tensor(std),
    }
