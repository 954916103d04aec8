"""One bare GAN iteration (D step + G step) built from the networks, and a same-run GEMM peak.

Shared by `bench/bench_gan.py` (CPU fraction of peak) and `bench/gpu_check.py`. It uses the
SAGAN networks, the hinge + 2C losses and Adam directly (no Lightning module), the way
`FoleyGANModule` combines them: D on cat(real, fake) with fake from a no-grad G, then G
through a D whose parameters are frozen, then the EMA generator.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch

from lightning_modules.ema import EMA
from lightning_modules.losses.adversarial import hinge_d, hinge_g
from lightning_modules.losses.contrastive import conditional_contrastive_loss
from lightning_modules.sagan import Discriminator, Generator


@dataclass
class GANIteration:
    """Networks, optimizers and one fixed batch; `step()` runs one D + one G update."""

    width: int = 16
    batch: int = 8
    mel_shape: tuple[int, int] = (80, 344)
    device: str = "cpu"
    autocast_dtype: torch.dtype | None = None
    channels_last: bool | None = None
    seed: int = 0
    g: Generator = field(init=False)
    d: Discriminator = field(init=False)

    def __post_init__(self) -> None:
        torch.manual_seed(self.seed)
        self.g = Generator(num_classes=7, z_dim=128, width=self.width, mel_shape=self.mel_shape)
        self.d = Discriminator(num_classes=7, width=self.width, mel_shape=self.mel_shape,
                               projection=False)
        for net in (self.g, self.d):
            net.to(self.device)
            net.channels_last = self.channels_last  # None: the networks' default (CPU: NHWC)
            if self.channels_last:
                net.to(memory_format=torch.channels_last)  # weights too, as an owner would
        self.ema = EMA(self.g, decay=0.999, start=0)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.real = torch.rand(self.batch, *self.mel_shape, device=self.device) * 2.0 - 1.0
        self.labels = torch.arange(self.batch, device=self.device) % 7
        self.g_steps = torch.zeros((), dtype=torch.long, device=self.device)
        # the callables of each use: G in the G step / no-grad G in the D step, D in the D step /
        # D with frozen parameters in the G step (compile or DDP replace some of them)
        self.g_forward = self.g_sample = self.g
        self.d_forward = self.d_frozen = self.d

    def compile(self, **kwargs) -> GANIteration:
        """Use torch.compile'd G and D forwards (the parameters stay the same objects)."""
        self.g_forward = self.g_sample = torch.compile(self.g, **kwargs)
        self.d_forward = self.d_frozen = torch.compile(self.d, **kwargs)
        return self

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        kind = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(kind, dtype=self.autocast_dtype)

    def _z(self) -> torch.Tensor:
        return torch.randn(self.batch, self.g.z_dim, device=self.device)

    def d_loss(self) -> torch.Tensor:
        with self._autocast():
            with torch.no_grad():
                fake = self.g_sample(self._z(), self.labels)
            out = self.d_forward(torch.cat([self.real, fake.to(self.real.dtype)]),
                                 torch.cat([self.labels, self.labels]))
            logits_real, logits_fake = out["logits"].float().chunk(2)
            n = self.batch
            cond = conditional_contrastive_loss(out["embed"][:n], out["proxy"][:n], self.labels)
            return hinge_d(logits_real, logits_fake) + cond

    def g_loss(self) -> torch.Tensor:
        with self._autocast():
            out = self.d_frozen(self.g_forward(self._z(), self.labels), self.labels)
            cond = conditional_contrastive_loss(out["embed"], out["proxy"], self.labels)
            return hinge_g(out["logits"].float()) + cond

    def step(self) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        self.d_loss().backward()
        self.opt_d.step()
        self.d.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        self.g_loss().backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        self.g_steps += 1
        self.ema.update(self.g, step=self.g_steps)


def reference_form(it: GANIteration) -> GANIteration:
    """Switch `it`'s networks to their reference form: explicit attention, NCHW feature maps,
    the 1x1 shortcuts at the higher resolution (the order the networks are written in)."""
    from lightning_modules.sagan import use_reference_ops

    for net in (it.g, it.d):
        use_reference_ops(net)
    return it


def synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def iteration_flops(it: GANIteration) -> int:
    """FLOPs of one D + G iteration by torch.utils.flop_counter (matmuls and convolutions).

    Counted on a copy whose attention runs in its explicit form (q^T k and v attn^T as bmm),
    so the count is the maths the networks compute, not a fused kernel's padded head; the
    copy's step leaves `it` untouched.
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    probe = reference_form(copy.deepcopy(it))
    probe.g_forward = probe.g_sample = probe.g
    probe.d_forward = probe.d_frozen = probe.d
    counter = FlopCounterMode(display=False)
    with counter:
        probe.step()
    return counter.get_total_flops()


def gemm_gflops(device: str = "cpu", dtype: torch.dtype = torch.float32, n: int = 2048,
                seconds: float = 1.0) -> float:
    """Dense square GEMM (torch.mm, n x n) peak in GFLOP/s: the best of repeated timed blocks.

    n = 2048 on the CPU: MKL reaches more there than at 1024 on the 2-core test machine.
    """
    return gemm_rates(device, dtype, n, seconds)[0]


def gemm_rates(device: str = "cpu", dtype: torch.dtype = torch.float32, n: int = 2048,
               seconds: float = 1.0) -> tuple[float, float]:
    """(best block, sustained over the whole window) GEMM GFLOP/s. On a shared machine the
    sustained rate sees the same load as a workload timed right beside it; the best block
    is the peak the cores give when left alone for a moment."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    synchronize(device)
    best, spent, done, reps = 0.0, 0.0, 0, 1
    while spent < seconds:
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        synchronize(device)
        took = time.perf_counter() - start
        spent, done = spent + took, done + reps
        best = max(best, 2.0 * n**3 * reps / took / 1e9)
        if took < 0.05:
            reps *= 2
    return best, 2.0 * n**3 * done / spent / 1e9


def time_iterations(it: GANIteration, iters: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `iters` timed iterations after `warmup` untimed ones."""
    for _ in range(warmup):
        it.step()
    synchronize(it.device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        it.step()
        synchronize(it.device)
        times.append(time.perf_counter() - start)
    return times
