"""GAN speed: the full-size iteration as a fraction of the same run's GEMM peak; Lightning overhead.

`run()` measures
(1) one bare D + G iteration (`bench.gan_iteration.GANIteration`: the SAGAN networks, hinge +
    2C losses, Adam, the EMA) at 80 x 344, width 16, batch 8, fp32: its FLOPs by
    torch.utils.flop_counter (attention counted in its explicit bmm form, the maths the
    networks compute) over its seconds, divided by a dense fp32 GEMM peak measured in the same
    process right before and after (the higher of the two). Three repeats, the median reported.
    `*_fraction_of_gemm_sustained`: the same against the GEMM's sustained rate over the 2 s
    windows before and after (what the cores gave while the iteration ran: less disturbed by
    other jobs on a shared machine than the best-block peak).
    The same for the reference form of the networks (explicit attention, NCHW maps: the code
    before the speed work), interleaved, so the gain is measured on the same machine load.
    On the CPU also both fractions on one thread by process CPU time (`*_1thread_*`): the
    figure a loaded, shared machine disturbs least.
(2) at a small width, the per-batch time of `pl.Trainer.fit(FoleyGANModule)` (a callback times
    each batch; start-up and the first batches excluded) divided by the time of a bare loop
    doing the same updates (target <= 1.10).
`quick=True` uses tiny sizes and one repeat.
"""

from __future__ import annotations

import json
import statistics
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from bench.gan_iteration import (
    GANIteration,
    gemm_rates,
    iteration_flops,
    reference_form,
    time_iterations,
)


def _fraction_once(it: GANIteration, flops: int, iters: int) -> dict:
    before = gemm_rates(seconds=2.0)
    seconds = statistics.median(time_iterations(it, iters, warmup=0))
    after = gemm_rates(seconds=2.0)
    peak, sustained = max(before[0], after[0]), (before[1] + after[1]) / 2
    rate = flops / seconds / 1e9
    return {"seconds": seconds, "gflops": rate, "peak_gflops": peak, "fraction": rate / peak,
            "sustained_gflops": sustained, "fraction_sustained": rate / sustained}


def iteration_fractions(width: int, batch: int, mel_shape: tuple[int, int], repeats: int,
                        iters: int) -> dict:
    """Fraction of the same-run GEMM peak, fast (as shipped) and reference form, interleaved."""
    runs = {"fast": GANIteration(width=width, batch=batch, mel_shape=mel_shape),
            "reference": reference_form(GANIteration(width=width, batch=batch,
                                                     mel_shape=mel_shape))}
    flops = iteration_flops(runs["reference"])  # the explicit form: the maths, not a kernel's
    for it in runs.values():
        it.step()  # warm-up (oneDNN primitives, allocator)
    samples: dict[str, list[dict]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, it in runs.items():
            samples[name].append(_fraction_once(it, flops, iters))
    out = {"gan_iter_gflop": round(flops / 1e9, 2),
           "gan_iter_config": f"width {width}, mel {tuple(mel_shape)}, batch {batch}, fp32"}
    for name, rows in samples.items():
        middle = sorted(rows, key=lambda r: r["fraction"])[len(rows) // 2]
        out[f"gan_iter_{name}_fraction_of_gemm_peak"] = round(middle["fraction"], 3)
        out[f"gan_iter_{name}_s"] = round(middle["seconds"], 3)
        out[f"gan_iter_{name}_gflops"] = round(middle["gflops"], 1)
        out[f"gan_iter_{name}_peak_gflops"] = round(middle["peak_gflops"], 1)
        out[f"gan_iter_{name}_fractions"] = [round(r["fraction"], 3) for r in rows]
        sustained = sorted(r["fraction_sustained"] for r in rows)[len(rows) // 2]
        out[f"gan_iter_{name}_fraction_of_gemm_sustained"] = round(sustained, 3)
    out["gan_iter_speedup"] = round(out["gan_iter_reference_s"] / out["gan_iter_fast_s"], 2)
    if not str(runs["fast"].device).startswith("cuda"):
        out.update(one_thread_cpu_time_fractions(runs, flops))
    return out


def _cpu_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def one_thread_cpu_time_fractions(runs: dict[str, GANIteration], flops: int,
                                  repeats: int = 2) -> dict:
    """The same fractions on one thread by process CPU time: what a shared, loaded machine
    leaves of a wall-clock figure (CPU time does not count the time other jobs hold the core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        peak = 2 * 2048**3 / _cpu_seconds(lambda: torch.mm(a, b), 5) / 1e9
        out = {"gan_iter_1thread_gemm_peak_gflops": round(peak, 1)}
        for name, it in runs.items():
            seconds = _cpu_seconds(it.step, repeats)
            out[f"gan_iter_{name}_1thread_cpu_s"] = round(seconds, 3)
            out[f"gan_iter_{name}_1thread_fraction"] = round(flops / seconds / 1e9 / peak, 3)
    finally:
        torch.set_num_threads(threads)
    return out


def _module(width: int, mel_shape: tuple[int, int]):
    from lightning_modules.gan import FoleyGANModule

    model = FoleyGANModule(loss="2c", g_width=width, d_width=width, mel_shape=mel_shape,
                           ema_start=0)
    model.mel_norm.fit({"min": torch.full((mel_shape[0],), -12.0),
                        "max": torch.full((mel_shape[0],), 2.0)})
    return model


def _bare_iteration(model, opts, mel: torch.Tensor, labels: torch.Tensor) -> None:
    """The same D and G updates as FoleyGANModule, without Lightning."""
    from lightning_modules.losses.adversarial import hinge_d, hinge_g
    from lightning_modules.losses.contrastive import conditional_contrastive_loss

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
    model.g_ema.update(g, step=model.g_steps)


def _batch(batch: int, mel_shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(batch, *mel_shape) * 14.0 - 12.0, torch.arange(batch) % 7


def bare_seconds(width: int, mel_shape: tuple[int, int], batch: int, iters: int,
                 warmup: int = 1) -> list[float]:
    """Seconds of each timed bare D + G iteration of FoleyGANModule's networks."""
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
    full = dict(width=4, mel_shape=(80, 86), batch=2) if quick else \
        dict(width=16, mel_shape=(80, 344), batch=8)
    small = dict(width=4, mel_shape=(80, 86), batch=4) if quick else \
        dict(width=16, mel_shape=(80, 86), batch=16)
    out = iteration_fractions(**full, repeats=1 if quick else 3, iters=1 if quick else 2)
    iters = 2 if quick else 6
    bare = statistics.median(bare_seconds(**small, iters=iters))
    lightning = statistics.median(lightning_seconds(**small, iters=iters))
    out.update({
        "gan_small_bare_s_per_iter": bare,
        "gan_small_lightning_s_per_iter": lightning,
        "gan_lightning_overhead_ratio": lightning / bare,
        "gan_small_config": f"width {small['width']}, mel {small['mel_shape']}, "
                            f"batch {small['batch']}",
        "threads": torch.get_num_threads(),
    })
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
