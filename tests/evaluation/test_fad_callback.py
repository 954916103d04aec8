"""FADCallback on CPU: per-class keys in callback_metrics, media written, schedule respected."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from conftest import make_cpu_trainer
from datamodules.classes import CLASS_NAMES
from evaluation.callbacks import FADCallback

KEYS = [f"val/fad/{name}" for name in CLASS_NAMES] + ["val/fad/mean"]


class TinyGAN(pl.LightningModule):
    """Has `generate(labels, z=None) -> mel [B, 80, 344]` and `class_names`, trains nothing."""

    class_names = list(CLASS_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # labels [B] -> mel [B, 80, 344]
        z = torch.randn(labels.shape[0], 1, 344, device=labels.device) if z is None else z
        level = 0.1 * (labels.float() + 1.0)[:, None, None]
        return (level + 0.02 * z).expand(-1, 80, -1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.layer(batch[0]).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(4, 1)), batch_size=2)

    def val_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(4, 1)), batch_size=2)


class HoldVocoder(nn.Module):
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # mel [B, 80, T] -> wav [B, 256 T]
        return mel.mean(dim=1).repeat_interleave(256, dim=1)


class MeanStd(nn.Module):
    num_features = 3

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * 4, 3]
        w = wav.reshape(wav.shape[0] * 4, -1)
        return torch.stack([w.mean(1), w.std(1), w.amax(1)], dim=1)


@pytest.fixture
def reference(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for label, name in enumerate(CLASS_NAMES):
        (tmp_path / "ref" / name).mkdir(parents=True)
        for i in range(2):
            path = tmp_path / "ref" / name / f"{i}.wav"
            wav = 0.1 * (label + 1) + rng.normal(scale=0.02, size=88200)
            sf.write(str(path), wav.astype(np.float32), 22050, subtype="PCM_16")
            items.append((path, label))
    return tmp_path / "ref", items


def _fit(tmp_path, callback: FADCallback, epochs: int = 1, datamodule=None) -> pl.Trainer:
    trainer = make_cpu_trainer(max_epochs=epochs, limit_train_batches=1, limit_val_batches=1,
                               num_sanity_val_steps=1, default_root_dir=tmp_path,
                               callbacks=[callback])
    trainer.fit(TinyGAN(), datamodule=datamodule)
    return trainer


def _callback(tmp_path, **kwargs) -> FADCallback:
    defaults = dict(
        backbone=MeanStd(),
        vocoder=HoldVocoder(),
        n_per_class=4,
        batch_size=5,
        cache_dir=str(tmp_path / "cache"),
    )
    return FADCallback(**{**defaults, **kwargs})


def test_logs_every_class_and_mean_and_writes_media(tmp_path, reference) -> None:
    trainer = _fit(tmp_path, _callback(tmp_path, reference=str(reference[0])))
    for key in KEYS:
        assert key in trainer.callback_metrics
        assert torch.isfinite(trainer.callback_metrics[key])
    values = [float(trainer.callback_metrics[k]) for k in KEYS[:-1]]
    assert float(trainer.callback_metrics["val/fad/mean"]) == pytest.approx(np.mean(values))
    (media,) = (tmp_path / "media").glob("step_*")  # one validation -> one media folder
    assert len(list(media.glob("*.wav"))) == 14 and len(list(media.glob("*.png"))) == 14
    clip, rate = sf.read(str(media / "Rain_000.wav"))
    assert rate == 22050 and clip.shape == (88200,) and abs(clip[:1000].mean() - 0.6) < 0.05


def test_reference_from_datamodule_val_items_and_schedule(tmp_path, reference) -> None:
    class DataWithVal(pl.LightningDataModule):
        def train_dataloader(self):
            return TinyGAN().train_dataloader()

        def val_dataloader(self):
            return TinyGAN().val_dataloader()

        def val_items(self):
            return reference[1]

    callback = _callback(tmp_path, every_n_epochs=2, n_media_per_class=0)
    trainer = _fit(tmp_path, callback, epochs=2, datamodule=DataWithVal())
    assert all(key in trainer.callback_metrics for key in KEYS)
    assert callback.metric is not None and callback.metric.has_reference
    assert not (tmp_path / "media").exists()


def test_skipped_before_due_epoch_and_clear_error_without_reference(tmp_path, reference) -> None:
    trainer = _fit(tmp_path, _callback(tmp_path, every_n_epochs=3, reference=str(reference[0])))
    assert not any(key in trainer.callback_metrics for key in KEYS)
    with pytest.raises(ValueError, match="pass reference=<folder of class folders>"):
        _fit(tmp_path, _callback(tmp_path))
    with pytest.raises(ValueError, match="n_per_class=100"):
        FADCallback(n_per_class=0)


def test_wires_the_real_griffin_lim_by_name(tmp_path, reference) -> None:
    callback = _callback(
        tmp_path,
        vocoder="griffin-lim",
        n_per_class=1,
        n_media_per_class=0,
        reference=str(reference[0]),
    )
    trainer = _fit(tmp_path, callback)
    assert all(key in trainer.callback_metrics for key in KEYS)
    assert type(callback._vocoder_module).__name__ == "GriffinLimVocoder"
