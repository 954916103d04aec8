"""The encoder probe on generated mels: confusion counts, determinism, mismatches, the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from datamodules.mel import MelParams
from encoders.export import export_from_module
from encoders.resnet import ResNet18Encoder
from evaluation.class_probe import probe_confusion
from foleygan_cli import probe as probe_cli
from lightning_modules.gan import FoleyGANModule
from lightning_modules.generator_loading import GeneratorForSynthesis
from lightning_modules.mel_norm import MelNormalizer
from lightning_modules.sagan import Generator

NAMES = ["A", "B", "C"]
SHAPE = (16, 32)


class _PrototypeGenerator(nn.Module):
    """label c -> prototype[(c + shift) % C] + 0.01 z (a G that draws class c + shift)."""

    def __init__(self, shift: int = 0) -> None:
        super().__init__()
        self.class_names, self.mel_shape, self.z_dim, self.shift = NAMES, SHAPE, 4, shift
        self.prototypes = torch.arange(3.0).view(3, 1, 1).expand(3, *SHAPE) * 10.0

    def generate(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.prototypes[(labels + self.shift) % 3] + 0.01 * z.mean(dim=1).view(-1, 1, 1)


class _MeanEncoder(nn.Module):
    """classify: minus the distance of the mel's mean to each class level (0, 10, 20)."""

    def __init__(self, names: list[str] = NAMES, n_mels: int = 16) -> None:
        super().__init__()
        self.class_names, self.mel_params = names, MelParams(n_mels=n_mels)
        self.levels = nn.Parameter(torch.tensor([0.0, 10.0, 20.0]), requires_grad=False)

    def classify(self, mel: torch.Tensor) -> torch.Tensor:
        return -(mel.mean(dim=(1, 2))[:, None] - self.levels[None]).abs()


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_confusion_counts_what_the_encoder_sees(shift: int) -> None:
    confusion = probe_confusion(_PrototypeGenerator(shift), _MeanEncoder(), n_per_class=5,
                                batch_size=4)
    expected = torch.zeros(3, 3, dtype=torch.long)
    for c in range(3):
        expected[c, (c + shift) % 3] = 5
    assert torch.equal(confusion, expected)


def test_batch_size_does_not_change_the_result_and_seed_is_deterministic() -> None:
    torch.manual_seed(0)
    norm = MelNormalizer(16).fit({"min": torch.full((16,), -5.0), "max": torch.full((16,), 5.0)})
    generator = GeneratorForSynthesis(
        Generator(num_classes=3, z_dim=8, width=8, mel_shape=SHAPE, n_stages=2), norm, NAMES)
    enc = _MeanEncoder()
    means = generator.generate(torch.arange(3).repeat(6), seed=3).mean(dim=(1, 2))
    enc.levels.data = means.quantile(torch.tensor([0.2, 0.5, 0.8]))  # spread the answers
    a = probe_confusion(generator, enc, n_per_class=6, batch_size=5, seed=3)
    b = probe_confusion(generator, enc, n_per_class=6, batch_size=64, seed=3)
    assert torch.equal(a, b) and torch.equal(a.sum(dim=1), torch.full((3,), 6))
    assert int((a.sum(dim=0) > 0).sum()) > 1  # the answers vary, so equality means something


def test_mismatched_classes_or_bands_are_refused() -> None:
    with pytest.raises(ValueError, match=r"draws classes \['A', 'B', 'C'\].*knows \['X'"):
        probe_confusion(_PrototypeGenerator(), _MeanEncoder(names=["X", "Y", "Z"]))
    with pytest.raises(ValueError, match="draws 16-band mels, the encoder expects 80 bands"):
        probe_confusion(_PrototypeGenerator(), _MeanEncoder(n_mels=80))
    with pytest.raises(ValueError, match="n_per_class >= 1"):
        probe_confusion(_PrototypeGenerator(), _MeanEncoder(), n_per_class=0)


def _checkpoint_and_encoder(tmp_path, names=NAMES) -> tuple[str, str]:
    model = FoleyGANModule(num_classes=3, mel_shape=SHAPE, z_dim=8, g_width=8, d_width=8,
                           n_stages=2, embed_dim=16, class_names=NAMES, loss="hinge")
    model.mel_norm.fit({"min": torch.full((16,), -5.0), "max": torch.full((16,), 5.0)})
    with torch.no_grad():  # a "trained" G that differs from its initialisation
        for p in model.generator.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ckpt = tmp_path / "gan.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, ckpt)
    enc = ResNet18Encoder(base_width=2, proj_hidden=8, proj_dim=16)
    owner = SimpleNamespace(encoder=enc, centroids=torch.nn.functional.normalize(
        torch.randn(3, 16), dim=1), class_names=names, mel_params=MelParams(n_mels=16))
    return str(ckpt), str(export_from_module(owner, tmp_path / "encoder.pt"))


def test_cli_prints_table_and_writes_json_consistent_with_confusion(tmp_path, capsys) -> None:
    ckpt, enc = _checkpoint_and_encoder(tmp_path)
    out = tmp_path / "probe" / "probe.json"
    code = probe_cli.main([ckpt, "--encoder", enc, "--n-per-class", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "chance = 1/3 = 0.333" in printed and "untrained" in printed
    payload = json.loads(out.read_text())
    assert payload["class_names"] == NAMES and out.with_suffix(".png").stat().st_size > 0
    for title in ("trained", "untrained"):
        confusion = torch.tensor(payload["confusion"][title])
        assert confusion.sum(dim=1).tolist() == [4, 4, 4]
        assert payload["accuracy"][title] == pytest.approx((confusion.diagonal() / 4).tolist())


def test_cli_explains_missing_files_and_mismatched_encoder(tmp_path, capsys) -> None:
    ckpt, enc = _checkpoint_and_encoder(tmp_path, names=["X", "Y", "Z"])
    assert probe_cli.main([ckpt, "--encoder", enc, "--no-baseline"]) == 2
    assert "use an encoder pretrained on the same dataset" in capsys.readouterr().err
    assert probe_cli.main([ckpt, "--encoder", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err
