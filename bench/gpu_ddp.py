"""A data-parallel GAN iteration on 2 processes (NCCL on 2 GPUs; gloo on the CPU for tests).

G and D are wrapped in DistributedDataParallel separately and each is called through its
wrapper only where its parameters train: D's wrapper in the D step (G samples through the bare
module under no_grad), G's wrapper in the G step (D, frozen, through the bare module). Every
backward then reduces exactly the parameters it produced gradients for, so no unused-parameter
search is needed.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_gap(params: list[torch.Tensor]) -> float:
    """Largest |p - p on rank 0| over all parameters: 0 when the ranks stayed in step."""
    flat = torch.cat([p.detach().flatten().float() for p in params])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    gap = (flat - reference).abs().max()
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return float(gap)


def _worker(rank: int, world: int, backend: str, cfg: dict, port: int, out: str) -> None:
    from torch.nn.parallel import DistributedDataParallel as DDP

    from bench.gan_iteration import GANIteration, time_iterations

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        device = f"cuda:{rank}" if backend == "nccl" else "cpu"
        if backend == "nccl":
            torch.cuda.set_device(rank)
        # a different seed per rank: different data and noise (the weights are broadcast by DDP)
        it = GANIteration(width=cfg["width"], batch=cfg["batch"], mel_shape=tuple(cfg["mel_shape"]),
                          device=device, autocast_dtype=cfg.get("autocast_dtype"), seed=rank)
        ids = [rank] if backend == "nccl" else None
        it.g_forward = DDP(it.g, device_ids=ids)  # G step: reduces G's gradients
        it.d_forward = DDP(it.d, device_ids=ids)  # D step: reduces D's gradients
        times = time_iterations(it, cfg["iters"], warmup=cfg["warmup"])
        gap = _rank_gap([*it.g.parameters(), *it.d.parameters()])
        if rank == 0:
            Path(out).write_text(json.dumps({"times": times, "max_param_gap": gap}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def ddp_iteration(world: int = 2, backend: str = "nccl", width: int = 64, batch: int = 64,
                  mel_shape: tuple[int, int] = (80, 344), iters: int = 5, warmup: int = 2,
                  autocast_dtype: torch.dtype | None = None) -> dict:
    """Median seconds of a DDP D + G iteration, `batch` per process, on `world` processes."""
    cfg = dict(width=width, batch=batch, mel_shape=list(mel_shape), iters=iters, warmup=warmup,
               autocast_dtype=autocast_dtype)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "rank0.json")
        mp.spawn(_worker, args=(world, backend, cfg, _free_port(), out), nprocs=world, join=True)
        result = json.loads(Path(out).read_text())
    seconds = statistics.median(result["times"])
    return {
        "world_size": world,
        "backend": backend,
        "s_per_iter": round(seconds, 4),
        "iters_per_s": round(1.0 / seconds, 3),
        "samples_per_s": round(world * batch / seconds, 1),
        "max_param_gap_between_ranks": result["max_param_gap"],
        "config": f"width {width}, batch {batch} per process, mel {tuple(mel_shape)}, "
                  f"{'bf16 autocast' if autocast_dtype == torch.bfloat16 else 'fp32'}",
    }
