"""SupConEncoderModule: training step, probe, confusion matrix, fine-tuning, optimizer, schedule,
callback."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from conftest import make_cpu_trainer
from datamodules.classes import CLASS_NAMES
from evaluation.confusion import ConfusionMatrixCallback, render_confusion
from lightning_modules.supcon import SupConEncoderModule
from lightning_modules.warmup_cosine import WarmupCosine

TINY = {"base_width": 4, "proj_hidden": 16, "proj_dim": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def _mels(labels: torch.Tensor, views: int = 0, noise: float = 0.3) -> torch.Tensor:
    """Class c lights up mel bands [10 c, 10 c + 10): separable, plus noise."""
    base = torch.full((len(labels), 80, 32), -8.0)
    for i, c in enumerate(labels.tolist()):
        base[i, 10 * c : 10 * c + 10] = 0.0
    if views:
        base = base[:, None].repeat(1, views, 1, 1)
    return base + noise * torch.randn_like(base)


def _loader(n_batches: int, views: int, batch: int = 14, noise: float = 0.3) -> DataLoader:
    batches = []
    for _ in range(n_batches):
        labels = torch.arange(batch) % 7
        batches.append({"mel": _mels(labels, views, noise), "label": labels})
    return DataLoader(batches, batch_size=None)


def _adamw(lr: float):
    """The default optimizer with another learning rate (an injected OptimizerCallable)."""
    return lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)


def _trainer(**kwargs) -> pl.Trainer:
    return make_cpu_trainer(**{"num_sanity_val_steps": 2, **kwargs})


def test_training_step_finite_and_backward() -> None:
    module = SupConEncoderModule(**TINY)
    labels = torch.tensor([0, 1, 2, 0])
    loss = module.training_step({"mel": _mels(labels, views=2), "label": labels}, 0)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert module.encoder.stem[0].weight.grad.abs().sum() > 0
    assert torch.equal(module._count, torch.tensor([2.0, 1, 1, 0, 0, 0, 0]))


def test_training_step_rejects_single_view() -> None:
    module = SupConEncoderModule(**TINY)
    with pytest.raises(ValueError, match="two_view: true"):
        module.training_step({"mel": torch.randn(4, 80, 32), "label": torch.arange(4)}, 0)


def test_fit_updates_parameters_centroids_and_logs() -> None:
    module = SupConEncoderModule(**TINY, optimizer=_adamw(1e-2))
    before = [p.detach().clone() for p in module.encoder.parameters()]
    trainer = _trainer(max_epochs=1, num_sanity_val_steps=1)
    trainer.fit(module, _loader(3, views=2), _loader(1, views=0))
    after = list(module.encoder.parameters())
    changed = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(changed)
    assert torch.equal(module.centroid_counts, torch.full((7,), 6.0))
    assert torch.allclose(module.centroids.norm(dim=1), torch.ones(7), atol=1e-5)
    metrics = trainer.callback_metrics
    assert math.isfinite(float(metrics["train/supcon/loss"]))
    assert {f"val/probe/acc/{name}" for name in CLASS_NAMES} <= set(metrics)
    assert 0.0 <= float(metrics["val/probe/acc"]) <= 1.0


def test_sanity_check_without_centroids_skips_probe() -> None:
    module = SupConEncoderModule(**TINY)
    trainer = _trainer()
    trainer.validate(module, _loader(1, views=0), verbose=False)
    assert "val/probe/acc" not in trainer.callback_metrics
    assert "val/supcon/loss" in trainer.callback_metrics
    assert module.last_confusion is None


def test_probe_separable_is_perfect() -> None:
    module = SupConEncoderModule(**TINY)
    val = _loader(2, views=0, noise=0.0)  # one identical mel per class: z identical too
    module.recompute_centroids(val)
    trainer = _trainer()
    trainer.validate(module, val, verbose=False)
    assert float(trainer.callback_metrics["val/probe/acc"]) == 1.0
    assert float(trainer.callback_metrics["val/probe/acc/Sneeze_Cough"]) == 1.0
    assert torch.equal(module.last_confusion, torch.diag(torch.full((7,), 4)))


def test_confusion_matches_direct_computation() -> None:
    module = SupConEncoderModule(**TINY).eval()
    module.centroids.copy_(torch.nn.functional.normalize(torch.randn(7, 8), dim=1))
    module.centroid_counts.fill_(1.0)
    val = _loader(3, views=0, batch=10, noise=4.0)
    trainer = _trainer()
    trainer.validate(module, val, verbose=False)
    expected = torch.zeros(7, 7, dtype=torch.long)
    with torch.no_grad():
        for batch in val:
            z = module.encoder(batch["mel"])
            for zi, label in zip(z, batch["label"].tolist(), strict=True):
                cosines = [float(zi @ c) / float(zi.norm()) for c in module.centroids]
                expected[label, max(range(7), key=lambda k: cosines[k])] += 1
    assert torch.equal(module.last_confusion, expected)
    acc = float(expected.diagonal().sum()) / float(expected.sum())
    assert float(trainer.callback_metrics["val/probe/acc"]) == pytest.approx(acc)
    dog = float(expected[0, 0]) / float(expected[0].sum())
    assert float(trainer.callback_metrics["val/probe/acc/DogBark"]) == pytest.approx(dog)


def test_finetune_phase_freezes_encoder_and_trains_head() -> None:
    module = SupConEncoderModule(**TINY, finetune_epochs=1, optimizer=_adamw(1e-2))
    snapshots = {}

    class Snapshot(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            state = {k: v.clone() for k, v in pl_module.encoder.state_dict().items()}
            snapshots[trainer.current_epoch] = (state, pl_module.linear_head.weight.clone())

    trainer = _trainer(max_epochs=2, num_sanity_val_steps=0, callbacks=[Snapshot()])
    trainer.fit(module, _loader(2, views=2), _loader(1, views=0))
    encoder_state, head_weight = snapshots[1]
    for key, value in module.encoder.state_dict().items():
        assert torch.equal(value, encoder_state[key]), key  # BN statistics included
    assert not torch.equal(module.linear_head.weight, head_weight)
    assert "train/finetune/loss" in trainer.callback_metrics
    assert "val/linear_acc" in trainer.callback_metrics


def test_finetune_needs_more_epochs() -> None:
    module = SupConEncoderModule(**TINY, finetune_epochs=2)
    with pytest.raises(ValueError, match="finetune_epochs=2 needs trainer.max_epochs > 2"):
        _trainer(max_epochs=2).fit(module, _loader(1, views=2))


def test_class_names_checked() -> None:
    with pytest.raises(ValueError, match="class_names has 2 entries but num_classes=3"):
        SupConEncoderModule(num_classes=3, class_names=["a", "b"], **TINY)
    names = SupConEncoderModule(num_classes=3, **TINY).class_names
    assert names == ["class_0", "class_1", "class_2"]


def test_warmup_cosine_closed_form() -> None:
    schedule = WarmupCosine(warmup_steps=4, total_steps=14, start_step=2)
    assert schedule(0) == schedule(1) == 0.0
    assert [schedule(s) for s in range(2, 6)] == [0.25, 0.5, 0.75, 1.0]
    for s in range(6, 16):
        assert schedule(s) == pytest.approx(0.5 * (1 + math.cos(math.pi * (s - 6) / 10)))
    assert schedule(100) == 0.0
    with pytest.raises(ValueError, match="warmup_steps=5, total_steps=3"):
        WarmupCosine(5, 3)


def test_default_optimizer_is_adamw() -> None:
    module = SupConEncoderModule(**TINY)
    trainer = _trainer(max_steps=1, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, _loader(1, views=2))
    optimizer = trainer.optimizers[0]
    assert type(optimizer) is torch.optim.AdamW
    group = optimizer.param_groups[0]
    assert (group["initial_lr"], group["weight_decay"]) == (1e-3, 1e-4)
    assert "optimizer" not in module.hparams and "lr" not in module.hparams


def test_injected_optimizer_gets_both_groups_and_the_schedule() -> None:
    def injected(params) -> torch.optim.SGD:
        return torch.optim.SGD(params, lr=0.1, momentum=0.5)

    class RecordLr(pl.Callback):
        lrs: list = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])

    module = SupConEncoderModule(**TINY, optimizer=injected, warmup_epochs=1, finetune_epochs=1)
    trainer = _trainer(max_epochs=2, num_sanity_val_steps=0, limit_val_batches=0,
                       callbacks=[RecordLr()])
    trainer.fit(module, _loader(2, views=2))
    optimizer = trainer.optimizers[0]
    assert type(optimizer) is torch.optim.SGD and len(optimizer.param_groups) == 2
    encoder_group, head_group = optimizer.param_groups
    assert [id(p) for p in head_group["params"]] == [id(p) for p in module.linear_head.parameters()]
    assert len(encoder_group["params"]) == len(list(module.encoder.parameters()))
    assert encoder_group["momentum"] == head_group["momentum"] == 0.5
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.optimizer is optimizer
    # 4 steps: warm-up (2 steps) of the encoder in epoch 1, the head's cosine in epoch 2
    expected = [0.1 * schedule(step) for step in range(4) for schedule in scheduler.lr_lambdas]
    assert sum(RecordLr.lrs, []) == pytest.approx(expected)
    assert RecordLr.lrs[1][0] == pytest.approx(0.1) and RecordLr.lrs[2] == pytest.approx([0.1, 0.1])


def test_lr_follows_schedule_in_fit() -> None:
    module = SupConEncoderModule(**TINY, optimizer=_adamw(1e-3), warmup_epochs=1)
    trainer = _trainer(max_epochs=3, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, _loader(2, views=2))
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    # 6 steps, warm-up 2, cosine over 4: after 6 scheduler steps the factor is cos at 4/4 = 0
    assert lr == pytest.approx(0.0, abs=1e-12)


def test_checkpoint_keeps_centroids_and_mel_params(tmp_path) -> None:
    module = SupConEncoderModule(**TINY)
    trainer = _trainer(max_epochs=1, num_sanity_val_steps=0)
    trainer.fit(module, _loader(1, views=2), _loader(1, views=0))
    path = tmp_path / "enc.ckpt"
    trainer.save_checkpoint(path)
    loaded = SupConEncoderModule.load_from_checkpoint(path, map_location="cpu")
    assert torch.equal(loaded.centroids, module.centroids)
    assert loaded.mel_params == module.mel_params


def test_confusion_callback_writes_png(tmp_path) -> None:
    module = SupConEncoderModule(**TINY)
    callbacks = [ConfusionMatrixCallback()]
    trainer = _trainer(max_epochs=1, default_root_dir=tmp_path, callbacks=callbacks)
    trainer.fit(module, _loader(1, views=2), _loader(1, views=0))
    pngs = list((tmp_path / "confusion").glob("val_confusion_epoch000_*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG"


def test_render_confusion_checks_names() -> None:
    fig = render_confusion(torch.eye(3, dtype=torch.long) * 5, ["a", "b", "c"], title="t")
    assert len(fig.axes[0].texts) == 9
    with pytest.raises(ValueError, match="2 class names for a 3-class confusion matrix"):
        render_confusion(torch.eye(3), ["a", "b"])


def test_end_to_end_pretraining_separates_classes(tmp_path) -> None:
    """A tiny encoder on random band patterns: held-out probe accuracy well above chance."""
    torch.manual_seed(0)
    module = SupConEncoderModule(base_width=8, proj_hidden=32, proj_dim=16, optimizer=_adamw(3e-3),
                                 temperature=0.1, export_path=str(tmp_path / "e.pt"))
    trainer = _trainer(max_steps=20, num_sanity_val_steps=0, val_check_interval=10)
    trainer.fit(module, _loader(10, views=2, noise=1.5), _loader(2, views=0, noise=1.5))
    assert float(trainer.callback_metrics["val/probe/acc"]) > 3 / 7
    from encoders.export import load_frozen_encoder

    frozen = load_frozen_encoder(tmp_path / "e.pt")
    batch = next(iter(_loader(1, views=0, noise=1.5)))
    accuracy = (frozen.classify(batch["mel"]).argmax(1) == batch["label"]).float().mean()
    assert float(accuracy) > 3 / 7


def test_schedule_with_max_steps_only() -> None:
    module = SupConEncoderModule(**TINY, warmup_epochs=1)
    trainer = _trainer(max_steps=3, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, _loader(2, views=2))
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.lr_lambdas[0].warmup_steps == 2  # one epoch of 2 batches
    assert scheduler.lr_lambdas[0].total_steps == 3


def test_confusion_callback_logs_wandb_image(tmp_path) -> None:
    from pytorch_lightning.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="foleygan-test")
    module = SupConEncoderModule(**TINY)
    trainer = _trainer(max_epochs=1, logger=logger, callbacks=[ConfusionMatrixCallback()])
    trainer.fit(module, _loader(1, views=2), _loader(1, views=0))
    logger.experiment.finish()
    images = list(tmp_path.glob("wandb/offline-run-*/files/media/images/val/confusion_*.png"))
    assert len(images) == 1
    assert not list(tmp_path.glob("**/confusion/*.png"))  # no PNG fallback when W&B is attached
