"""bench/gan_iteration.py: the bare D + G iteration the benchmarks time, and its FLOP count."""

from __future__ import annotations

import torch

from bench.gan_iteration import GANIteration, gemm_gflops, iteration_flops, reference_form
from lightning_modules.layers import SelfAttention2d

TINY = dict(width=2, batch=2, mel_shape=(16, 32))


def _params(it: GANIteration) -> list[torch.Tensor]:
    return [p.detach().clone() for p in (*it.g.parameters(), *it.d.parameters())]


def test_step_updates_both_networks_and_the_ema() -> None:
    it = GANIteration(**TINY)
    g_before = [p.detach().clone() for p in it.g.parameters()]
    d_before = [p.detach().clone() for p in it.d.parameters()]
    it.step()
    assert any(not torch.equal(a, b) for a, b in zip(g_before, it.g.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, it.d.parameters(), strict=True))
    assert int(it.g_steps) == 1 and int(it.ema.num_updates) == 1  # ema start 0: averaging


def test_flops_are_counted_on_a_reference_copy() -> None:
    it = GANIteration(**TINY)
    before = _params(it)
    flops = iteration_flops(it)
    assert flops > 0
    assert all(torch.equal(a, b) for a, b in zip(before, _params(it), strict=True))  # untouched
    assert all(m.fused for m in it.g.modules() if isinstance(m, SelfAttention2d))
    assert it.g.channels_last is None
    doubled = iteration_flops(GANIteration(**{**TINY, "batch": 4}))
    assert abs(doubled / flops - 2.0) < 0.01  # linear in the batch (gpu_check scales by it)


def test_reference_form_switches_every_fast_path() -> None:
    it = reference_form(GANIteration(**TINY))
    attention = [m for net in (it.g, it.d) for m in net.modules()
                 if isinstance(m, SelfAttention2d)]
    assert len(attention) == 2 and not any(m.fused for m in attention)
    blocks = [*it.g.blocks, *it.d.blocks]
    assert len(blocks) == 8 and not any(b.shortcut_at_low_res for b in blocks)
    assert it.g.channels_last is False and it.d.channels_last is False


def test_gemm_peak_is_measured() -> None:
    assert gemm_gflops(n=128, seconds=0.05) > 0.1
