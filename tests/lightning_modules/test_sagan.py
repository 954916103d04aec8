"""SAGAN networks: upsampling plan, shapes, attention on odd maps, conditional BN, init; the fast
paths (fused attention, channels-last maps) against the reference form."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from lightning_modules.layers import (
    ConditionalBatchNorm2d,
    SelfAttention2d,
    sn_conv2d,
    spectral_norm,
)
from lightning_modules.losses.adversarial import hinge_g
from lightning_modules.losses.contrastive import conditional_contrastive_loss
from lightning_modules.sagan import Discriminator, GenBlock, Generator, plan_upsampling
from lightning_modules.sagan_d import DiscBlock


def test_plan_for_the_report_shape() -> None:
    bottom, factors = plan_upsampling((80, 344), 4)
    assert bottom == (5, 43)
    assert factors == [(2, 2), (2, 2), (2, 2), (2, 1)]


@pytest.mark.parametrize(
    ("shape", "stages"), [((80, 86), 4), ((80, 344), 2), ((64, 64), 3), ((16, 32), 2)]
)
def test_plan_multiplies_back(shape, stages) -> None:
    bottom, factors = plan_upsampling(shape, stages)
    h, w = bottom
    for fh, fw in factors:
        assert (fh, fw) != (1, 1)
        h, w = h * fh, w * fw
    assert (h, w) == shape


@pytest.mark.parametrize(("shape", "stages"), [((81, 343), 1), ((80, 344), 5), ((12, 20), 3)])
def test_plan_errors(shape, stages) -> None:
    with pytest.raises(ValueError, match="cannot be upsampled"):
        plan_upsampling(shape, stages)


def test_plan_rejects_bad_stage_count() -> None:
    with pytest.raises(ValueError, match="n_stages >= 1"):
        plan_upsampling((80, 344), 0)


def _nets(shape, width=4, n_stages=4, **d_kwargs):
    g = Generator(num_classes=7, z_dim=16, width=width, mel_shape=shape, n_stages=n_stages)
    d = Discriminator(num_classes=7, width=width, mel_shape=shape, n_stages=n_stages, **d_kwargs)
    return g, d


@pytest.mark.parametrize("shape", [(80, 344), (80, 86)])
def test_shapes_and_range(shape) -> None:
    g, d = _nets(shape)
    labels = torch.tensor([0, 6])
    mel = g(torch.randn(2, 16), labels)  # BN in training needs more than one value per channel
    assert mel.shape == (2, *shape)
    assert mel.abs().max() <= 1.0
    out = d(mel, labels)
    assert out["logits"].shape == (2,)
    assert out["embed"].shape == (2, 128) and out["proxy"].shape == (2, 128)


def test_discriminator_rejects_wrong_mel_shape() -> None:
    _, d = _nets((80, 86))
    with pytest.raises(ValueError, match=r"expects mel \[B, 80, 86\]"):
        d(torch.zeros(2, 80, 344), torch.tensor([0, 1]))


def test_generator_rejects_wrong_z() -> None:
    g, _ = _nets((80, 86))
    with pytest.raises(ValueError, match=r"z must be \[B, 16\]"):
        g(torch.zeros(2, 8), torch.tensor([0, 1]))


def test_attention_stage_validated() -> None:
    with pytest.raises(ValueError, match="expected 1..4"):
        Generator(width=8, attention_stage=5)
    with pytest.raises(ValueError, match="expected 1..4"):
        Discriminator(width=8, attention_stage=0)


def test_projection_term_depends_on_labels() -> None:
    torch.manual_seed(0)
    _, d = _nets((16, 32), n_stages=2, projection=True)
    d.eval()  # no power iteration between the calls
    x = torch.randn(1, 16, 32)
    assert d(x, torch.tensor([0]))["logits"] != d(x, torch.tensor([1]))["logits"]
    _, plain = _nets((16, 32), n_stages=2, projection=False)
    plain.eval()
    assert plain(x, torch.tensor([0]))["logits"] == plain(x, torch.tensor([1]))["logits"]


def test_generator_depends_on_label() -> None:
    g, _ = _nets((16, 32), n_stages=2)
    g.eval()
    z = torch.randn(1, 16)
    assert not torch.allclose(g(z, torch.tensor([0])), g(z, torch.tensor([3])))


@pytest.mark.parametrize("shape", [(5, 43), (10, 86), (4, 6)])
def test_attention_gamma_zero_is_identity(shape) -> None:
    attn = SelfAttention2d(16)
    x = torch.randn(2, 16, *shape)
    assert torch.equal(attn(x), x)


def test_attention_on_odd_map_matches_direct_softmax() -> None:
    attn = SelfAttention2d(16).eval()
    with torch.no_grad():
        attn.gamma.fill_(0.7)
    x = torch.randn(2, 16, 5, 43)
    got = attn(x)
    q = attn.query(x).flatten(2)[0]  # [2, 215], no pooling on odd maps
    k = attn.key(x).flatten(2)[0]
    v = attn.value(x).flatten(2)[0]
    want = torch.empty(8, 215)
    for p in range(215):
        weights = torch.softmax(q[:, p] @ k, dim=0)  # over all 215 positions
        want[:, p] = v @ weights
    o = attn.out(want.view(1, 8, 5, 43))
    assert torch.allclose(got[0], x[0] + 0.7 * o[0], atol=1e-5)


def test_attention_pools_keys_on_even_maps() -> None:
    attn = SelfAttention2d(16)
    seen = []
    attn.key.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    assert attn(torch.randn(1, 16, 8, 6)).shape == (1, 16, 8, 6)
    assert seen == [torch.Size([1, 2, 8, 6])]


def test_attention_needs_two_channels() -> None:
    with pytest.raises(ValueError, match="at least 2 channels"):
        SelfAttention2d(1)
    assert SelfAttention2d(4)(torch.randn(1, 4, 5, 43)).shape == (1, 4, 5, 43)


def test_conditional_bn_matches_formula() -> None:
    cbn = ConditionalBatchNorm2d(3, num_classes=4)
    x = torch.randn(5, 3, 2, 2)
    labels = torch.tensor([0, 1, 2, 3, 1])
    onehot = nn.functional.one_hot(labels, 4).float()
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + 1e-5)
    got = cbn(x, labels)  # first training call: spectral norm does one power iteration first
    gain = 1 + cbn.gain(onehot)
    bias = cbn.bias(onehot)
    want = normed * gain[:, :, None, None] + bias[:, :, None, None]
    cbn.eval()  # eval: no power iteration, so gain/bias above and in forward agree
    assert torch.allclose(got, want, atol=1e-4)


def test_spectral_norm_bounds_sigma() -> None:
    conv = sn_conv2d(4, 6)
    for _ in range(30):
        conv(torch.randn(1, 4, 3, 3))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


# -- the fast paths (fused attention, channels-last maps) against the reference form ----------
KEYS = Path(__file__).with_name("sagan_state_keys.json")


def _reference_copy(net: nn.Module) -> nn.Module:
    """The same weights run the explicit attention on NCHW maps and the 1x1 shortcuts at the
    higher resolution (the networks' original ops)."""
    ref = copy.deepcopy(net)
    ref.channels_last = False
    for module in ref.modules():
        if isinstance(module, SelfAttention2d):
            module.fused = False
        if isinstance(module, (GenBlock, DiscBlock)):
            module.shortcut_at_low_res = False
    return ref


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
