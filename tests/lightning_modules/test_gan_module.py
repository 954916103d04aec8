"""FoleyGANModule: options, optimizers, phase isolation, step accounting, resume, every loss,
loading for synthesis."""

from __future__ import annotations

import math
import shutil
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from conftest import make_cpu_trainer
from datamodules.mel import MelParams
from encoders.export import FrozenEncoder, export_from_module
from encoders.resnet import ResNet18Encoder
from evaluation.diversity import DiversityCallback
from evaluation.probe_callback import ProbeCallback
from gan_fixtures import SHAPE, SMALL, TinyData, _Mels
from lightning_modules.gan import FoleyGANModule
from lightning_modules.gan_options import ConditionalLoss, conditional_loss
from lightning_modules.generator_loading import load_generator
from lightning_modules.losses.contrastive import conditional_contrastive_loss


def _trainer(tmp_path=None, **kwargs) -> pl.Trainer:
    return make_cpu_trainer(**{"limit_val_batches": 0, "default_root_dir": tmp_path, **kwargs})


def _tiny_encoder_file(tmp_path) -> str:
    enc = ResNet18Encoder(base_width=2, proj_hidden=8, proj_dim=16)
    owner = SimpleNamespace(encoder=enc, centroids=torch.nn.functional.normalize(
        torch.randn(3, 16), dim=1), class_names=["A", "B", "C"], mel_params=MelParams())
    return str(export_from_module(owner, tmp_path / "encoder.pt"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"loss": "wgan"}, r"unknown loss 'wgan': expected one of \['hinge', '2c', 'csupcon'\]"),
     ({"loss": "csupcon"}, "needs the frozen encoder E"),
     ({"loss": "2c", "d_steps_per_g_step": 0}, "d_steps_per_g_step must be >= 1"),
     ({"loss": "2c", "class_names": ["A"]}, "class_names has 1 names")],
)
def test_option_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        FoleyGANModule(**{**SMALL, **kwargs})


@pytest.mark.parametrize("warmup", [0, 10])
def test_cond_weight_warmup_ramps_linearly(warmup: int) -> None:
    model = FoleyGANModule(**SMALL, loss="2c", cond_weight=0.5, cond_warmup_steps=warmup)
    weights = []
    for g_steps in (0, 5, 10, 20):
        model.g_steps.fill_(g_steps)
        weights.append(float(model._cond_weight()))  # a 0-d tensor with warm-up
    expected = [0.5] * 4 if warmup == 0 else [0.0, 0.25, 0.5, 0.5]
    assert weights == pytest.approx(expected)


def test_loss_chooses_the_criterion_once() -> None:
    assert FoleyGANModule(**SMALL, loss="hinge").criterion is None
    two_c = FoleyGANModule(**SMALL, loss="2c", tau_d=0.2, tau_c=0.5, use_labels=True).criterion
    assert two_c == ConditionalLoss(tau_d=0.2, tau_c=0.5, use_labels=True, needs_source=False)
    csupcon = FoleyGANModule(**SMALL, loss="csupcon", encoder_path="unused.pt").criterion
    assert csupcon.needs_source and csupcon.tau_c == 1.0
    embed, proxy, source = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    direct = conditional_contrastive_loss(embed, proxy, labels, source, 0.2, 0.5, True)
    assert torch.equal(two_c(embed, proxy, labels, source), direct)
    with pytest.raises(ValueError, match=r"unknown loss 'wgan': expected one of"):
        conditional_loss("wgan", 0.1, 1.0, False)


def test_default_optimizers_are_the_reports_adam() -> None:
    model = FoleyGANModule(**SMALL, loss="2c")
    opt_g, opt_d = model.configure_optimizers()
    for opt, net in ((opt_g, model.generator), (opt_d, model.discriminator)):
        assert type(opt) is torch.optim.Adam
        group = opt.param_groups[0]
        assert (group["lr"], group["betas"]) == (1e-4, (0.5, 0.999))
        assert group["weight_decay"] == 0 and not group["amsgrad"]
        assert [id(p) for p in group["params"]] == [id(p) for p in net.parameters()]
    assert "optimizer_g" not in model.hparams and "lr_g" not in model.hparams


def test_injected_optimizers_are_used(tmp_path) -> None:
    model = FoleyGANModule(
        **SMALL, loss="2c",
        optimizer_g=lambda params: torch.optim.SGD(params, lr=0.05),
        optimizer_d=lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9)),
    )
    trainer = _trainer(tmp_path, max_steps=2)
    trainer.fit(model, datamodule=TinyData())
    opt_g, opt_d = trainer.optimizers
    assert type(opt_g) is torch.optim.SGD and opt_g.param_groups[0]["lr"] == 0.05
    assert opt_d.param_groups[0]["betas"] == (0.0, 0.9) and opt_d.param_groups[0]["lr"] == 2e-4
    assert int(model.g_steps) == 1
    path = tmp_path / "injected.ckpt"
    trainer.save_checkpoint(path)  # a lambda optimizer is not a hyperparameter: loading works
    loaded = FoleyGANModule.load_from_checkpoint(path, map_location="cpu")
    assert type(loaded.configure_optimizers()[0]) is torch.optim.Adam  # back to the default
    assert torch.equal(loaded.g_steps, model.g_steps)


def test_projection_default_follows_loss() -> None:
    assert FoleyGANModule(**SMALL, loss="hinge").projection is True
    assert FoleyGANModule(**SMALL, loss="2c").projection is False
    assert FoleyGANModule(**SMALL, loss="2c", projection=True).projection is True


def _params(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before: dict, module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())


def test_each_phase_updates_only_its_network() -> None:
    model = FoleyGANModule(**SMALL, loss="2c")
    seen = []
    d_step, g_step = model._d_step, model._g_step

    def wrap(step, name):
        def run(*args):
            g, d = _params(model.generator), _params(model.discriminator)
            out = step(*args)
            seen.append((name, _changed(g, model.generator), _changed(d, model.discriminator)))
            return out
        return run

    model._d_step, model._g_step = wrap(d_step, "d"), wrap(g_step, "g")
    _trainer(max_steps=4).fit(model, datamodule=TinyData())
    assert seen == [("d", False, True), ("g", True, False)] * 2


@pytest.mark.parametrize(("d_steps", "max_steps"), [(1, 4), (2, 6)])
def test_global_step_counts_both_optimizers(d_steps: int, max_steps: int) -> None:
    model = FoleyGANModule(**SMALL, loss="hinge", d_steps_per_g_step=d_steps)
    trainer = _trainer(max_steps=max_steps)
    trainer.fit(model, datamodule=TinyData())
    assert trainer.global_step == max_steps
    assert int(model.g_steps) == max_steps // (d_steps + 1)
    assert model.g_ema.started  # ema_start=2 reached
    assert int(model.g_ema.num_updates) == int(model.g_steps) - 1


class _SeedPerBatch(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.manual_seed(1000 + trainer.global_step)


def test_resume_continues_identically(tmp_path) -> None:
    def fit(max_epochs: int, ckpt_path=None, **kwargs) -> FoleyGANModule:
        torch.manual_seed(0)
        model = FoleyGANModule(**SMALL, loss="2c", grad_clip=1.0)
        trainer = _trainer(tmp_path, max_epochs=max_epochs, limit_train_batches=1,
                           callbacks=[_SeedPerBatch()], **kwargs)
        trainer.fit(model, datamodule=TinyData(), ckpt_path=ckpt_path)
        return model, trainer

    straight, _ = fit(2)
    first, trainer = fit(1)
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed, trainer2 = fit(2, ckpt_path=str(ckpt))
    assert trainer2.global_step == 4 and int(resumed.g_steps) == 2
    pairs = zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name
    assert not torch.equal(first.generator.conv_out.parametrizations.weight.original,
                           resumed.generator.conv_out.parametrizations.weight.original)


@pytest.mark.parametrize(
    "variant",
    [dict(loss="hinge"), dict(loss="2c"), dict(loss="2c", use_labels=True),
     dict(loss="csupcon", tau_c=0.1),
     pytest.param(dict(loss="csupcon", use_labels=True), marks=pytest.mark.slow)],
    ids=["hinge", "2c", "2c_label", "csupcon", "csupcon_label"],
)
def test_tiny_fit_every_loss(tmp_path, variant) -> None:
    if variant["loss"] == "csupcon":
        variant = {**variant, "encoder_path": _tiny_encoder_file(tmp_path)}
    model = FoleyGANModule(**SMALL, **variant)
    callbacks = [DiversityCallback(n_per_class=4), ProbeCallback()]
    trainer = _trainer(tmp_path, max_steps=4, limit_val_batches=2, val_check_interval=2,
                       callbacks=callbacks)
    trainer.fit(model, datamodule=TinyData())
    metrics = trainer.callback_metrics
    for key in ("train/d/loss", "train/d/adv", "train/d/cond", "train/g/loss", "train/g/adv",
                "train/g/cond", "train/d/logits_real", "train/d/logits_fake", "train/cond/weight"):
        assert math.isfinite(float(metrics[key])), key
    assert (float(metrics["train/d/cond"]) == 0.0) == (variant["loss"] == "hinge")
    assert "val/diversity/A/real" in metrics and "val/diversity/mean_ratio" in metrics
    assert ("val/probe/acc/B" in metrics) == (variant["loss"] == "csupcon")


def test_encoder_with_other_classes_is_refused(tmp_path) -> None:
    path = _tiny_encoder_file(tmp_path)
    model = FoleyGANModule(**{**SMALL, "class_names": ["X", "Y", "Z"]}, loss="csupcon",
                           encoder_path=path)
    with pytest.raises(ValueError, match=r"trained on classes \['A', 'B', 'C'\]"):
        _trainer(max_steps=2).fit(model, datamodule=TinyData())


def test_csupcon_source_comes_from_encoder() -> None:
    model = FoleyGANModule(**SMALL, loss="csupcon", encoder_path="unused.pt")
    enc = FrozenEncoder(ResNet18Encoder(base_width=2, proj_hidden=8, proj_dim=16),
                        torch.nn.functional.normalize(torch.randn(3, 16), dim=1),
                        ["A", "B", "C"], MelParams())
    model.set_encoder(enc)
    assert model.frozen_encoder() is enc
    assert "encoder" not in "".join(model.state_dict())
    mel = torch.randn(2, *SHAPE)
    assert torch.allclose(model._source(mel), enc(mel))


def _trained(tmp_path) -> tuple[FoleyGANModule, str]:
    model = FoleyGANModule(**SMALL, loss="hinge")
    trainer = _trainer(tmp_path, max_steps=6)  # 3 G steps: the EMA (start 2) has started
    trainer.fit(model, datamodule=TinyData())
    path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(path)
    return model, str(path)


def test_generate_and_export_agree(tmp_path) -> None:
    model, path = _trained(tmp_path)
    labels, z = torch.tensor([0, 2]), torch.randn(2, 8)
    mel = model.generate(labels, z)
    assert mel.shape == (2, *SHAPE) and model.generator.training  # mode restored
    lo, hi = model.mel_norm.lo.view(1, -1, 1), model.mel_norm.hi.view(1, -1, 1)
    assert bool(((mel >= lo - 1e-4) & (mel <= hi + 1e-4)).all())
    exported = load_generator(path)
    assert exported.class_names == ["A", "B", "C"] and exported.mel_shape == SHAPE
    assert torch.allclose(exported.generate(labels, z), mel, atol=1e-5)
    a, b = exported.generate(labels, seed=3), exported.generate(labels, seed=3)
    assert torch.equal(a, b)
    ema_out = model.mel_norm.denormalize(model.g_ema.module(z, labels))
    assert torch.allclose(mel, ema_out, atol=1e-5)  # EMA generator used once started


def test_untrained_export_keeps_init_and_normaliser(tmp_path) -> None:
    model, path = _trained(tmp_path)
    labels, z = torch.tensor([0, 1, 2]), torch.randn(3, 8)
    untrained = load_generator(path, untrained=True, init_seed=5)
    again = load_generator(path, untrained=True, init_seed=5)
    trained = load_generator(path)
    assert torch.equal(untrained.generate(labels, z), again.generate(labels, z))  # seeded init
    assert not torch.allclose(untrained.generate(labels, z), trained.generate(labels, z))
    assert torch.equal(untrained.mel_norm.lo, model.mel_norm.lo)
    run = tmp_path / "run" / "version_0" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copyfile(path, run / "last.ckpt")
    from_folder = load_generator(tmp_path / "run")  # a run folder resolves to its last.ckpt
    assert torch.equal(from_folder.generate(labels, z), trained.generate(labels, z))


def test_export_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.ckpt not found"):
        load_generator(tmp_path / "missing.ckpt")
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.ckpt is not a readable generator checkpoint"):
        load_generator(bad)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.w": torch.zeros(1)}, "hyper_parameters": {}}, other)
    with pytest.raises(ValueError, match="holds no generator weights"):
        load_generator(other)


def test_setup_without_stats_explains() -> None:
    model = FoleyGANModule(**SMALL, loss="hinge")
    data = DataLoader(_Mels(), batch_size=4)
    with pytest.raises(RuntimeError, match="mel normaliser is not fitted"):
        _trainer(max_steps=2).fit(model, train_dataloaders=data)
