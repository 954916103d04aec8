"""ProbeCallback: the frozen encoder's probe on generated mels, recomputed from what it saw."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from conftest import make_cpu_trainer
from encoders.probe import accuracies
from evaluation.probe_callback import ProbeCallback
from generator_stub import NAMES, LevelEncoder, StubGenerator, loader, val_batches


def _direct_confusion(encoder: LevelEncoder, calls: list) -> torch.Tensor:
    confusion = torch.zeros(3, 3, dtype=torch.long)
    for labels, mel in calls:
        for label, row in zip(labels.tolist(), mel, strict=True):
            scores = [-abs(float(row.mean()) - float(level)) for level in encoder.levels]
            confusion[label, max(range(3), key=lambda k: scores[k])] += 1
    return confusion


def test_counts_equal_a_direct_computation() -> None:
    encoder = LevelEncoder((4.0, 14.0, 24.0))  # with noise, some mels fall closer to the next level
    module = StubGenerator(encoder=encoder, noise=6.0)
    batches = val_batches(n_batches=4, batch=6)
    trainer = make_cpu_trainer(callbacks=[ProbeCallback()])
    trainer.validate(module, loader(batches), verbose=False)
    generated = torch.cat([labels for labels, _ in module.calls])
    assert torch.equal(generated, torch.cat([b["label"] for b in batches]))  # one per label
    confusion = _direct_confusion(encoder, module.calls)
    assert 0 < int(confusion.diagonal().sum()) < int(confusion.sum())  # the answers vary
    overall, per_class = accuracies(confusion)
    metrics = trainer.callback_metrics
    assert float(metrics["val/probe/acc"]) == pytest.approx(overall)
    for name, acc in zip(NAMES, per_class, strict=True):
        assert float(metrics[f"val/probe/acc/{name}"]) == pytest.approx(acc)


def test_fit_with_the_callback_logs_the_keys() -> None:
    module = StubGenerator(encoder=LevelEncoder(), noise=0.1)  # always recognisable
    trainer = make_cpu_trainer(max_steps=2, val_check_interval=1, callbacks=[ProbeCallback()])
    trainer.fit(module, loader(val_batches()), loader(val_batches()))
    metrics = trainer.callback_metrics
    assert float(metrics["val/probe/acc"]) == 1.0
    assert {f"val/probe/acc/{name}" for name in NAMES} <= set(metrics)


def test_without_encoder_nothing_is_logged() -> None:
    module = StubGenerator(encoder=None)
    trainer = make_cpu_trainer(callbacks=[ProbeCallback()])
    trainer.validate(module, loader(val_batches()), verbose=False)
    assert not [k for k in trainer.callback_metrics if k.startswith("val/probe")]
    assert module.calls == []  # and nothing generated for it


class _NoEncoderAccessor(pl.LightningModule):
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        return None


def test_module_without_the_surface_is_refused() -> None:
    trainer = make_cpu_trainer(callbacks=[ProbeCallback()])
    with pytest.raises(ValueError, match="has no generate, class_names, frozen_encoder"):
        trainer.validate(_NoEncoderAccessor(), loader(val_batches()), verbose=False)
