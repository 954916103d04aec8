"""ResNet18Encoder: shapes, normalisation, the ResNet18 layout, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from encoders.resnet import MEL_CENTER, MEL_SCALE, BasicBlock, ResNet18Encoder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("frames", [344, 86, 32])
def test_shapes_and_unit_norm(frames: int) -> None:
    net = ResNet18Encoder(base_width=8, proj_hidden=32, proj_dim=16).eval()
    mel = torch.randn(3, 80, frames) * 3 - 5
    h = net.features(mel)
    z = net(mel)
    assert h.shape == (3, 64)
    assert z.shape == (3, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)


def test_default_widths_are_resnet18() -> None:
    net = ResNet18Encoder()
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    assert [b.conv2.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert net.stem[0].kernel_size == (7, 7) and net.stem[0].stride == (2, 2)
    assert net.stem[0].in_channels == 1
    assert isinstance(net.stem[3], nn.MaxPool2d)
    assert net.num_features == 512
    assert net.head[0].in_features == 512 and net.head[2].out_features == 128
    # torchvision's resnet18 backbone (no fc) has 11,176,512 parameters with 3 input channels;
    # one input channel removes 2 * 64 * 7 * 7 of them.
    backbone = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("head"))
    assert backbone == 11_176_512 - 2 * 64 * 49


def test_channel_dim_accepted_and_equivalent() -> None:
    net = ResNet18Encoder(base_width=8, proj_hidden=16, proj_dim=8).eval()
    mel = torch.randn(2, 80, 40)
    assert torch.equal(net(mel), net(mel.unsqueeze(1)))


def test_fixed_input_affine() -> None:
    net = ResNet18Encoder(base_width=4, proj_hidden=8, proj_dim=4)
    mel = torch.full((1, 80, 32), -11.5129)
    assert torch.allclose(net._as_image(mel), (mel.unsqueeze(1) - MEL_CENTER) / MEL_SCALE)


def test_samples_are_independent_in_eval() -> None:
    net = ResNet18Encoder(base_width=8, proj_hidden=16, proj_dim=8).eval()
    mel = torch.randn(4, 80, 48)
    together = net(mel)
    alone = torch.cat([net(mel[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_gradients_reach_the_stem() -> None:
    net = ResNet18Encoder(base_width=4, proj_hidden=8, proj_dim=4)
    net(torch.randn(4, 80, 32)).sum().backward()
    assert net.stem[0].weight.grad is not None
    assert net.stem[0].weight.grad.abs().sum() > 0


def test_bad_input_shape() -> None:
    net = ResNet18Encoder(base_width=4, proj_hidden=8, proj_dim=4)
    with pytest.raises(ValueError, match=r"expects mel \[B, n_mels, T\].*mel.flatten\(0, 1\)"):
        net(torch.randn(2, 2, 80, 32))
    with pytest.raises(ValueError, match="got shape \\(80, 32\\)"):
        net(torch.randn(80, 32))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="base_width must be >= 1, got 0"):
        ResNet18Encoder(base_width=0)


def test_arch_round_trip() -> None:
    net = ResNet18Encoder(base_width=8, proj_hidden=24, proj_dim=12)
    clone = ResNet18Encoder(**net.arch())
    clone.load_state_dict(net.state_dict())
    mel = torch.randn(2, 80, 32)
    assert torch.equal(net.eval()(mel), clone.eval()(mel))
