"""SAGAN networks: upsampling plan, shapes, attention on odd maps, conditional BN, init
(the speed paths are tested against the reference form in test_sagan_fast_paths.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_modules.layers import ConditionalBatchNorm2d, SelfAttention2d, sn_conv2d
from lightning_modules.sagan import Discriminator, Generator, plan_upsampling


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
