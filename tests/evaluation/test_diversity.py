"""DiversityCallback and its figures: banks, the pairwise RMS, logged values recomputed directly."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import make_cpu_trainer
from evaluation.diversity import ClassSampleBank, DiversityCallback, mean_pairwise_rms
from generator_stub import NAMES, StubGenerator, loader, val_batches


def test_mean_pairwise_rms_matches_loop() -> None:
    x = torch.randn(4, 3, 5)
    pairs = [torch.sqrt(((x[i] - x[j]) ** 2).mean()) for i in range(4) for j in range(i + 1, 4)]
    assert mean_pairwise_rms(x) == pytest.approx(float(torch.stack(pairs).mean()), rel=1e-6)
    assert math.isnan(mean_pairwise_rms(x[:1]))


def test_bank_keeps_the_first_rows_of_each_class_and_room_agrees() -> None:
    bank = ClassSampleBank(num_classes=3, per_class=2, mel_shape=(2, 2), device="cpu")
    labels = torch.tensor([0, 0, 0, 2, 1, 2, 2])
    mel = torch.arange(7.0).view(7, 1, 1).expand(7, 2, 2)
    assert bank.room(labels).tolist() == [True, True, False, True, True, True, False]
    bank.add(mel, labels)
    assert bank.counts.tolist() == [2, 1, 2]
    assert bank.samples[0, :, 0, 0].tolist() == [0.0, 1.0]
    assert bank.samples[2, :, 0, 0].tolist() == [3.0, 5.0]
    assert not bool(bank.room(torch.tensor([0, 2])).any())


def _expected(batches: list[dict], calls: list, n_per_class: int) -> dict[str, float]:
    """The figures recomputed from the batches and the generator's recorded outputs."""
    out, ratios = {}, []
    labels_fake = torch.cat([labels for labels, _ in calls])
    mels_fake = torch.cat([mel for _, mel in calls])
    labels_real = torch.cat([b["label"] for b in batches])
    mels_real = torch.cat([b["mel"] for b in batches])
    for c, name in enumerate(NAMES):
        real = mean_pairwise_rms(mels_real[labels_real == c][:n_per_class])
        fake = mean_pairwise_rms(mels_fake[labels_fake == c][:n_per_class])
        out[f"val/diversity/{name}/real"], out[f"val/diversity/{name}/fake"] = real, fake
        ratios.append(fake / real)
    out["val/diversity/mean_ratio"] = sum(ratios) / len(ratios)
    return out


@pytest.mark.parametrize("n_per_class", [2, 3])
def test_logged_figures_equal_a_direct_computation(n_per_class: int) -> None:
    batches = val_batches()
    module = StubGenerator(noise=0.5)
    trainer = make_cpu_trainer(callbacks=[DiversityCallback(n_per_class=n_per_class)])
    trainer.validate(module, loader(batches), verbose=False)
    generated = torch.cat([labels for labels, _ in module.calls])
    in_data = torch.bincount(torch.cat([b["label"] for b in batches]), minlength=3)
    # the generator is asked only for labels whose class still had room
    assert torch.equal(torch.bincount(generated, minlength=3), in_data.clamp(max=n_per_class))
    metrics = trainer.callback_metrics
    expected = _expected(batches, module.calls, n_per_class)
    assert set(expected) == {k for k in metrics if k.startswith("val/diversity/")}
    for key, value in expected.items():
        assert float(metrics[key]) == pytest.approx(value, rel=1e-5), key


def test_fit_with_the_callback_logs_the_keys_every_validation() -> None:
    callback = DiversityCallback(n_per_class=2)
    trainer = make_cpu_trainer(max_steps=2, val_check_interval=1, callbacks=[callback])
    module = StubGenerator(noise=0.0)  # identical fake mels per class: fake diversity 0
    trainer.fit(module, loader(val_batches()), loader(val_batches()))
    metrics = trainer.callback_metrics
    for name in NAMES:
        assert float(metrics[f"val/diversity/{name}/fake"]) == 0.0
        assert float(metrics[f"val/diversity/{name}/real"]) > 0.0
    assert float(metrics["val/diversity/mean_ratio"]) == 0.0
    assert len(module.calls) >= 2  # both validations generated


def test_needs_two_clips_per_class() -> None:
    with pytest.raises(ValueError, match="at least 2 clips per class"):
        DiversityCallback(n_per_class=1)
