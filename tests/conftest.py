"""Shared test set-up: CPU only, deterministic, offline, quiet."""

from __future__ import annotations

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture()
def one_thread():
    """Tiny convs gain nothing from threads and slow down ~10x on a shared, loaded CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_cpu_trainer(**kwargs):
    """A quiet single-process CPU Trainer (no logger, checkpoints, bars or summary) for tests.

    Keyword arguments override the defaults (e.g. `max_steps=4`, `logger=...`, `callbacks=[...]`).
    """
    import pytorch_lightning as pl

    options = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False,
                   num_sanity_val_steps=0)
    options.update(kwargs)
    return pl.Trainer(**options)


@pytest.fixture()
def cpu_trainer():
    """The factory `make_cpu_trainer(**overrides) -> pl.Trainer`, as a fixture."""
    return make_cpu_trainer


def run_gloo_ranks(worker, world: int = 2, timeout: float = 180.0) -> dict:
    """Spawn `world` processes running `worker(rank, world, port, queue)` (a module-level
    function that puts (rank, result) on the queue); -> {rank: result}, each exit code 0."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=timeout) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, f"rank process exited with {p.exitcode}"
    return results
