"""VGGish: example features against references, strict torchvggish loading, embedding shape."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from encoders.vggish import VGGish, waveform_to_examples


def _numpy_examples(clip: np.ndarray) -> np.ndarray:
    """Direct NumPy transcription of the official framing + TensorFlow mel_features formulas."""
    x = clip.astype(np.float64) / max(0.1, float(clip.max()))
    n_windows = (len(x) - 16000) // 8000 + 1
    hz_to_mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)  # noqa: E731
    bins_mel = hz_to_mel(np.linspace(0, 8000, 257))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)
    weights = np.zeros((257, 64))
    for band in range(64):
        lo, mid, hi = edges[band : band + 3]
        for b in range(1, 257):  # the DC bin stays 0
            weights[b, band] = max(
                0.0, min((bins_mel[b] - lo) / (mid - lo), (hi - bins_mel[b]) / (hi - mid))
            )
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    out = []
    for w in range(n_windows):
        window = x[8000 * w : 8000 * w + 16000]
        frames = np.stack(
            [window[160 * i : 160 * i + 400] for i in range(1 + (16000 - 400) // 160)]
        )
        spec = np.abs(np.fft.rfft(frames * hann, 512))
        out.append(np.log(spec @ weights + 0.01)[:96])
    return np.stack(out)[:, None]


def _clip(n: int = 88200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 22050
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1 < 0.5) + 0.05 * rng.standard_normal(n)
    x[1000] = -0.95  # a large negative peak: scaling uses the positive maximum
    return x.astype(np.float32)


def test_examples_match_numpy_reference() -> None:
    clip = _clip()
    mine = waveform_to_examples(clip)
    assert mine.shape == (10, 1, 96, 64) and mine.dtype == torch.float32
    ref = _numpy_examples(clip)
    assert np.abs(mine.numpy() - ref).max() < 1e-4


def test_examples_match_torchvggish_for_one_window() -> None:
    vggish_input = pytest.importorskip(
        "torchvggish.vggish_input",
        reason="test-only reference: pip install torchvggish==0.2 resampy",
    )
    window = _clip(16000, seed=1).astype(np.float64)
    ref = vggish_input.waveform_to_examples(window / max(0.1, window.max()), 16000)
    mine = waveform_to_examples(torch.from_numpy(window), sample_rate=16000)
    assert ref.shape == mine.shape == (1, 1, 96, 64)
    assert (ref.detach().float() - mine).abs().max() < 1e-4


def test_framing_counts_scaling_and_batches() -> None:
    clip = torch.from_numpy(_clip())
    assert waveform_to_examples(clip[:87999]).shape[0] == 9  # the partial 10th window is dropped
    assert waveform_to_examples(clip[:16000]).shape[0] == 1
    with pytest.raises(ValueError, match="at least 16000 samples.*got 15999"):
        waveform_to_examples(clip[:15999])
    loud = waveform_to_examples(clip)
    assert torch.allclose(waveform_to_examples(clip * 2.0), loud, atol=1e-4)  # peak-normalised
    quiet = clip * (0.05 / clip.max())  # positive peak below 0.1: divided by 0.1, not normalised
    assert not torch.allclose(waveform_to_examples(quiet), loud, atol=1e-2)
    batch = waveform_to_examples(torch.stack([clip, quiet]))
    assert batch.shape == (20, 1, 96, 64) and torch.allclose(batch[:10], loud)
    resampled = waveform_to_examples(clip, sample_rate=22050, resample=True)  # non-official
    assert resampled.shape[0] == (64000 - 16000) // 8000 + 1


@pytest.fixture(scope="module")
def reference_net():
    torchvggish = pytest.importorskip(
        "torchvggish.torchvggish", reason="pip install torchvggish==0.2"
    )
    torch.manual_seed(0)
    return torchvggish.VGG(torchvggish.make_layers(), postprocess=False).eval()


def _torchvggish_layout() -> dict[str, tuple[int, ...]]:
    shapes = {}
    convs = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    for i, (c_out, c_in) in convs.items():
        shapes[f"features.{i}.weight"], shapes[f"features.{i}.bias"] = (c_out, c_in, 3, 3), (c_out,)
    for i, (n_out, n_in) in {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}.items():
        shapes[f"embeddings.{i}.weight"], shapes[f"embeddings.{i}.bias"] = (n_out, n_in), (n_out,)
    return shapes


def test_state_dict_layout_is_torchvggish() -> None:
    with torch.device("meta"):
        sd = VGGish().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == _torchvggish_layout()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A torchvggish-layout state dict with random weights, written once (290 MB)."""
    gen = torch.Generator().manual_seed(0)
    sd = {
        k: torch.randn(shape, generator=gen) / (np.prod(shape[1:]) ** 0.5 if len(shape) > 1 else 10)
        for k, shape in _torchvggish_layout().items()
    }
    path = tmp_path_factory.mktemp("vggish") / "vggish-random.pth"
    torch.save(sd, path)
    return path


def test_weights_file_loads_and_embeds_pre_relu(weights_file) -> None:
    model = VGGish.from_state_dict_file(weights_file)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    bias = torch.load(weights_file, weights_only=True)["embeddings.4.bias"]
    assert torch.equal(model.embeddings[4].bias, bias)
    clip = torch.from_numpy(_clip())
    examples = waveform_to_examples(clip)
    embed = model.embed(clip[None])
    assert examples.shape == (10, 1, 96, 64) and embed.shape == (10, 128)
    assert (embed < 0).any() and (embed > 0).any()  # pre-ReLU
    assert torch.allclose(model(examples), embed)


def test_network_matches_torchvggish(tmp_path, reference_net) -> None:
    path = tmp_path / "vggish-10086976.pth"
    torch.save(reference_net.state_dict(), path)
    model = VGGish.from_state_dict_file(path)
    examples = waveform_to_examples(_clip())
    with torch.no_grad():
        embed, ref = model(examples), reference_net(examples)  # torchvggish ends with a ReLU
    assert (embed < 0).any()
    assert torch.allclose(torch.relu(embed), ref, atol=1e-5)


def test_bad_files_are_refused(tmp_path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"nothere\.pth.*make fetch-vggish.*vggish-10086976"
    ):
        VGGish.from_state_dict_file(tmp_path / "nothere.pth")
    pca = tmp_path / "vggish_pca_params-970ea276.pth"
    torch.save({"pca_eigen_vectors": torch.zeros(128, 128), "pca_means": torch.zeros(128)}, pca)
    with pytest.raises(ValueError, match="PCA parameter file"):
        VGGish.from_state_dict_file(pca)
    with torch.device("meta"):
        sd = VGGish().state_dict()
    sd = {k: torch.zeros(v.shape) for k, v in sd.items() if not k.startswith("embeddings")}
    with torch.device("meta"):
        model = VGGish()
    with pytest.raises(ValueError, match=r"missing \['embeddings\.0\.weight'"):
        model.load_checked(sd)
    sd["features.0.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(ValueError, match=r"features\.0\.weight: file \(64, 3, 3, 3\) vs model"):
        model.load_checked(sd)
    with pytest.raises(ValueError, match=r"expects examples \[N, 1, 96, 64\]"):
        model(torch.zeros(2, 96, 64))


def test_features_output_is_permuted_channels_last() -> None:
    model = VGGish().eval()
    x = torch.randn(2, 1, 96, 64)
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (2, 512, 6, 4)
        manual = model.embeddings(feats.permute(0, 2, 3, 1).reshape(2, -1))
        assert torch.allclose(model(x), manual)
        assert not torch.allclose(model(x), model.embeddings(feats.reshape(2, -1)), atol=1e-6)
    assert isinstance(model.embeddings[-1], nn.Linear)


def _fake_fetch(source: Path, calls: list):
    def fetch(url, dest, sha256=None):
        calls.append((url, Path(dest), sha256))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return Path(dest)

    return fetch


def test_fetch_vggish_verifies_hash_prefix_and_loading(tmp_path, weights_file, monkeypatch, capsys):
    from datamodules import download
    from foleygan_cli import fetch_vggish

    digest = download.sha256_of(weights_file)
    calls: list = []
    monkeypatch.setattr(download, "fetch", _fake_fetch(weights_file, calls))
    dest = tmp_path / "ckpt" / "vggish.pth"
    good = f"https://example.invalid/v0.1/vggish-{digest[:8]}.pth"
    assert fetch_vggish.main(["--dest", str(dest), "--url", good]) == 0
    assert calls == [(good, dest, None)] and "ready" in capsys.readouterr().out
    assert fetch_vggish.main(["--dest", str(dest), "--url", good]) == 0  # present: verified only
    assert len(calls) == 1
    bad = "https://example.invalid/v0.1/vggish-00000000.pth"
    assert fetch_vggish.main(["--dest", str(dest), "--url", bad, "--force"]) == 1
    err = capsys.readouterr().err
    assert "promises 00000000" in err and "vggish.pth.rejected" in err and bad in err
    assert not dest.exists() and dest.with_name("vggish.pth.rejected").exists()
    assert fetch_vggish.expected_sha256_prefix(fetch_vggish.VGGISH_URL) == "10086976"


def test_fetch_vggish_offline_message(tmp_path, monkeypatch, capsys) -> None:
    from datamodules import download
    from foleygan_cli import fetch_vggish

    def offline(url, dest, sha256=None):
        raise download.DownloadError(f"could not download {url} to {dest}: no network")

    monkeypatch.setattr(download, "fetch", offline)
    dest = tmp_path / "vggish-10086976.pth"
    assert fetch_vggish.main(["--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "no network" in err and "by hand" in err
    assert fetch_vggish.VGGISH_URL in err and str(dest) in err
