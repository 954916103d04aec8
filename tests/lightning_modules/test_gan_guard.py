"""FoleyGANModule's divergence guard: a non-finite loss skips its update (parameters, EMA, Adam
state and LeCam anchors untouched), is counted, and K in a row stop the run with a message."""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from conftest import make_cpu_trainer
from gan_fixtures import SMALL, TinyData
from lightning_modules.gan import FoleyGANModule
from lightning_modules.gan_guard import NonFiniteGuard, NonFiniteLossError, checkpoint_note

pytestmark = pytest.mark.usefixtures("one_thread")


class _NaNCriterion:
    """The module's l_C, returning NaN on the calls listed (0-based; D step then G step per
    batch with d_steps_per_g_step = 1), or on every call from `from_call` on."""

    def __init__(self, criterion, calls=(), from_call: int | None = None) -> None:
        self.criterion, self.calls, self.from_call, self.count = criterion, set(calls), from_call, 0
        self.needs_source = criterion.needs_source

    def __call__(self, *parts):
        loss = self.criterion(*parts)
        i, self.count = self.count, self.count + 1
        if i in self.calls or (self.from_call is not None and i >= self.from_call):
            return loss * float("nan")
        return loss


def _model(calls=(), from_call=None, **options) -> FoleyGANModule:
    torch.manual_seed(0)
    model = FoleyGANModule(**SMALL, loss="2c", **options)
    model.criterion = _NaNCriterion(model.criterion, calls, from_call)
    return model


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    return make_cpu_trainer(**{"limit_val_batches": 0, "default_root_dir": tmp_path, **kwargs})


def _snapshot(trainer: pl.Trainer, model: FoleyGANModule) -> dict:
    return copy.deepcopy({
        "g": dict(model.generator.named_parameters()),
        "d": dict(model.discriminator.named_parameters()),
        "ema": model.g_ema.state_dict(), "lecam": model.lecam.state_dict(),
        "opt_g": trainer.optimizers[0].state_dict(), "opt_d": trainer.optimizers[1].state_dict(),
        "gap": model.logit_gap.train_sums,
    })


class _Around(pl.Callback):
    """Snapshots of the state before and after training batch `index`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.fit_loop.total_batch_idx == self.index:
            self.before = _snapshot(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.fit_loop.total_batch_idx == self.index:
            self.after = _snapshot(trainer, pl_module)
            self.grads = {name: [p.grad for p in net.parameters()] for name, net in
                          (("D", pl_module.discriminator), ("G", pl_module.generator))}


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


@pytest.mark.parametrize(
    ("nan_call", "skipped", "kept"),
    [(3, "G", ("g", "ema", "opt_g")), (2, "D", ("d", "lecam", "opt_d", "gap"))],
    ids=["g_step", "d_step"],
)
def test_a_nan_update_is_skipped_and_counted(tmp_path, nan_call, skipped, kept) -> None:
    model = _model(calls=[nan_call], lecam_weight=0.3)
    around = _Around(index=1)  # calls 2 and 3 are batch 1's D and G steps
    trainer = _trainer(tmp_path, max_epochs=2, callbacks=[around])  # 2 epochs x 2 batches
    trainer.fit(model, datamodule=TinyData())
    assert int(model.nonfinite_skips) == 1
    assert trainer.global_step == 4 * 2 - 1  # the skipped update is no optimizer step
    assert int(model.g_steps) == (3 if skipped == "G" else 4)
    assert float(trainer.callback_metrics["train/nonfinite_skips"]) == 1.0
    for name in ("g", "d", "ema", "lecam", "opt_g", "opt_d", "gap"):
        untouched = _same(around.before[name], around.after[name])
        assert untouched == (name in kept), name
    for p in [*model.generator.parameters(), *model.discriminator.parameters()]:
        assert bool(torch.isfinite(p).all())
    assert all(grad is None for grad in around.grads[skipped])  # zeroed (set to None)


def test_without_the_guard_a_nan_step_poisons_the_networks(tmp_path) -> None:
    model = _model(calls=[2], guard_nonfinite=False)
    _trainer(tmp_path, max_epochs=1).fit(model, datamodule=TinyData())
    assert int(model.nonfinite_skips) == 0
    assert not all(bool(torch.isfinite(p).all()) for p in model.discriminator.parameters())


def test_k_nan_updates_in_a_row_stop_the_run_with_where_and_why(tmp_path) -> None:
    model = _model(from_call=2, max_nonfinite_skips=3)  # D1, G1, D2 skipped: stop at D2
    with pytest.raises(NonFiniteLossError) as stop:
        _trainer(tmp_path, max_epochs=3).fit(model, datamodule=TinyData())
    message = str(stop.value)
    assert "3 updates in a row had a non-finite D and G loss" in message
    assert "the last: the D loss at global step 2, G step 1" in message
    assert "cond (nan)" in message
    assert "adv" not in message.split("terms:")[1].split(".")[0]  # adv stayed finite
    assert "no checkpoint written yet" in message
    assert int(model.nonfinite_skips) == 3


def test_the_stop_message_names_the_last_checkpoint(tmp_path) -> None:
    model = _model(from_call=2, max_nonfinite_skips=2)
    last = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0,
                           every_n_train_steps=1)
    where = r"the last: the G loss .* G step 1.*last checkpoint is .*ckpt/last\.ckpt \(finite"
    with pytest.raises(NonFiniteLossError, match=where):
        _trainer(tmp_path, max_epochs=3, callbacks=[last],
                 enable_checkpointing=True).fit(model, datamodule=TinyData())
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert all(bool(torch.isfinite(v).all()) for v in saved["state_dict"].values()
               if v.is_floating_point())


def test_zero_never_stops(tmp_path) -> None:
    model = _model(from_call=2, max_nonfinite_skips=0)
    _trainer(tmp_path, max_epochs=2).fit(model, datamodule=TinyData())
    assert int(model.nonfinite_skips) == 6  # batches 1-3, D and G each


def test_guard_parts() -> None:
    guard = NonFiniteGuard(max_consecutive=2)
    assert NonFiniteGuard.finite(torch.tensor(1.5))
    assert not NonFiniteGuard.finite(torch.tensor(float("inf")))
    terms = {"adv": torch.tensor(1.0), "lecam": torch.tensor(float("nan"))}
    guard.skipped("D", terms, None, 0)
    guard.passed()  # a finite update in between: the streak starts again
    guard.skipped("D", terms, None, 0)
    with pytest.raises(NonFiniteLossError, match=r"non-finite terms: lecam \(nan\)"):
        guard.skipped("D", terms, None, 0)
    with pytest.raises(ValueError, match="max_nonfinite_skips must be >= 0"):
        NonFiniteGuard(-1)
    assert checkpoint_note(None) == "no checkpoint written yet"
