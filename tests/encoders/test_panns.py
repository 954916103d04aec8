"""PANNs CNN14: the checkpoint's names and shapes, the front end, the head, strict loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from encoders.panns import PANNS_URL, Cnn14, _read_checkpoint
from evaluation.backbones import PANNsBackbone, load_backbone

# Published layout of Cnn14_mAP=0.431.pth (qiuqiangkong/audioset_tagging_cnn, torchlibrosa).
PUBLISHED_SHAPES = {
    "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
    "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
    "logmel_extractor.melW": (513, 64),
    "bn0.weight": (64,),
    "bn0.running_var": (64,),
    "conv_block1.conv1.weight": (64, 1, 3, 3),
    "conv_block1.bn1.running_mean": (64,),
    "conv_block2.conv2.weight": (128, 128, 3, 3),
    "conv_block5.conv1.weight": (1024, 512, 3, 3),
    "conv_block6.conv2.weight": (2048, 2048, 3, 3),
    "conv_block6.bn2.bias": (2048,),
    "fc1.weight": (2048, 2048),
    "fc1.bias": (2048,),
    "fc_audioset.weight": (527, 2048),
    "fc_audioset.bias": (527,),
}


@pytest.fixture(scope="module")
def model() -> Cnn14:
    torch.manual_seed(0)
    net = Cnn14().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so bn0 and the blocks matter
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
    return net


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("panns") / "Cnn14_mAP=0.431.pth"
    torch.save({"iteration": 0, "model": model.state_dict()}, path)
    return path


def test_state_dict_names_and_shapes_are_the_checkpoints(model) -> None:
    state = model.state_dict()
    for key, shape in PUBLISHED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    blocks = [k for k in state if k.startswith("conv_block")]
    assert len(blocks) == 6 * 12  # conv1, conv2 and two BatchNorms of 5 entries per block
    assert len(state) == 3 + 5 + 72 + 4


def test_front_end_is_the_log_mel_of_a_centred_stft(model) -> None:
    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1)) * 0.1
    spec = torch.stft(
        wav.double(),
        1024,
        320,
        window=torch.hann_window(1024, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )  # [B, 513, frames]
    power = spec.abs().pow(2).transpose(1, 2)
    mel = power @ model.logmel_extractor.melW.double()
    expected = 10.0 * torch.log10(mel.clamp(min=1e-10))
    got = model.logmel_extractor(model.spectrogram_extractor(wav))  # [B, 1, frames, 64]
    assert got.shape == (2, 1, 16000 // 320 + 1, 64)
    torch.testing.assert_close(got[:, 0].double(), expected, atol=2e-3, rtol=0)


def test_head_bn0_pooling_and_embedding_follow_cnn14(model) -> None:
    seen = {}
    hooks = [
        model.logmel_extractor.register_forward_hook(lambda m, i, o: seen.update(logmel=o)),
        model.conv_block1.register_forward_hook(lambda m, i, o: seen.update(block1_in=i[0])),
        model.conv_block6.register_forward_hook(lambda m, i, o: seen.update(block6=o)),
    ]
    wav = torch.randn(2, 32000) * 0.1
    with torch.no_grad():
        out = model(wav)
    for hook in hooks:
        hook.remove()
    bn = model.bn0  # normalises each mel bin (the last axis of [B, 1, T, 64])
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    normed = (seen["logmel"] - bn.running_mean) * scale + bn.bias
    torch.testing.assert_close(seen["block1_in"], normed, rtol=1e-4, atol=1e-4)
    assert seen["block6"].shape == (2, 2048, 101 // 32, 2)  # five 2 x 2 pools, then 1 x 1
    pooled = seen["block6"].mean(dim=3)
    head = torch.relu(model.fc1(pooled.amax(dim=2) + pooled.mean(dim=2)))
    torch.testing.assert_close(out, head)
    assert out.shape == (2, 2048) and bool((out >= 0).all())
    assert model.tag(wav).shape == (2, 527)


def test_backbone_loads_the_file_and_resamples_once(model, weights_file) -> None:
    backbone = load_backbone(f"panns:{weights_file}")
    assert isinstance(backbone, PANNsBackbone) and backbone.num_features == 2048
    assert not backbone.training and not backbone.train().training
    wav = torch.randn(2, 22050) * 0.1  # 1 s at 22,050 Hz
    emb = backbone.embed(wav)
    assert emb.shape == (2, 2048)  # one embedding per clip
    with torch.no_grad():
        expected = model(AF.resample(wav, 22050, 32000))
    torch.testing.assert_close(emb, expected, rtol=1e-4, atol=1e-5)


def test_wrong_keys_and_shapes_are_named(model, tmp_path) -> None:
    fresh = Cnn14()
    state = dict(model.state_dict())
    state["fc.weight"] = state.pop("fc1.weight")
    with pytest.raises(ValueError, match=r"missing \['fc1.weight'\], unexpected \['fc.weight'\]"):
        fresh.load_checked(state, source="x.pth")
    state = dict(model.state_dict())
    state["fc_audioset.weight"] = torch.zeros(10, 2048)
    with pytest.raises(ValueError, match=r"fc_audioset.weight: file \(10, 2048\).*Cnn14_mAP"):
        fresh.load_checked(state)
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"fc.weight": torch.zeros(2)}}, bad)
    with pytest.raises(ValueError, match=r"bad\.pth do not match.*unexpected \['fc.weight'\]"):
        load_backbone(f"panns:{bad}")
    with pytest.raises(FileNotFoundError, match="fetch-panns"):
        load_backbone(f"panns:{tmp_path / 'none.pth'}")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"(?s)Could not read PANNs weights.*fetch-panns --force"):
        Cnn14.from_checkpoint(tmp_path / "junk.pth")


def test_old_checkpoints_without_batch_counters_load(model) -> None:
    state = {k: v for k, v in model.state_dict().items() if "num_batches_tracked" not in k}
    fresh = Cnn14()
    fresh.load_checked(state)
    torch.testing.assert_close(fresh.fc1.weight, model.fc1.weight)


def test_numpy_training_state_beside_the_weights_is_read_safely(tmp_path) -> None:
    path = tmp_path / "with_sampler.pth"
    sampler = {"indexes": np.arange(5), "pointer": np.int64(3)}
    torch.save({"iteration": 1, "model": {"a": torch.ones(2)}, "sampler": sampler}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # torch's default refuses numpy objects
    assert list(_read_checkpoint(path)) == ["a"]
    assert "zenodo.org/record/3987831" in PANNS_URL


def test_fetch_panns_downloads_verifies_and_renames(weights_file, tmp_path, capsys) -> None:
    from foleygan_cli import fetch_panns

    dest = tmp_path / "checkpoints" / "panns" / "Cnn14_mAP=0.431.pth"
    assert fetch_panns.main(["--dest", str(dest), "--url", weights_file.as_uri()]) == 0
    assert dest.read_bytes() == weights_file.read_bytes()
    assert not list(dest.parent.glob("*.download*"))  # nothing left beside it
    out = capsys.readouterr().out
    assert str(dest) in out and "sha256" in out
    assert fetch_panns.main(["--dest", str(dest), "--sha256", "0" * 64]) == 1  # present: checked
    assert "expected 0000" in capsys.readouterr().err and not dest.exists()
    assert (dest.parent / (dest.name + ".rejected")).is_file()


def test_fetch_panns_refuses_a_file_that_is_not_cnn14(tmp_path, capsys) -> None:
    from foleygan_cli import fetch_panns

    page = tmp_path / "page.html"
    page.write_text("<html>rate limited</html>")
    dest = tmp_path / "out" / "Cnn14_mAP=0.431.pth"
    assert fetch_panns.main(["--dest", str(dest), "--url", page.as_uri()]) == 1
    err = capsys.readouterr().err
    assert "does not load as PANNs CNN14" in err and "by hand" in err and str(dest) in err
    assert not dest.exists()


def test_fetch_panns_offline_says_where_to_put_the_file(tmp_path, capsys) -> None:
    import socket

    from foleygan_cli import fetch_panns

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "Cnn14_mAP=0.431.pth"
    url = f"http://127.0.0.1:{port}/Cnn14_mAP%3D0.431.pth"
    assert fetch_panns.main(["--dest", str(dest), "--url", url]) == 1
    err = capsys.readouterr().err
    assert url in err and f"put it at {dest}" in err and "foleygan fetch-panns" in err
    assert fetch_panns.PANNS_URL.startswith("https://zenodo.org/record/3987831/")
