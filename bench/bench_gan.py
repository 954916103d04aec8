"""GAN speed: seconds per (D + G) iteration, and Lightning's overhead over a bare loop.

`run()` measures (1) a bare D + G iteration of the full-size SAGAN (width 64, 80 x 344,
batch 16) after a warm-up, and (2) at a small width, the per-batch time of
`pl.Trainer.fit(FoleyGANModule)` (a callback times each batch; start-up and the first batches
excluded) divided by the time of a bare PyTorch loop doing the same updates (target <= 1.10).
Medians, so a busy machine disturbs the figures less. `quick=True` uses tiny sizes.
"""

from __future__ import annotations

import json
import statistics
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.gan import FoleyGANModule
from lightning_modules.losses.adversarial import hinge_d, hinge_g
from lightning_modules.losses.contrastive import conditional_contrastive_loss


def _module(width: int, mel_shape: tuple[int, int]) -> FoleyGANModule:
    model = FoleyGANModule(loss="2c", g_width=width, d_width=width, mel_shape=mel_shape,
                           ema_start=0)
    model.mel_norm.fit({"min": torch.full((mel_shape[0],), -12.0),
                        "max": torch.full((mel_shape[0],), 2.0)})
    return model


def _bare_iteration(model: FoleyGANModule, opts, mel: torch.Tensor, labels: torch.Tensor) -> None:
    """The same D and G updates as FoleyGANModule, without Lightning."""
    g, d, opt_g, opt_d = model.generator, model.discriminator, opts[0], opts[1]
    real = model.mel_norm.normalize(mel)
    n = labels.shape[0]
    with torch.no_grad():
        fake = g(torch.randn(n, g.z_dim), labels)
    out = d(torch.cat([real, fake]), torch.cat([labels, labels]))
    logits_real, logits_fake = out["logits"].chunk(2)
    cond = conditional_contrastive_loss(out["embed"][:n], out["proxy"][:n], labels)
    opt_d.zero_grad()
    (hinge_d(logits_real, logits_fake) + cond).backward()
    opt_d.step()
    d.requires_grad_(False)
    out = d(g(torch.randn(n, g.z_dim), labels), labels)
    loss = hinge_g(out["logits"]) + conditional_contrastive_loss(out["embed"], out["proxy"], labels)
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    d.requires_grad_(True)
    model.g_steps += 1
    model.g_ema.update(g, step=int(model.g_steps))


def _batch(batch: int, mel_shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(batch, *mel_shape) * 14.0 - 12.0, torch.arange(batch) % 7


def bare_seconds(width: int, mel_shape: tuple[int, int], batch: int, iters: int,
                 warmup: int = 1) -> list[float]:
    """Seconds of each timed bare D + G iteration."""
    model = _module(width, mel_shape)
    opts = model.configure_optimizers()
    mel, labels = _batch(batch, mel_shape)
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        _bare_iteration(model, opts, mel, labels)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


class _BatchTimer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._start)


def lightning_seconds(width: int, mel_shape: tuple[int, int], batch: int, iters: int,
                      warmup: int = 1) -> list[float]:
    """Seconds of each timed Lightning training batch (1 D + 1 G step), start-up excluded."""
    model = _module(width, mel_shape)
    mel, labels = _batch(batch, mel_shape)
    data = TensorDataset(mel.repeat(warmup + iters, 1, 1), labels.repeat(warmup + iters))
    loader = DataLoader(data, batch_size=batch, collate_fn=lambda rows: {
        "mel": torch.stack([r[0] for r in rows]), "label": torch.stack([r[1] for r in rows])})
    timer = _BatchTimer()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[timer], log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=loader)
    return timer.times[warmup:]


def run(quick: bool = False) -> dict:
    full = dict(width=8, mel_shape=(80, 86), batch=4) if quick else \
        dict(width=64, mel_shape=(80, 344), batch=16)
    small = dict(width=4, mel_shape=(80, 86), batch=4) if quick else \
        dict(width=16, mel_shape=(80, 86), batch=16)
    iters = 2 if quick else 6
    full_times = bare_seconds(**full, iters=1 if quick else 2)
    bare = statistics.median(bare_seconds(**small, iters=iters))
    lightning = statistics.median(lightning_seconds(**small, iters=iters))
    return {
        "gan_full_s_per_iter": statistics.median(full_times),
        "gan_full_config": f"width {full['width']}, mel {full['mel_shape']}, batch {full['batch']}",
        "gan_small_bare_s_per_iter": bare,
        "gan_small_lightning_s_per_iter": lightning,
        "gan_lightning_overhead_ratio": lightning / bare,
        "gan_small_config": f"width {small['width']}, mel {small['mel_shape']}, "
                            f"batch {small['batch']}",
        "threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
