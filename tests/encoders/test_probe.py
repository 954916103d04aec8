"""The nearest-centroid probe's maths against loops: sums, centroids, logits, counts, figures."""

from __future__ import annotations

import pytest
import torch

from encoders.probe import (
    PROBE_KEY,
    accuracies,
    centroid_logits,
    centroids_from_sums,
    class_sums,
    confusion_counts,
    probe_figures,
)


def test_probe_helpers_match_loops() -> None:
    z = torch.randn(9, 4)
    labels = torch.tensor([0, 2, 2, 0, 1, 2, 0, 0, 2])
    sums, counts = class_sums(z, labels, num_classes=4)
    for c in range(4):
        members = [z[i] for i in range(9) if labels[i] == c]
        assert counts[c] == len(members)
        if members:
            assert torch.allclose(sums[c], torch.stack(members).sum(0))
    cents = centroids_from_sums(sums, counts)
    assert torch.equal(cents[3], torch.zeros(4))  # class 3 never seen
    assert torch.allclose(cents[1], z[4] / z[4].norm())
    unit = torch.nn.functional.normalize(z, dim=1)
    assert torch.allclose(centroid_logits(unit, cents)[0, 2], unit[0] @ cents[2])
    overall, per_class = accuracies(torch.tensor([[3, 1, 0], [0, 0, 0], [1, 1, 2]]))
    assert overall == pytest.approx(5 / 8)
    assert per_class == [pytest.approx(0.75), None, pytest.approx(0.5)]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\]"):
        class_sums(z, labels + 2, num_classes=4)


def test_confusion_counts_match_a_loop() -> None:
    labels = torch.randint(0, 5, (40,))
    predicted = torch.randint(0, 5, (40,))
    expected = torch.zeros(5, 5, dtype=torch.long)
    for true, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        expected[true, guess] += 1
    assert torch.equal(confusion_counts(labels, predicted, 5), expected)
    assert torch.equal(confusion_counts(labels[:0], predicted[:0], 5), torch.zeros(5, 5).long())
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        confusion_counts(labels, predicted, 3)
    with pytest.raises(ValueError, match="expects labels \\[N\\] and predicted \\[N\\]"):
        confusion_counts(labels, predicted[:3], 5)


def test_probe_figures_keys_and_values() -> None:
    confusion = torch.tensor([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    figures = probe_figures(confusion, ["A", "B", "C"])
    assert PROBE_KEY == "val/probe/acc"
    assert figures == {"val/probe/acc": pytest.approx(5 / 8), "val/probe/acc/A": 0.75,
                       "val/probe/acc/C": 0.5}  # B had no samples: no made-up figure
    assert probe_figures(torch.zeros(3, 3), ["A", "B", "C"]) == {}
    with pytest.raises(ValueError, match="2 class names for a 3-class confusion matrix"):
        probe_figures(confusion, ["A", "B"])
