"""HiFi-GAN generator: checkpoint key names, weight-norm folding, strict loading, forward parity."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vocoders.hifigan import HiFiGANGenerator, HiFiGANVocoder, fold_weight_norm

SMALL = dict(
    num_mels=80,
    upsample_rates=(8, 8, 2, 2),
    upsample_kernel_sizes=(16, 16, 4, 4),
    upsample_initial_channel=32,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
)


def _wn(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nn.utils.weight_norm(module)  # the legacy API the checkpoints were saved with


class LegacyResBlock(nn.Module):
    def __init__(self, ch: int, k: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            _wn(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=d * (k - 1) // 2)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            _wn(nn.Conv1d(ch, ch, k, 1, padding=(k - 1) // 2)) for _ in dilations
        )


class LegacyGenerator(nn.Module):
    """Independent reference: weight-normed convs + a functional forward written from FACTS.md."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.conv_pre = _wn(nn.Conv1d(80, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip((8, 8, 2, 2), (16, 16, 4, 4), strict=True)):
            self.ups.append(
                _wn(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), k, u, (k - u) // 2))
            )
            for rk in (3, 7, 11):
                self.resblocks.append(LegacyResBlock(ch // 2 ** (i + 1), rk, (1, 3, 5)))
        self.conv_post = _wn(nn.Conv1d(ch // 16, 1, 7, 1, padding=3))
        for p in self.parameters():  # make weight_g differ from ||weight_v|| so folding matters
            if p.dim() == 3 and p.shape[1:] == (1, 1):
                p.data.uniform_(0.5, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            total = 0
            for block in self.resblocks[3 * i : 3 * i + 3]:
                y = x
                for c1, c2 in zip(block.convs1, block.convs2, strict=True):
                    y = c2(F.leaky_relu(c1(F.leaky_relu(y, 0.1)), 0.1)) + y
                total = total + y
            x = total / 3
        return torch.tanh(self.conv_post(F.leaky_relu(x, 0.01)))


@pytest.fixture
def legacy() -> LegacyGenerator:
    return LegacyGenerator(32).eval()


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "hifigan_config.json"
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()}
    cfg["resblock_dilation_sizes"] = [list(d) for d in SMALL["resblock_dilation_sizes"]]
    path.write_text(
        json.dumps({**cfg, "resblock": "1", "sampling_rate": 22050, "segment_size": 8192})
    )
    return path


def test_legacy_checkpoint_loads_and_matches(tmp_path, legacy, small_config) -> None:
    sd = legacy.state_dict()
    assert "conv_pre.weight_g" in sd and "ups.0.weight_v" in sd
    assert "resblocks.11.convs2.2.weight_g" in sd
    torch.save({"generator": sd}, tmp_path / "g_00000001")
    model = HiFiGANGenerator.from_checkpoint(tmp_path / "g_00000001", config_json=small_config)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    mel = torch.randn(2, 80, 6)
    with torch.no_grad():
        expected = legacy(mel)
        out = model(mel)
    assert out.shape == (2, 1, 256 * 6)
    assert torch.allclose(out, expected, atol=1e-5)
    assert out.abs().max() > 1e-4  # not a trivially silent comparison


def test_bare_folded_and_parametrized_state_dicts_load(tmp_path, legacy, small_config) -> None:
    folded = fold_weight_norm(legacy.state_dict())
    assert not any(k.endswith(("weight_g", "weight_v")) for k in folded)
    torch.save(folded, tmp_path / "bare.pt")  # a bare, already folded state dict
    model = HiFiGANGenerator.from_checkpoint(tmp_path / "bare.pt", config_json=small_config)
    mel = torch.randn(1, 80, 4)
    with torch.no_grad():
        ref = legacy(mel)
        assert torch.allclose(model(mel), ref, atol=1e-5)
    param = HiFiGANGenerator(**SMALL)  # new-style parametrization names
    for module in param.modules():
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            torch.nn.utils.parametrizations.weight_norm(module)
    sd = param.state_dict()
    assert "conv_pre.parametrizations.weight.original0" in sd
    loaded = HiFiGANGenerator(**SMALL)
    loaded.load_checkpoint_state(sd)
    with torch.no_grad():
        assert torch.allclose(loaded(mel), param(mel), atol=1e-5)


def test_config_beside_checkpoint_is_used(tmp_path, legacy, small_config) -> None:
    (tmp_path / "config.json").write_text(small_config.read_text())
    torch.save({"generator": legacy.state_dict()}, tmp_path / "g_1")
    model = HiFiGANGenerator.from_checkpoint(tmp_path / "g_1")  # no config argument
    assert model.conv_pre.weight.shape == (32, 80, 7)


def test_missing_and_mismatched_keys_are_refused(tmp_path, legacy, small_config) -> None:
    sd = legacy.state_dict()
    del sd["resblocks.4.convs1.1.bias"]
    torch.save({"generator": sd}, tmp_path / "g_missing")
    with pytest.raises(ValueError, match=r"g_missing.*1 missing.*resblocks\.4\.convs1\.1\.bias"):
        HiFiGANGenerator.from_checkpoint(tmp_path / "g_missing", config_json=small_config)
    sd = legacy.state_dict()
    sd["conv_post.bias"] = torch.zeros(2)
    sd["extra.weight"] = torch.zeros(1)
    torch.save({"generator": sd}, tmp_path / "g_shape")
    with pytest.raises(ValueError, match=r"unexpected.*extra\.weight.*mismatched.*conv_post\.bias"):
        HiFiGANGenerator.from_checkpoint(tmp_path / "g_shape", config_json=small_config)
    # the V1 config (default) does not fit a small checkpoint: shapes are named
    torch.save({"generator": legacy.state_dict()}, tmp_path / "g_small")
    with pytest.raises(
        ValueError, match=r"conv_pre\.weight: checkpoint \(32, 80, 7\) vs model \(512"
    ):
        HiFiGANGenerator.from_checkpoint(tmp_path / "g_small")


def test_missing_checkpoint_and_bad_options(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope.*g_00935000.*checkpoints/hifigan"):
        HiFiGANGenerator.from_checkpoint(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"resblock type '3'.*\('1', '2'\)"):
        HiFiGANGenerator(resblock="3")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resblock": "1", "num_mels": 80}))
    torch.save({}, tmp_path / "g")
    with pytest.raises(ValueError, match=r"bad\.json lacks \['upsample_rates'"):
        HiFiGANGenerator.from_checkpoint(tmp_path / "g", config_json=bad)


def test_v1_state_dict_names_and_shapes() -> None:
    with torch.device("meta"):
        model = HiFiGANGenerator.from_config_file("configs/vocoder/hifigan_v1.json")
    sd = model.state_dict()
    assert sd["conv_pre.weight"].shape == (512, 80, 7)
    assert sd["ups.0.weight"].shape == (512, 256, 16)
    assert sd["ups.3.weight"].shape == (64, 32, 4)
    assert sd["conv_post.weight"].shape == (1, 32, 7)
    assert sd["resblocks.0.convs1.0.weight"].shape == (256, 256, 3)
    assert sd["resblocks.2.convs2.2.weight"].shape == (256, 256, 11)
    assert sd["resblocks.11.convs1.2.weight"].shape == (32, 32, 11)
    assert "resblocks.12.convs1.0.weight" not in sd
    assert model.resblocks[0].convs1[2].dilation == (5,) and model.resblocks[0].convs1[
        2
    ].padding == (5,)
    assert model.hop_length == 256
    n_params = sum(p.numel() for p in model.parameters())
    assert 13.5e6 < n_params < 14.1e6  # HiFi-GAN V1 has ~13.9 M generator parameters


def test_resblock_type_2_and_vocoder_wrapper(legacy) -> None:
    gen2 = HiFiGANGenerator(
        upsample_initial_channel=16,
        resblock="2",
        resblock_kernel_sizes=(3, 5),
        resblock_dilation_sizes=((1, 3), (1, 3)),
    )
    assert "resblocks.7.convs.1.weight" in gen2.state_dict()
    assert gen2(torch.randn(1, 80, 3)).shape == (1, 1, 768)
    gen = HiFiGANGenerator(**SMALL)
    gen.load_checkpoint_state(legacy.state_dict())
    vocoder = HiFiGANVocoder(gen)
    wav = vocoder(torch.randn(3, 80, 5))
    assert wav.shape == (3, 1280) and wav.abs().max() <= 1.0


def test_load_vocoder_names(tmp_path, legacy, small_config, monkeypatch) -> None:
    from vocoders import GriffinLimVocoder, load_vocoder

    assert isinstance(load_vocoder("griffin-lim"), GriffinLimVocoder)
    assert isinstance(load_vocoder("GriffinLim"), GriffinLimVocoder)
    ckpt = tmp_path / "g_00000002"
    torch.save({"generator": legacy.state_dict()}, ckpt)
    vocoder = load_vocoder(f"hifigan:{ckpt}:{small_config}")
    mel = torch.randn(2, 80, 3)
    with torch.no_grad():
        assert torch.allclose(vocoder(mel), legacy(mel).squeeze(1), atol=1e-5)
    (tmp_path / "config.json").write_text(small_config.read_text())
    assert load_vocoder(str(ckpt))(mel).shape == (2, 768)  # bare path, config beside it
    monkeypatch.chdir(tmp_path)  # no checkpoints/hifigan/ here
    with pytest.raises(FileNotFoundError, match=r"checkpoints/hifigan/g_00935000.*griffin-lim"):
        load_vocoder("hifigan")
    with pytest.raises(ValueError, match=r"Unknown vocoder 'wavenet'.*'griffin-lim'.*'hifigan:"):
        load_vocoder("wavenet")
