"""FrechetAudioDistance: sum states equal numpy statistics; 2 ranks equal 1 rank over the union."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

from conftest import run_gloo_ranks
from evaluation.fad import FrechetAudioDistance, frechet_distance, gaussian_stats
from evaluation.fad_metric import FrechetAudioDistance as MetricDirect

DIM, WINDOWS = 4, 3


class WindowStats(nn.Module):
    """Tiny backbone: each clip -> WINDOWS windows -> [mean, std, max, min] per window."""

    num_features = DIM

    def __init__(self, windows: int = WINDOWS) -> None:
        super().__init__()
        self.windows = windows
        self.scale = nn.Parameter(torch.ones(1))

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * WINDOWS, DIM]
        frames = wav.reshape(wav.shape[0] * self.windows, -1)
        feats = [frames.mean(1), frames.std(1), frames.amax(1), frames.amin(1)]
        return torch.stack(feats, dim=1) * self.scale.detach()


def _data(seed: int, n: int, num_classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    wav = torch.randn(n, 12 * WINDOWS, generator=g) * (1 + labels[:, None].float())
    return wav, labels


def _metric(windows: int = WINDOWS) -> FrechetAudioDistance:
    metric = FrechetAudioDistance(WindowStats(windows), num_classes=3, class_names=["A", "B", "C"])
    ref_wav, ref_labels = _data(99, 30)
    metric.compute_reference(ref_wav, ref_labels)
    return metric


def test_reexport_is_the_same_class() -> None:
    assert FrechetAudioDistance is MetricDirect


def test_sum_states_equal_numpy_statistics() -> None:
    metric = _metric()
    wav, labels = _data(0, 24)
    metric.update(wav[:10], labels[:10])
    metric.update(wav[10:], labels[10:])
    emb = WindowStats().embed(wav).double().numpy()
    emb_labels = labels.repeat_interleave(WINDOWS).numpy()
    for c in range(3):
        rows = emb[emb_labels == c]
        n = metric.gen_count[c].item()
        mu = metric.gen_sum[c].numpy() / n
        cov = (metric.gen_outer[c].numpy() - n * np.outer(mu, mu)) / (n - 1)
        assert n == rows.shape[0]
        np.testing.assert_allclose(mu, rows.mean(0), rtol=1e-10)
        np.testing.assert_allclose(cov, np.cov(rows, rowvar=False), rtol=1e-8, atol=1e-12)


def test_compute_matches_functional_and_reset_keeps_reference() -> None:
    metric = _metric()
    wav, labels = _data(1, 30)
    metric.update(wav, labels)
    out = metric.compute()
    assert set(out) == {"A", "B", "C", "mean"}
    emb = WindowStats().embed(wav)
    ref_emb = WindowStats().embed(_data(99, 30)[0])
    emb_labels = labels.repeat_interleave(WINDOWS)
    for c, name in enumerate("ABC"):
        ref = frechet_distance(
            *gaussian_stats(ref_emb[emb_labels == c]), *gaussian_stats(emb[emb_labels == c])
        )
        assert out[name].item() == pytest.approx(ref, rel=1e-8)
    assert out["mean"].item() == pytest.approx(np.mean([out[n].item() for n in "ABC"]))
    metric.reset()
    assert metric.gen_count.sum() == 0 and metric.has_reference
    metric.update(wav, labels)
    assert metric.compute()["A"].item() == pytest.approx(out["A"].item())


def test_identical_generated_and_reference_give_zero() -> None:
    metric = _metric()
    metric.update(*_data(99, 30))
    assert abs(metric.compute()["mean"].item()) < 1e-8


def test_missing_class_is_skipped_and_errors_are_clear() -> None:
    metric = _metric()
    wav, labels = _data(2, 12)
    keep = labels < 2
    metric.update(wav[keep], labels[keep])
    assert set(metric.compute()) == {"A", "B", "mean"}
    bare = FrechetAudioDistance(WindowStats(), num_classes=3, class_names=["A", "B", "C"])
    bare.update(wav, labels)
    with pytest.raises(ValueError, match="class A has no reference statistics"):
        bare.compute()
    one = _metric(windows=1)
    one.update(wav[:1], torch.tensor([0]))  # one clip, one window -> one embedding
    with pytest.raises(ValueError, match="class A has 1 generated embedding"):
        one.compute()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        one.update(wav[:2], torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="wav \\[B, N\\] and labels \\[B\\]"):
        one.update(wav[:2], torch.tensor([0]))
    with pytest.raises(TypeError, match="needs `embed"):
        FrechetAudioDistance(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="reference stats have shapes"):
        one.set_reference({"mu": torch.zeros(2, DIM), "sigma": torch.zeros(2, DIM, DIM)})


def test_backbone_stays_in_eval_without_grad() -> None:
    metric = _metric()
    metric.train()
    metric.update(*_data(3, 6))
    assert not metric.backbone.training
    assert metric.backbone.scale.grad is None


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        metric = _metric()
        wav, labels = _data(5, 23)
        split = 7  # uneven: rank 0 gets 7 clips, rank 1 gets 16
        part = slice(0, split) if rank == 0 else slice(split, None)
        metric.update(wav[part], labels[part])
        queue.put((rank, {k: v.item() for k, v in metric.compute().items()}))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters importing torch: ~30 s on 2 shared cores
def test_two_ranks_equal_one_rank_over_the_union() -> None:
    results = run_gloo_ranks(_worker, world=2, timeout=120)
    single = _metric()
    single.update(*_data(5, 23))
    expected = {k: v.item() for k, v in single.compute().items()}
    for rank in range(2):
        assert results[rank].keys() == expected.keys()
        for key, value in expected.items():
            assert results[rank][key] == pytest.approx(value, rel=1e-10)
