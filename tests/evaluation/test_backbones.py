"""FAD backbones (VGGish framing, the frozen encoder) and the reference statistics cache."""

from __future__ import annotations

import os
import types

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from datamodules.classes import CLASS_NAMES
from datamodules.mel import LogMelSpectrogram, MelParams
from evaluation.backbones import EncoderBackbone, VGGishBackbone, load_backbone
from evaluation.reference_stats import backbone_identity, list_class_files, reference_stats


@pytest.fixture(scope="module")
def encoder_export(tmp_path_factory) -> str:
    from encoders.export import export_from_module
    from encoders.resnet import ResNet18Encoder

    torch.manual_seed(0)
    encoder = ResNet18Encoder(base_width=4, proj_hidden=16, proj_dim=8).eval()
    module = types.SimpleNamespace(
        encoder=encoder,
        centroids=nn.functional.normalize(torch.randn(7, 8), dim=1),
        class_names=list(CLASS_NAMES),
        mel_params=MelParams(),
    )
    path = tmp_path_factory.mktemp("encoder") / "encoder.pt"
    export_from_module(module, path)
    return str(path)


def test_encoder_backbone_windows_match_direct_features(encoder_export) -> None:
    backbone = load_backbone(f"encoder:{encoder_export}")
    assert isinstance(backbone, EncoderBackbone) and backbone.num_features == 32
    wav = torch.randn(2, 88200) * 0.1
    emb = backbone.embed(wav)
    assert emb.shape == (2 * 7, 32)  # (344 - 86) / 43 + 1 = 7 windows per clip
    mel = LogMelSpectrogram()(wav)
    third = backbone.encoder.features(mel[1:2, :, 2 * 43 : 2 * 43 + 86])
    torch.testing.assert_close(emb[7 + 2], third[0], rtol=1e-4, atol=1e-5)
    assert not backbone.training and not backbone.train().training


def test_encoder_backbone_whole_clips(encoder_export) -> None:
    from encoders.export import load_frozen_encoder

    backbone = EncoderBackbone(load_frozen_encoder(encoder_export), window_frames=None)
    assert backbone.embed(torch.randn(3, 88200) * 0.1).shape == (3, 32)


def test_unknown_and_missing_backbones_explain_the_fix(tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"unknown FAD backbone 'openl3'.*vggish"):
        load_backbone("openl3")
    with pytest.raises(ValueError, match="unknown FAD backbone 'encoder'"):
        load_backbone("encoder")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="make fetch-vggish"):
        load_backbone(f"vggish:{tmp_path / 'none.pth'}")
    with pytest.raises(FileNotFoundError, match="foleygan export-encoder"):
        load_backbone(f"encoder:{tmp_path / 'none.pt'}")


def test_panns_backbone_is_registered_and_explains_missing_weights(tmp_path, monkeypatch) -> None:
    import evaluation.backbones as backbones

    with pytest.raises(ValueError, match=r"unknown FAD backbone 'pann'.*'panns:<path>'"):
        load_backbone("pann")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(backbones, "_REPO_ROOT", tmp_path)  # no default file anywhere
    with pytest.raises(FileNotFoundError, match=r"Cnn14_mAP=0\.431\.pth.*foleygan fetch-panns"):
        load_backbone("panns")
    with pytest.raises(FileNotFoundError, match=r"other\.pth"):
        load_backbone(f"panns:{tmp_path / 'other.pth'}")


def test_vggish_backbone_uses_official_framing(tmp_path) -> None:
    import encoders.vggish as vggish_mod

    net = vggish_mod.VGGish().eval()
    weights = tmp_path / "vggish.pth"
    torch.save(net.state_dict(), weights)
    backbone = load_backbone(f"vggish:{weights}")
    assert isinstance(backbone, VGGishBackbone) and backbone.num_features == 128
    wav = torch.rand(2, 88200) - 0.5
    emb = backbone.embed(wav)
    assert emb.shape == (20, 128)  # 10 windows of 16,000 samples, hop 8,000, per 4 s clip
    examples = torch.as_tensor(vggish_mod.waveform_to_examples(wav[1], sample_rate=22050))
    with torch.no_grad():
        direct = net(examples.float())
    torch.testing.assert_close(emb[10:], direct, rtol=1e-4, atol=1e-4)


class MeanStd(nn.Module):
    """wav [B, N] -> 4 windows per clip -> [mean, std, max]."""

    num_features = 3

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale))

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * 4, 3]
        w = wav.reshape(wav.shape[0] * 4, -1)
        return torch.stack([w.mean(1), w.std(1), w.amax(1)], dim=1) * self.scale


def _write_set(root, per_class: int = 2, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASS_NAMES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            wav = rng.normal(scale=0.05 * (label + 1), size=88200).astype(np.float32)
            sf.write(str(root / name / f"{i}.wav"), wav, 22050, subtype="PCM_16")


def test_reference_stats_cached_and_recomputed_on_change(tmp_path) -> None:
    ref, cache = tmp_path / "ref", tmp_path / "cache"
    _write_set(ref)
    first = reference_stats(ref, MeanStd(), cache_dir=cache)
    assert not first["cached"] and first["count"].tolist() == [8] * 7
    again = reference_stats(ref, MeanStd(), cache_dir=cache)
    assert again["cached"] and again["key"] == first["key"]
    torch.testing.assert_close(again["sigma"], first["sigma"])
    # a changed file (new content and mtime) gives another key and new statistics
    target = ref / "Rain" / "0.wav"
    sf.write(str(target), np.ones(88200, dtype=np.float32) * 0.5, 22050, subtype="PCM_16")
    os.utime(target, ns=(1, 1))
    changed = reference_stats(ref, MeanStd(), cache_dir=cache)
    assert not changed["cached"] and changed["key"] != first["key"]
    assert not torch.allclose(changed["mu"][5], first["mu"][5])
    # other backbone weights: another key
    other = reference_stats(ref, MeanStd(scale=2.0), cache_dir=cache)
    assert not other["cached"]
    torch.testing.assert_close(other["mu"], 2 * changed["mu"])
    assert len(list(cache.glob("reference_*.pt"))) == 3


def test_reference_stats_equal_numpy_and_accept_item_lists(tmp_path) -> None:
    _write_set(tmp_path / "ref", per_class=3)
    items = list_class_files(tmp_path / "ref")
    stats = reference_stats(items[:6], MeanStd(), cache_dir=tmp_path / "cache", num_classes=7)
    assert stats["count"].tolist() == [12, 12, 0, 0, 0, 0, 0]
    # without num_classes, items give largest label + 1 rows (not the 7-row cache file)
    inferred = reference_stats(items[:6], MeanStd(), cache_dir=tmp_path / "cache")
    assert inferred["count"].tolist() == [12, 12] and not inferred["cached"]
    wav = torch.stack([torch.from_numpy(sf.read(str(p), dtype="float32")[0]) for p, _ in items[:3]])
    emb = MeanStd().embed(wav).double().numpy()
    np.testing.assert_allclose(stats["mu"][0].numpy(), emb.mean(0), rtol=1e-9)
    np.testing.assert_allclose(stats["sigma"][0].numpy(), np.cov(emb, rowvar=False), rtol=1e-7)
    with pytest.raises(ValueError, match="holds no files"):
        reference_stats([], MeanStd(), cache_dir=tmp_path / "cache")


def test_backbone_identity_tracks_weights() -> None:
    a, b = MeanStd(1.0), MeanStd(1.0)
    assert backbone_identity(a) == backbone_identity(b)
    assert backbone_identity(MeanStd(3.0)) != backbone_identity(a)
