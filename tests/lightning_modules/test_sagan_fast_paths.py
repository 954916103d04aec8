"""The SAGAN networks' speed paths (fused attention, channels-last maps, 1x1 shortcuts at the
lower resolution, spectral norm outside autocast) against the reference form: same state-dict
keys, same outputs, losses and gradients to float tolerance."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from lightning_modules.layers import SelfAttention2d, spectral_norm
from lightning_modules.losses.adversarial import hinge_g
from lightning_modules.losses.contrastive import conditional_contrastive_loss
from lightning_modules.sagan import Discriminator, Generator, use_reference_ops

KEYS = Path(__file__).with_name("sagan_state_keys.json")


def _nets(shape, width=4, n_stages=4, **d_kwargs):
    g = Generator(num_classes=7, z_dim=16, width=width, mel_shape=shape, n_stages=n_stages)
    d = Discriminator(num_classes=7, width=width, mel_shape=shape, n_stages=n_stages, **d_kwargs)
    return g, d


def _reference_copy(net: nn.Module) -> nn.Module:
    """The same weights run the explicit attention on NCHW maps and the 1x1 shortcuts at the
    higher resolution (the networks' original ops)."""
    return use_reference_ops(copy.deepcopy(net))


def test_state_dict_keys_and_shapes_unchanged() -> None:
    g = Generator(num_classes=7, z_dim=16, width=4, mel_shape=(16, 32), n_stages=2)
    d = Discriminator(num_classes=7, width=4, mel_shape=(16, 32), n_stages=2)
    want = json.loads(KEYS.read_text())  # written from the networks before the speed work
    assert {k: list(v.shape) for k, v in g.state_dict().items()} == want["generator"]
    assert {k: list(v.shape) for k, v in d.state_dict().items()} == want["discriminator"]


def _with_attention(net: nn.Module, gamma: float) -> nn.Module:
    with torch.no_grad():
        net.attention.gamma.fill_(gamma)  # 0 at init would hide the attention branch
    return net


def test_fast_paths_match_the_reference_in_eval() -> None:
    torch.manual_seed(0)
    g, d = _nets((80, 86), width=8)
    g, d = _with_attention(g, 0.8).eval(), _with_attention(d, -0.6).eval()
    g_ref, d_ref = _reference_copy(g), _reference_copy(d)
    z, labels = torch.randn(4, 16), torch.tensor([0, 3, 6, 3])
    mel, mel_ref = g(z, labels), g_ref(z, labels)
    assert mel.shape == mel_ref.shape == (4, 80, 86) and mel.is_contiguous()
    assert torch.allclose(mel, mel_ref, atol=1e-5)
    out, out_ref = d(mel_ref, labels), d_ref(mel_ref, labels)
    for key in ("logits", "embed", "proxy"):
        assert torch.allclose(out[key], out_ref[key], rtol=1e-4, atol=1e-4), key
    loss = hinge_g(out["logits"]) + conditional_contrastive_loss(out["embed"], out["proxy"], labels)
    loss_ref = hinge_g(out_ref["logits"]) + conditional_contrastive_loss(
        out_ref["embed"], out_ref["proxy"], labels)
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-5)


def test_fast_paths_match_the_reference_gradients_in_training() -> None:
    torch.manual_seed(1)
    g, d = _nets((80, 86), width=8)
    g, d = _with_attention(g, 0.5), _with_attention(d, 0.7)
    g_ref, d_ref = _reference_copy(g), _reference_copy(d)
    z, labels = torch.randn(4, 16), torch.tensor([1, 2, 5, 1])
    for gen, disc in ((g, d), (g_ref, d_ref)):  # power iterations run alike in both copies
        out = disc(gen(z, labels), labels)
        loss = conditional_contrastive_loss(out["embed"], out["proxy"], labels)
        (hinge_g(out["logits"]) + loss).backward()
    for net, ref in ((g, g_ref), (d, d_ref)):
        # biases in front of a training-mode BN have a zero gradient up to rounding: compare
        # against the network's largest gradient, not the parameter's own
        scale = max(p.grad.abs().max().item() for p in ref.parameters())
        for (name, p), p_ref in zip(net.named_parameters(), ref.parameters(), strict=True):
            assert torch.allclose(p.grad, p_ref.grad, rtol=1e-3, atol=1e-5 * scale), name
        for (name, b), b_ref in zip(net.named_buffers(), ref.buffers(), strict=True):
            assert torch.allclose(b.float(), b_ref.float(), atol=1e-5), name


@pytest.mark.parametrize("setting", [None, True, False])
def test_channels_last_setting_decides_the_layout(setting) -> None:
    g, d = _nets((16, 32), n_stages=2)
    g.channels_last = d.channels_last = setting
    seen = []
    hook = lambda m, i, o: seen.append(o.is_contiguous(memory_format=torch.channels_last))  # noqa: E731
    g.blocks[0].conv1.register_forward_hook(hook)
    d.blocks[1].conv1.register_forward_hook(hook)
    labels = torch.tensor([0, 1])
    d(g(torch.randn(2, 16), labels), labels)
    assert seen == [setting is not False] * 2  # None = channels-last on CPU


@pytest.mark.parametrize("shape", [(5, 43), (8, 6), (3, 3)])
@pytest.mark.parametrize("channels", [2, 16, 64])
def test_fused_attention_matches_explicit(shape, channels) -> None:
    attn = SelfAttention2d(channels)
    with torch.no_grad():
        attn.gamma.fill_(0.9)
    x = torch.randn(2, channels, *shape, requires_grad=True)
    for fused in (True, False):
        attn.fused = fused
        y = attn(x)
        (grad,) = torch.autograd.grad(y.square().sum(), x)
        if fused:
            y_fused, grad_fused = y, grad
    assert torch.allclose(y_fused, y, atol=1e-5)
    assert torch.allclose(grad_fused, grad, atol=1e-4 * grad.abs().max().item())


def test_spectral_norm_is_torchs_with_the_same_numbers() -> None:
    torch.manual_seed(3)
    want = torch_spectral_norm(nn.Conv2d(4, 6, 3, padding=1))
    torch.manual_seed(3)
    got = spectral_norm(nn.Conv2d(4, 6, 3, padding=1))
    assert list(got.state_dict()) == list(want.state_dict())
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(got(x), want(x))  # one power iteration each, same u, v after
    assert torch.equal(got.parametrizations.weight[0]._u, want.parametrizations.weight[0]._u)


def test_spectral_norm_runs_without_autocast_under_autocast(monkeypatch) -> None:
    """CUDA autocast runs torch.mv in bf16, and torch's parametrization then fails in vdot;
    this CPU test makes torch.mv behave that way and checks the layers never see it."""
    real_mv = torch.mv

    def cuda_like_mv(*args, **kwargs):
        out = real_mv(*args, **kwargs)
        return out.bfloat16() if torch.is_autocast_enabled("cpu") else out

    monkeypatch.setattr(torch, "mv", cuda_like_mv)
    torch.manual_seed(0)
    conv = torch_spectral_norm(nn.Conv2d(4, 6, 3, padding=1))
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(RuntimeError, match="dtype"):
        conv(torch.randn(2, 4, 5, 5))  # the failure the wrapper prevents
    g, d = _nets((16, 32), n_stages=2)
    labels = torch.tensor([0, 5])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = d(g(torch.randn(2, 16), labels), labels)
    assert torch.isfinite(out["logits"].float()).all()  # no dtype clash inside the layers
    u = d.blocks[0].conv1.parametrizations.weight[0]._u
    assert u.dtype == torch.float32


@pytest.mark.parametrize("low_res", [True, False])
def test_shortcuts_run_at_the_lower_resolution(low_res) -> None:
    g, d = _nets((16, 32), n_stages=2)
    seen = []
    for block in (g.blocks[0], d.blocks[1]):  # G upsamples by (2, 2), D's second block pools
        block.shortcut_at_low_res = low_res
        block.shortcut.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[2:])))
    labels = torch.tensor([0, 1])
    d(g(torch.randn(2, 16), labels), labels)
    # G's block 0 maps 4 x 8 -> 8 x 16; D's block 1 maps 8 x 16 -> 4 x 8
    assert seen == ([(4, 8), (4, 8)] if low_res else [(8, 16), (8, 16)])
