"""The stratified split: by clip (as before) and by recording (no recording on both sides)."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.split import describe_split, stratified_split


def test_clip_split_deterministic_stratified_disjoint() -> None:
    labels = np.repeat([0, 1, 2, 3], [20, 10, 3, 1])
    train, val = stratified_split(labels, val_fraction=0.3, seed=5)
    again_train, again_val = stratified_split(labels, val_fraction=0.3, seed=5)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert set(train).isdisjoint(val) and sorted([*train, *val]) == list(range(len(labels)))
    assert np.bincount(labels[val], minlength=4).tolist() == [6, 3, 1, 0]  # round(n * 0.3)
    assert np.bincount(labels[train], minlength=4).min() >= 1  # every class keeps a clip
    other_train, _ = stratified_split(labels, val_fraction=0.3, seed=6)
    assert not np.array_equal(train, other_train)
    _, no_val = stratified_split(labels, val_fraction=0.0)
    assert no_val.size == 0
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(labels, val_fraction=-0.1)


def _sliced_set(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """4 classes of recordings cut into 1-6 slices each; class 3 has a single recording."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for label, n_recordings in enumerate([12, 7, 2, 1]):
        for r in range(n_recordings):
            slices = int(rng.integers(1, 7))
            labels += [label] * slices
            groups += [f"{label}-{r}"] * slices
    order = rng.permutation(len(labels))  # clips of one recording are not adjacent
    return np.asarray(labels)[order], np.asarray(groups)[order]


@pytest.mark.parametrize("seed", range(6))
def test_no_recording_on_both_sides(seed: int) -> None:
    labels, groups = _sliced_set(seed)
    train, val = stratified_split(labels, val_fraction=0.25, seed=seed, groups=groups)
    assert sorted([*train, *val]) == list(range(len(labels)))
    assert set(groups[train]).isdisjoint(groups[val])
    for label in range(4):
        recordings = set(groups[labels == label])
        val_recordings = set(groups[val][labels[val] == label])
        assert set(groups[train][labels[train] == label])  # a training recording per class
        assert bool(val_recordings) == (len(recordings) >= 2)  # >= 2 recordings: one in val
    # stratified: the big class's validation share is near 25 % of its clips
    big = labels == 0
    share = np.isin(np.flatnonzero(big), val).mean()
    assert 0.1 <= share <= 0.4


def test_recording_split_is_seeded_and_deterministic() -> None:
    labels, groups = _sliced_set(0)
    first = stratified_split(labels, val_fraction=0.25, seed=3, groups=groups)
    again = stratified_split(labels, val_fraction=0.25, seed=3, groups=list(groups))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    others = [stratified_split(labels, val_fraction=0.25, seed=s, groups=groups)[1]
              for s in range(4, 8)]
    assert any(not np.array_equal(first[1], other) for other in others)


def test_recording_shared_by_two_classes_stays_whole() -> None:
    labels = np.array([0, 0, 1, 0, 0, 1, 1, 1, 1, 0])
    groups = np.array(["a", "a", "a", "b", "c", "d", "e", "f", "g", "h"])
    sides_of_a = set()
    for seed in range(10):
        train, val = stratified_split(labels, val_fraction=0.4, seed=seed, groups=groups)
        assert len({i in val for i in (0, 1, 2)}) == 1  # clips of "a" (classes 0 and 1) together
        assert set(groups[train]).isdisjoint(groups[val])
        sides_of_a.add(0 in val)
    assert sides_of_a == {True, False}  # the seed decides where it goes


def test_recording_split_edge_cases() -> None:
    labels = np.array([0, 0, 1, 1])
    _, val = stratified_split(labels, val_fraction=0.0, groups=["a", "b", "c", "d"])
    assert val.size == 0
    _, val = stratified_split(labels, val_fraction=0.01, groups=["a", "b", "c", "d"])
    assert sorted(labels[val].tolist()) == [0, 1]  # at least one val recording per class
    train, val = stratified_split(labels, val_fraction=0.5, groups=["a", "a", "c", "c"])
    assert val.size == 0 and train.tolist() == [0, 1, 2, 3]  # one recording each: all train
    with pytest.raises(ValueError, match="3 recording ids for 4 labels"):
        stratified_split(labels, groups=["a", "b", "c"])


def test_describe_split_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    groups = ["r1", "r1", "r2", "r3", "r4"]
    text = describe_split(labels, np.array([0, 1, 3]), np.array([2, 4]), ["Wind", "Rain"],
                          groups=groups, source="4 recordings")
    lines = text.splitlines()
    assert lines[0] == ("split by recording (4 recordings): train 3 clips / 2 recordings, "
                        "validation 2 clips / 2 recordings")
    assert lines[1].split() == ["Wind", "train", "2", "clips", "/", "1", "recordings,",
                                "validation", "1", "clips", "/", "1", "recordings"]
    by_clip = describe_split(labels, np.array([0, 1, 3]), np.array([2, 4]), ["Wind", "Rain"])
    assert by_clip.splitlines()[0] == "split by clip: train 3 clips, validation 2 clips"
