"""Samplers that Lightning leaves alone under DDP.

Lightning 2.x (`use_distributed_sampler=True`, the default) replaces the sampler of every
DataLoader that is not a `torch.utils.data.DistributedSampler`: a RandomSampler or
SequentialSampler becomes a DistributedSampler, any other sampler is wrapped in a
DistributedSamplerWrapper (which pads ranks with duplicates). Both samplers here therefore
subclass DistributedSampler and shard by themselves; with one process they are plain samplers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DistributedSampler


def _check_rank(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(
            f"invalid rank {rank} of world size {num_replicas}: need 0 <= rank < world size >= 1"
        )


class ShardSampler(DistributedSampler):
    """Indices 0..n-1 split as [rank::num_replicas]: disjoint shards, no padding duplicates.

    For validation: every clip is seen exactly once over all ranks (ranks may differ by one).
    """

    def __init__(self, num_items: int, num_replicas: int = 1, rank: int = 0) -> None:
        _check_rank(num_replicas, rank)
        self.num_items = int(num_items)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.shuffle = False
        self.drop_last = False

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.num_replicas))


class ClassBalancedSampler(DistributedSampler):
    """Draws with replacement, weight 1 / (count of the clip's class): classes equally likely.

    Each epoch draws one global sequence of `num_replicas * per-rank` indices from a generator
    seeded by (seed, epoch), the same on every rank, and rank r takes positions r::num_replicas,
    so ranks get disjoint shares of the draw. Call `set_epoch` (Lightning does) for a new draw.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        num_samples: int | None = None,
    ) -> None:
        _check_rank(num_replicas, rank)
        labels = np.asarray(labels, dtype=np.int64)
        if labels.size == 0:
            raise ValueError("ClassBalancedSampler needs at least one label; the split is empty")
        counts = np.bincount(labels)
        self.weights = torch.from_numpy(1.0 / counts[labels]).double()
        total = len(labels) if num_samples is None else int(num_samples)
        self.num_samples = math.ceil(total / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.shuffle = True
        self.drop_last = False

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draw = torch.multinomial(
            self.weights, self.total_size, replacement=True, generator=generator
        )
        return iter(draw[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples
