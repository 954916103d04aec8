"""Frozen-encoder export: round trips, mismatch refusal, file errors, frozen behaviour, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from conftest import make_cpu_trainer
from datamodules.mel import MelParams
from encoders.export import (
    FORMAT,
    EncoderMismatchError,
    FrozenEncoder,
    export_from_module,
    load_frozen_encoder,
)
from encoders.probe import centroid_logits, centroids_from_sums, class_sums
from foleygan_cli.export_encoder import export_checkpoint
from foleygan_cli.export_encoder import main as export_main
from lightning_modules.supcon import SupConEncoderModule

TINY = {"base_width": 4, "proj_hidden": 16, "proj_dim": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def _batches(views: int) -> list[dict]:
    labels = torch.arange(14) % 7
    mel = torch.randn(14, 80, 32) - 5 + labels[:, None, None]
    if views:
        mel = mel[:, None].repeat(1, views, 1, 1) + 0.1 * torch.randn(14, views, 80, 32)
    return [{"mel": mel, "label": labels}]


class _TinyData(pl.LightningDataModule):
    """Stands in for FoleyDataModule: dict batches and a non-default mel_params."""

    def __init__(self, mel_params: MelParams) -> None:
        super().__init__()
        self.mel_params = mel_params
        self.train_batches = _batches(views=2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_batches, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_batches(views=0), batch_size=None)


def _trained_module(tmp_path: Path, mel_params: MelParams | None = None) -> tuple:
    module = SupConEncoderModule(**TINY, export_path=str(tmp_path / "auto.pt"))
    trainer = make_cpu_trainer(max_epochs=1)
    data = _TinyData(mel_params or MelParams())
    trainer.fit(module, datamodule=data)
    ckpt = tmp_path / "enc.ckpt"
    trainer.save_checkpoint(ckpt)
    return module, ckpt, data


def test_module_round_trip_identical(tmp_path) -> None:
    module = SupConEncoderModule(**TINY).eval()
    module.centroids.copy_(torch.nn.functional.normalize(torch.randn(7, 8), dim=1))
    path = export_from_module(module, tmp_path / "e.pt")
    frozen = load_frozen_encoder(path, mel_params=MelParams())
    mel = torch.randn(3, 80, 40) - 5
    with torch.no_grad():
        assert torch.equal(frozen(mel), module.encoder(mel))
        assert torch.equal(frozen.features(mel), module.encoder.features(mel))
        direct = centroid_logits(module.encoder(mel), module.centroids)
        assert torch.equal(frozen.classify(mel), direct)
    assert frozen.class_names == module.class_names
    assert frozen.num_features == 8


def test_fit_exports_and_checkpoint_export_matches(tmp_path) -> None:
    module, ckpt, _ = _trained_module(tmp_path)
    auto = load_frozen_encoder(tmp_path / "auto.pt")  # written by on_fit_end
    assert torch.equal(auto.centroids, module.centroids)
    from_ckpt = load_frozen_encoder(export_checkpoint(ckpt, tmp_path / "from_ckpt.pt"))
    batch = _batches(0)[0]
    with torch.no_grad():
        direct = centroid_logits(module.encoder.eval()(batch["mel"]), module.centroids)
    assert torch.equal(from_ckpt(batch["mel"]), auto(batch["mel"]))
    assert torch.equal(from_ckpt.classify(batch["mel"]), auto.classify(batch["mel"]))
    assert torch.equal(auto.classify(batch["mel"]), direct)


def test_fit_end_recomputes_centroids_in_eval_mode(tmp_path) -> None:
    module, _, data = _trained_module(tmp_path)
    batch = data.train_batches[0]
    with torch.no_grad():
        z = module.encoder.eval()(batch["mel"][:, 0])
    sums, counts = class_sums(z, batch["label"], 7)
    assert torch.allclose(module.centroids, centroids_from_sums(sums, counts), atol=1e-6)
    assert torch.equal(module.centroid_counts, counts)
def test_payload_layout(tmp_path) -> None:
    module = SupConEncoderModule(**TINY)
    payload = torch.load(export_from_module(module, tmp_path / "e.pt"), weights_only=True)
    assert payload["format"] == FORMAT and payload["version"] == 1
    assert payload["arch"] == {"in_channels": 1, "base_width": 4, "proj_hidden": 16, "proj_dim": 8}
    assert payload["mel_params"] == MelParams().as_dict()
    assert payload["centroids"].shape == (7, 8)
    assert all(k.startswith(("stem", "layers", "head")) for k in payload["state_dict"])


def test_mel_params_travel_from_datamodule_and_mismatch_refused(tmp_path) -> None:
    _, ckpt, _ = _trained_module(tmp_path, MelParams(f_max=11025.0))
    path = export_checkpoint(ckpt, tmp_path / "e.pt")
    assert load_frozen_encoder(path).mel_params.f_max == 11025.0
    with pytest.raises(EncoderMismatchError, match=r"f_max: expected 8000.0, found 11025.0"):
        load_frozen_encoder(path, mel_params=MelParams())


def test_n_mels_mismatch_names_field_and_fix(tmp_path) -> None:
    path = export_from_module(SupConEncoderModule(**TINY), tmp_path / "e.pt")
    with pytest.raises(EncoderMismatchError, match=r"n_mels: expected 64, found 80.*re-export"):
        load_frozen_encoder(path, mel_params=MelParams(n_mels=64))
    assert issubclass(EncoderMismatchError, ValueError)


def test_missing_and_wrong_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt not found.*make pretrain-encoder"):
        load_frozen_encoder(tmp_path / "nope.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format 'something-else', expected 'foleygan-encoder'"):
        load_frozen_encoder(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt is not a readable encoder export"):
        load_frozen_encoder(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="checkpoint .* not found"):
        export_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out.pt")


def test_export_encoder_refuses_other_checkpoints(tmp_path) -> None:
    torch.save({"state_dict": {}, "hyper_parameters": {"z_dim": 128}}, tmp_path / "gan.ckpt")
    with pytest.raises(ValueError, match="not a SupConEncoderModule checkpoint"):
        export_checkpoint(tmp_path / "gan.ckpt", tmp_path / "out.pt")


def test_frozen_stays_eval_without_trainable_params(tmp_path) -> None:
    frozen = load_frozen_encoder(export_from_module(SupConEncoderModule(**TINY), tmp_path / "e.pt"))
    assert isinstance(frozen, FrozenEncoder)
    frozen.train()
    assert not frozen.training
    assert not any(m.training for m in frozen.modules())
    assert not any(p.requires_grad for p in frozen.parameters())
    mel = torch.randn(4, 80, 32)
    before = frozen.encoder.stem[1].running_mean.clone()
    frozen(mel)
    assert torch.equal(frozen.encoder.stem[1].running_mean, before)


def test_cli(tmp_path, capsys) -> None:
    _, ckpt, _ = _trained_module(tmp_path)
    assert export_main([str(ckpt), str(tmp_path / "cli.pt")]) == 0
    assert "7 classes, 8-d embedding" in capsys.readouterr().out
    assert load_frozen_encoder(tmp_path / "cli.pt").num_features == 8
    assert export_main([str(tmp_path / "missing.ckpt"), str(tmp_path / "x.pt")]) == 2
    assert "missing.ckpt not found" in capsys.readouterr().err
    assert export_main([str(ckpt), "--out", str(tmp_path / "opt.pt")]) == 0
    assert (tmp_path / "opt.pt").is_file()
    with pytest.raises(SystemExit):
        export_main([str(ckpt)])
    assert "give the export path once" in capsys.readouterr().err
