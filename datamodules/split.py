"""Deterministic stratified train / validation split, by clip or by recording."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_split(
    labels: np.ndarray,
    val_fraction: float = 0.1,
    seed: int = 0,
    groups: Sequence[str] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), each sorted, disjoint, together all of `labels`.

    `groups=None` splits by clip: per class, n * val_fraction (rounded half up) clips go to
    validation, at most n - 1 so that every class keeps at least one training clip; each class
    is shuffled by its own generator seeded with (seed, label), so the split of one class does
    not depend on the others.

    `groups` (one recording id per clip) splits by recording: every recording lands on one side
    whole. A recording belongs to the class most of its clips have (ties: the lower label). Per
    class, its recordings are visited in an order shuffled by a generator seeded with
    (seed, label), and each is sent to validation when that brings the class's validation
    clips closer to n * val_fraction (rounded half up); every class keeps at least one training
    recording, and with val_fraction > 0 a class with two or more recordings gets at least one
    validation recording (its smallest, if none was taken).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must be in [0, 1), got {val_fraction}; "
            "use e.g. 0.1, or 0 for no validation"
        )
    labels = np.asarray(labels, dtype=np.int64)
    if groups is None:
        return _clip_split(labels, val_fraction, seed)
    groups = np.asarray([str(g) for g in groups])
    if len(groups) != len(labels):
        raise ValueError(
            f"groups has {len(groups)} recording ids for {len(labels)} labels; give one per clip"
        )
    return _recording_split(labels, groups, val_fraction, seed)


def _n_val(n: int, val_fraction: float) -> int:
    return int(np.floor(n * val_fraction + 0.5))


def _sorted_pair(train: list, val: list) -> tuple[np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    train_idx = np.sort(np.concatenate(train)) if train else empty
    val_idx = np.sort(np.concatenate(val)) if val else empty
    return train_idx.astype(np.int64), val_idx.astype(np.int64)


def _clip_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = np.random.default_rng([seed, int(label)]).permutation(members)
        n_val = min(_n_val(len(members), val_fraction), len(members) - 1)
        val.append(order[:n_val])
        train.append(order[n_val:])
    return _sorted_pair(train, val)


def _pick_recordings(
    sizes: np.ndarray, target: int, rng: np.random.Generator, at_least_one: bool
) -> list[int]:
    """Positions of the recordings (sizes in clips) that go to validation."""
    order = [int(k) for k in rng.permutation(len(sizes))]
    taken: list[int] = []
    total = 0
    for k in order:
        if len(taken) >= len(sizes) - 1:
            break  # the class keeps a training recording
        if abs(total + sizes[k] - target) < abs(total - target):
            taken.append(k)
            total += int(sizes[k])
    if at_least_one and not taken and len(sizes) >= 2:
        taken.append(min(order, key=lambda k: sizes[k]))
    return taken


def _recording_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(labels) == 0:
        return _sorted_pair([], [])
    ids, recording = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(ids), int(labels.max()) + 1), dtype=np.int64)
    np.add.at(counts, (recording, labels), 1)
    owner = counts.argmax(axis=1)  # first maximum: the lower label wins a tie
    sizes = counts.sum(axis=1)
    val_recordings = []
    for label in np.unique(owner):
        recs = np.flatnonzero(owner == label)
        rng = np.random.default_rng([seed, int(label)])
        target = _n_val(int(sizes[recs].sum()), val_fraction)
        picked = _pick_recordings(sizes[recs], target, rng, at_least_one=val_fraction > 0)
        val_recordings.extend(recs[picked].tolist())
    is_val = np.isin(recording, val_recordings)
    return _sorted_pair([np.flatnonzero(~is_val)], [np.flatnonzero(is_val)])


def describe_split(
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    class_names: Sequence[str],
    groups: Sequence[str] | None = None,
    source: str | None = None,
) -> str:
    """How the split was made, then clips (and recordings, given `groups`) per side and class."""
    labels = np.asarray(labels, dtype=np.int64)

    def side(indices: np.ndarray) -> str:
        if groups is None:
            return f"{len(indices)} clips"
        return f"{len(indices)} clips / {len({groups[i] for i in indices})} recordings"

    if groups is None:
        head = "split by clip"
    else:
        head = "split by recording" + (f" ({source})" if source else "")
    lines = [f"{head}: train {side(train)}, validation {side(val)}"]
    width = max((len(n) for n in class_names), default=0)
    for label, name in enumerate(class_names):
        per_train = train[labels[train] == label]
        per_val = val[labels[val] == label]
        lines.append(f"  {name:<{width}}  train {side(per_train)}, validation {side(per_val)}")
    return "\n".join(lines)
