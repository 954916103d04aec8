"""FoleyGANModule's limited-data remedies (DiffAugment, LeCam), its overfitting signals and its
class names; with every option off it computes to the bit what the step before them did."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from conftest import make_cpu_trainer
from datamodules.classes import CLASS_NAMES
from datamodules.mel import LOG_FLOOR
from gan_fixtures import SHAPE, SMALL, LegacyStepGAN, TinyData
from lightning_modules.gan import FoleyGANModule
from lightning_modules.gan_gap import LogitGap
from lightning_modules.gan_inputs import silence_fill
from lightning_modules.generator_loading import load_generator
from lightning_modules.sagan import Discriminator, Generator

BOTH = dict(diffaug="translation,cutout", lecam_weight=0.3)
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny fits: threads only add overhead


def _trainer(tmp_path=None, **kwargs) -> pl.Trainer:
    return make_cpu_trainer(**{"limit_val_batches": 0, "default_root_dir": tmp_path, **kwargs})


def _fit(cls, max_steps: int = 6, **options):
    torch.manual_seed(0)
    model = cls(**SMALL, **options)
    trainer = _trainer(max_steps=max_steps)
    trainer.fit(model, datamodule=TinyData())
    return model, trainer.callback_metrics


@pytest.mark.parametrize(
    "options",
    [dict(loss="hinge"), dict(loss="2c", cond_warmup_steps=3, grad_clip=1.0),
     dict(loss="2c", use_labels=True, d_steps_per_g_step=2)],
    ids=["hinge", "2c_warmup_clip", "2c_label_2d"],
)
def test_options_off_equal_the_step_before_them_to_the_bit(options) -> None:
    new, new_logs = _fit(FoleyGANModule, **options)
    old, old_logs = _fit(LegacyStepGAN, **options)
    for (name, a), b in zip(new.state_dict().items(), old.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for key, value in old_logs.items():
        assert torch.equal(new_logs[key], value), key
    assert not torch.equal(new.generator.conv_out.parametrizations.weight.original,
                           FoleyGANModule(**SMALL, **options).generator.conv_out
                           .parametrizations.weight.original)  # it did train


def test_init_draws_the_same_random_numbers_as_the_networks_alone() -> None:
    torch.manual_seed(3)
    model = FoleyGANModule(**SMALL, loss="2c", **BOTH)
    after_model = torch.randn(3)
    torch.manual_seed(3)
    g = Generator(num_classes=3, z_dim=8, width=8, mel_shape=SHAPE, n_stages=2, attention_stage=2)
    d = Discriminator(num_classes=3, width=8, mel_shape=SHAPE, n_stages=2, attention_stage=1,
                      projection=False, embed_dim=16)
    assert torch.equal(after_model, torch.randn(3))  # the options draw nothing at init
    for net, alone in ((model.generator, g), (model.discriminator, d)):
        for (name, a), b in zip(net.state_dict().items(), alone.state_dict().values(), strict=True):
            assert torch.equal(a, b), name


class _Spy(pl.Callback):
    """Records what D sees: (batch size, input) of every discriminator call in training."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.calls, forward = [], pl_module.discriminator.forward

        def spy(mel_norm, labels):
            self.calls.append(mel_norm.detach().clone())
            return forward(mel_norm, labels)
        pl_module.discriminator.forward = spy


@pytest.mark.parametrize("options", [dict(diffaug="translation,cutout"), dict(lecam_weight=0.3),
                                     BOTH], ids=["diffaug", "lecam", "both"])
def test_fit_runs_with_each_remedy(tmp_path, options) -> None:
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c", **options)
    spy = _Spy()
    trainer = _trainer(tmp_path, max_steps=4, limit_val_batches=2, val_check_interval=2,
                       callbacks=[spy])
    data = TinyData()
    trainer.fit(model, datamodule=data)
    metrics = trainer.callback_metrics
    keys = ["train/d/loss", "train/g/loss", "train/d/logit_gap", "val/d/overfit_gap",
            "val/d/logits_real"] + (["train/d/lecam"] if "lecam_weight" in options else [])
    for key in keys:
        assert math.isfinite(float(metrics[key])), key
    lecam = "lecam_weight" in options
    assert (float(model.lecam.ema_real) != 0.0) == lecam  # anchors move only with LeCam on
    assert ("train/d/lecam" in metrics) == lecam
    d_step, g_step = spy.calls[0], spy.calls[1]  # batch 1: D on cat(real, fake), then G on fake
    assert d_step.shape == (8, *SHAPE) and g_step.shape == (4, *SHAPE)
    real = model.mel_norm.normalize(data.ds.mel[:4])
    fill = silence_fill(model.mel_norm).view(1, -1, 1).expand(4, -1, SHAPE[1])
    augmented = "diffaug" in options
    assert torch.equal(d_step[:4], real) != augmented  # same shuffle-free first batch
    if augmented:  # every sample gains silence-floor cells, each sample in its own places
        at_floor = d_step[:4] == fill
        assert bool((at_floor.sum(dim=(1, 2)) > (real == fill).sum(dim=(1, 2))).all())
        assert len({tuple(m.flatten().tolist()) for m in at_floor}) == 4


def test_silence_fill_is_the_floor_through_the_normaliser() -> None:
    model = FoleyGANModule(**SMALL, loss="hinge")
    model.mel_norm.fit({"min": torch.full((16,), -14.0), "max": torch.linspace(-2.0, 4.0, 16)})
    center, half = (model.mel_norm.lo + model.mel_norm.hi) / 2, (model.mel_norm.hi
                                                                  - model.mel_norm.lo) / 2
    assert torch.allclose(silence_fill(model.mel_norm), (LOG_FLOOR - center) / half)


class _SeedPerBatch(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.manual_seed(1000 + trainer.global_step)


def test_anchors_survive_a_checkpoint_round_trip(tmp_path) -> None:
    def fit(max_epochs: int, ckpt_path=None):
        torch.manual_seed(0)
        model = FoleyGANModule(**SMALL, loss="2c", **BOTH)
        trainer = _trainer(tmp_path, max_epochs=max_epochs, limit_train_batches=1,
                           callbacks=[_SeedPerBatch()])
        trainer.fit(model, datamodule=TinyData(), ckpt_path=ckpt_path)
        return model, trainer

    straight, _ = fit(2)
    first, trainer = fit(1)
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["state_dict"]
    assert torch.equal(saved["lecam.ema_real"], first.lecam.ema_real)
    assert float(first.lecam.ema_real) != 0.0
    resumed, _ = fit(2, ckpt_path=str(ckpt))
    pairs = zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name
    assert not torch.equal(first.lecam.ema_real, resumed.lecam.ema_real)


def test_checkpoint_from_before_the_new_buffers_loads(tmp_path) -> None:
    model = FoleyGANModule(**SMALL, loss="hinge")
    trainer = _trainer(tmp_path, max_steps=2)
    trainer.fit(model, datamodule=TinyData())
    path = tmp_path / "old.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    for key in ("lecam.ema_real", "lecam.ema_fake", "nonfinite_skips"):
        del ckpt["state_dict"][key]
    torch.save(ckpt, path)
    loaded = FoleyGANModule.load_from_checkpoint(path, map_location="cpu")
    assert int(loaded.nonfinite_skips) == 0 and float(loaded.lecam.ema_fake) == 0.0
    assert torch.equal(loaded.g_steps, model.g_steps)


def test_logit_gap_means_sums_and_resets() -> None:
    gap = LogitGap()
    assert gap.compute_and_reset() is None
    gap.add_train(torch.tensor([1.0, 3.0]))
    gap.add_train(torch.tensor([5.0]))
    gap.add_val(torch.tensor([0.5, -0.5, 1.0, 2.0]))
    doubled = gap.compute_and_reset(lambda t: 2 * t)  # a sum over two equal processes
    assert doubled is not None
    assert doubled[0].item() == pytest.approx(3.0 - 0.75) and doubled[1].item() == 0.75
    assert gap.compute_and_reset() is None  # both sides start again
    assert "train_sums" not in gap.state_dict()  # not checkpointed


def test_overfit_gap_reads_held_out_clips_without_touching_the_training_rng(tmp_path) -> None:
    model = FoleyGANModule(**SMALL, loss="2c", **BOTH)
    trainer = _trainer(tmp_path, max_steps=4, limit_val_batches=2, val_check_interval=2)
    data = TinyData()
    trainer.fit(model, datamodule=data)  # validation after the last batch: D as it ends
    batch = {"mel": data.ds.mel[:4], "label": data.ds.labels[:4]}
    state = torch.get_rng_state()
    model.eval()
    with torch.no_grad():
        model.validation_step(batch, 0)
        first = model.logit_gap.val_sums.clone()
        model.validation_step(batch, 0)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model.logit_gap.val_sums, 2 * first)  # the same draw for the same batch
    held_out = float(trainer.callback_metrics["val/d/logits_real"])
    assert math.isfinite(held_out) and math.isfinite(float(
        trainer.callback_metrics["val/d/overfit_gap"]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"diffaug": "color"}, r"unknown DiffAugment policy \['color'\]"),
     ({"diffaug": "cutout", "diffaug_cutout_ratio": 1.5}, r"diffaug_cutout_ratio must be in"),
     ({"lecam_weight": -0.1}, "lecam_weight must be >= 0"),
     ({"lecam_decay": 1.0}, r"lecam_decay must be in \[0, 1\)"),
     ({"max_nonfinite_skips": -1}, "max_nonfinite_skips must be >= 0")],
)
def test_remedy_option_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        FoleyGANModule(**{**SMALL, "loss": "hinge", **kwargs})


def test_default_class_names_follow_the_class_count(tmp_path) -> None:
    small = {k: v for k, v in SMALL.items() if k != "class_names"}
    assert FoleyGANModule(**small, loss="hinge").class_names == ["class_0", "class_1", "class_2"]
    seven = FoleyGANModule(**{**small, "num_classes": 7}, loss="hinge")
    assert seven.class_names == list(CLASS_NAMES)
    model = FoleyGANModule(**small, loss="hinge")
    trainer = _trainer(tmp_path, max_steps=2)
    trainer.fit(model, datamodule=TinyData())
    path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(path)
    assert load_generator(path).class_names == ["class_0", "class_1", "class_2"]
