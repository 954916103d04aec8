"""FoleyGANModule's speed options: no host-device sync in training_step (the guard's one
documented read aside), channels-last, bf16-mixed on CPU with l_C in float32, torch.compile."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import lightning_modules
from conftest import make_cpu_trainer
from gan_fixtures import SHAPE, SMALL, TinyData
from lightning_modules.gan import FoleyGANModule
from lightning_modules.mel_norm import MelNormalizer

pytestmark = pytest.mark.usefixtures("one_thread")
OURS, TORCH = str(Path(lightning_modules.__file__).parent), str(Path(torch.__file__).parent)
READS = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__", "__float__",
         "__index__")


class HostReads:
    """Tensor methods that read a value back to the host, counted while `active` when the
    nearest caller outside torch is a file under lightning_modules/ (so Lightning's logging,
    optimizers and clipping are not counted, the module's own code and its helpers are)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.active = False
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))

    def _wrap(self, name: str, original):
        def counted(tensor, *args, **kwargs):
            if self.active:
                frame = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename.startswith(TORCH):
                    frame = frame.f_back
                if frame is not None and frame.f_code.co_filename.startswith(OURS):
                    code = frame.f_code
                    self.calls.append((name, Path(code.co_filename).name, code.co_name))
            return original(tensor, *args, **kwargs)
        return counted

    def during_training_step(self, model: pl.LightningModule) -> None:
        step = model.training_step

        def counted_step(*args, **kwargs):
            self.active = True
            try:
                return step(*args, **kwargs)
            finally:
                self.active = False
        model.training_step = counted_step


OPTIONS = dict(loss="2c", diffaug="translation,cutout", lecam_weight=0.3, cond_warmup_steps=5,
               grad_clip=1.0, d_steps_per_g_step=2)


def test_the_counter_sees_a_host_read_in_lightning_modules(monkeypatch) -> None:
    reads = HostReads(monkeypatch)
    reads.active = True
    assert MelNormalizer(4).is_fitted is False  # bool(self.fitted) in mel_norm.py
    assert reads.calls == [("__bool__", "mel_norm.py", "is_fitted")]


@pytest.mark.parametrize("guard", [False, True], ids=["guard_off", "guard_on"])
def test_training_step_reads_nothing_back_but_the_guard(monkeypatch, tmp_path, guard) -> None:
    model = FoleyGANModule(**SMALL, **OPTIONS, guard_nonfinite=guard)
    reads = HostReads(monkeypatch)
    reads.during_training_step(model)
    trainer = make_cpu_trainer(max_steps=6, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=TinyData())
    assert int(model.g_steps) == 2 and float(model.lecam.ema_real) != 0.0  # it all ran
    expected = [("__bool__", "gan_guard.py", "finite")] * 6 if guard else []
    assert reads.calls == expected  # one read per optimizer update (2 x (2 D + 1 G)), or none


def test_channels_last_option_lays_out_weights_and_computes_the_same(tmp_path) -> None:
    torch.manual_seed(0)
    plain = FoleyGANModule(**SMALL, loss="2c")
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c", channels_last=True)
    conv = model.discriminator.blocks[1].conv1.parametrizations.weight.original
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert model.generator.channels_last is True and model.g_ema.module.channels_last is True
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    plain.eval(), model.eval()
    with torch.no_grad():
        fake = model.generator(z, labels)
        assert torch.allclose(fake, plain.generator(z, labels), atol=1e-5)
        out, ref = model.discriminator(fake, labels), plain.discriminator(fake, labels)
    for key in ("logits", "embed", "proxy"):
        assert torch.allclose(out[key], ref[key], atol=1e-4), key
    model.train()
    trainer = make_cpu_trainer(max_steps=4, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=TinyData())
    assert math.isfinite(float(trainer.callback_metrics["train/g/loss"]))
    path = tmp_path / "cl.ckpt"
    trainer.save_checkpoint(path)
    loaded = FoleyGANModule.load_from_checkpoint(path, map_location="cpu")
    assert torch.equal(loaded.generator.linear.parametrizations.weight.original,
                       model.generator.linear.parametrizations.weight.original)


class _Dtypes:
    """The module's l_C, recording its inputs' dtypes and whether autocast was on inside."""

    def __init__(self, criterion) -> None:
        self.criterion, self.needs_source, self.seen = criterion, criterion.needs_source, []

    def __call__(self, *parts):
        self.seen.append(([p.dtype for p in parts], torch.is_autocast_enabled("cpu")))
        return self.criterion(*parts)


def test_bf16_mixed_fit_on_cpu_keeps_the_losses_in_float32(tmp_path) -> None:
    model = FoleyGANModule(**SMALL, loss="2c", diffaug="translation,cutout", lecam_weight=0.3)
    model.criterion = _Dtypes(model.criterion)
    outputs = []
    forward = model.discriminator.forward
    model.discriminator.forward = lambda *a: outputs.append(forward(*a)) or outputs[-1]
    trainer = make_cpu_trainer(max_steps=4, limit_val_batches=1, val_check_interval=2,
                               precision="bf16-mixed", default_root_dir=tmp_path)
    trainer.fit(model, datamodule=TinyData())
    assert outputs[0]["embed"].dtype == torch.bfloat16  # D really ran under autocast
    float32 = [torch.float32, torch.float32, torch.long]
    assert model.criterion.seen and all(seen == (float32, False) for seen in model.criterion.seen)
    for key in ("train/d/loss", "train/d/lecam", "train/g/loss", "val/d/overfit_gap"):
        value = trainer.callback_metrics[key]
        assert value.dtype == torch.float32 and math.isfinite(float(value)), key
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.slow  # inductor compiles G and D for eval and for both training phases: minutes
def test_compiled_forwards_agree_with_eager(tmp_path) -> None:
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c", compile=True)
    model.mel_norm.fit(TinyData().mel_stats())
    gen, disc = model._nets()
    assert gen is not model.generator and gen._orig_mod is model.generator
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    model.eval()
    with torch.no_grad():
        fake = gen(z, labels)
        assert torch.allclose(fake, model.generator(z, labels), atol=1e-5)
        out, ref = disc(fake, labels), model.discriminator(fake, labels)
    for key in ("logits", "embed", "proxy"):
        assert torch.allclose(out[key], ref[key], atol=1e-4), key
    model.train()
    logs = {}
    for compiled in (True, False):
        torch.manual_seed(0)
        fit = FoleyGANModule(**SMALL, loss="2c", compile=compiled)
        trainer = make_cpu_trainer(max_steps=4, limit_val_batches=0, default_root_dir=tmp_path)
        trainer.fit(fit, datamodule=TinyData())
        logs[compiled] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for key, value in logs[False].items():
        assert logs[True][key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
    assert "_orig_mod" not in "".join(fit.state_dict())  # the checkpoint keys stay the same
    assert SHAPE == tuple(fake.shape[1:])
