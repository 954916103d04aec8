"""MelNormalizer round trip and errors; EMA averaging, buffer copies and state_dict."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_modules.ema import EMA
from lightning_modules.mel_norm import MelNormalizer


def _stats(n_mels: int = 4) -> dict:
    lo = torch.linspace(-11.5, -6.0, n_mels)
    return {"min": lo, "max": lo + torch.linspace(2.0, 9.0, n_mels)}


def test_round_trip_and_range() -> None:
    norm = MelNormalizer(4).fit(_stats())
    stats = _stats()
    mel = stats["min"].view(1, 4, 1) + torch.rand(3, 4, 7) * (stats["max"] - stats["min"]).view(
        1, 4, 1
    )
    x = norm.normalize(mel)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert torch.allclose(norm.denormalize(x), mel, atol=1e-5)
    # no mean given: a plain min/max map, min -> -1 and max -> +1
    ends = norm.normalize(torch.stack([stats["min"], stats["max"]], dim=1).unsqueeze(0))
    assert torch.allclose(ends[0, :, 0], -torch.ones(4))
    assert torch.allclose(ends[0, :, 1], torch.ones(4))


def test_mean_maps_to_zero_and_data_range_fits() -> None:
    stats = _stats()
    stats["mean"] = stats["min"] + 0.25 * (stats["max"] - stats["min"])  # near the floor
    norm = MelNormalizer(4).fit(stats)
    assert torch.allclose(norm.normalize(stats["mean"].view(1, 4, 1)), torch.zeros(1, 4, 1))
    ends = norm.normalize(torch.stack([stats["min"], stats["max"]], dim=1).unsqueeze(0))
    # half span = max - mean = 0.75 span: max -> +1, min -> -0.25 / 0.75 = -1/3, no clipping
    assert torch.allclose(ends[0, :, 1], torch.ones(4))
    assert torch.allclose(ends[0, :, 0], torch.full((4,), -1.0 / 3.0))
    mel = stats["min"].view(1, 4, 1) + torch.rand(2, 4, 5) * (stats["max"] - stats["min"]).view(
        1, 4, 1
    )
    assert torch.allclose(norm.denormalize(norm.normalize(mel)), mel, atol=1e-5)


def test_clamps_out_of_range_and_constant_band() -> None:
    stats = _stats()
    stats["max"][0] = stats["min"][0]  # a band that never changes
    norm = MelNormalizer(4).fit(stats)
    x = norm.normalize(torch.full((1, 4, 2), 100.0))
    assert torch.equal(x, torch.ones(1, 4, 2))
    assert torch.isfinite(norm.denormalize(x)).all()


def test_state_dict_carries_the_fit() -> None:
    norm = MelNormalizer(4).fit(_stats())
    fresh = MelNormalizer(4)
    assert not fresh.is_fitted
    fresh.load_state_dict(norm.state_dict())
    assert fresh.is_fitted and torch.equal(fresh.lo, norm.lo) and torch.equal(fresh.hi, norm.hi)


def test_normalizer_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MelNormalizer(4).normalize(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match=r"lack \['max'\]"):
        MelNormalizer(4).fit({"min": torch.zeros(4)})
    with pytest.raises(ValueError, match=r"per band \[4\]"):
        MelNormalizer(4).fit({"min": torch.zeros(5), "max": torch.ones(5)})
    with pytest.raises(ValueError, match="max < min"):
        MelNormalizer(4).fit({"min": torch.ones(4), "max": torch.zeros(4)})
    with pytest.raises(ValueError, match=r"expected mel \[B, 4, T\]"):
        MelNormalizer(4).fit(_stats()).normalize(torch.zeros(1, 3, 2))


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))


def test_ema_copies_before_start_then_averages() -> None:
    net = _net()
    ema = EMA(net, decay=0.9, start=2)
    assert not ema.started and not ema.module.training
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net(torch.randn(4, 3))  # moves BN running stats
    ema.update(net, step=1)  # before start: a copy
    assert torch.equal(ema.module[0].weight, net[0].weight) and not ema.started
    assert torch.equal(ema.module[1].running_mean, net[1].running_mean)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update(net, step=2)
    assert ema.started
    assert torch.allclose(ema.module[0].weight, 0.9 * before + 0.1 * net[0].weight)


def test_ema_state_dict_and_eval_mode() -> None:
    net = _net()
    ema = EMA(net, decay=0.5, start=0)
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    ema.update(net, step=0)
    restored = EMA(_net(), decay=0.5, start=0)
    restored.load_state_dict(ema.state_dict())
    assert restored.started and torch.equal(restored.module[0].weight, ema.module[0].weight)
    restored.train()
    assert not restored.module.training
    assert all(not p.requires_grad for p in restored.parameters())


def test_ema_errors() -> None:
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(_net(), decay=1.0)
    with pytest.raises(ValueError, match="start step must be >= 0"):
        EMA(_net(), start=-1)


def _old_loop_update(ema: EMA, source: nn.Module, step: int) -> None:
    """The per-parameter loop EMA.update replaced (the reference for the numbers)."""
    with torch.no_grad():
        decay = ema.decay if step >= ema.start else 0.0
        for ema_p, p in zip(ema.module.parameters(), source.parameters(), strict=True):
            if decay == 0.0:
                ema_p.copy_(p)
            else:
                ema_p.lerp_(p.to(ema_p.dtype), 1.0 - decay)
        for ema_b, b in zip(ema.module.buffers(), source.buffers(), strict=True):
            ema_b.copy_(b)


def _perturb(net: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
    net(torch.randn(6, 3, generator=gen))  # BN statistics move too


@pytest.mark.parametrize("tensor_step", [False, True])
def test_ema_foreach_matches_the_old_loop_bit_for_bit(tensor_step: bool) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 17), nn.BatchNorm1d(17), nn.Linear(17, 3))
    new, old = EMA(net, decay=0.999, start=3), EMA(net, decay=0.999, start=3)
    for step in range(1, 7):  # steps 1, 2 copy; 3..6 average
        _perturb(net, seed=step)
        new.update(net, step=torch.tensor(step) if tensor_step else step)
        _old_loop_update(old, net, step)
        new_state, old_state = new.module.state_dict(), old.module.state_dict()
        for key, value in old_state.items():
            assert torch.equal(new_state[key], value), f"{key} at step {step}"
    assert int(new.num_updates) == 4 and new.started


def test_ema_tensor_step_reads_nothing_back(monkeypatch) -> None:
    net = _net()
    ema = EMA(net, decay=0.9, start=1)
    calls = []
    for name in ("item", "__int__", "__bool__", "tolist", "cpu"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    ema.update(net, step=torch.tensor(0))
    ema.update(net, step=torch.tensor(5))
    monkeypatch.undo()
    assert calls == []
    assert int(ema.num_updates) == 1  # only the second call averaged


def test_ema_rejects_a_different_module() -> None:
    ema = EMA(_net(), decay=0.9, start=0)
    with pytest.raises(ValueError, match="pass the module the EMA was built from"):
        ema.update(nn.Linear(3, 3), step=1)
