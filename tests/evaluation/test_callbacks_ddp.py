"""Slow: 2-process CPU DDP (gloo) validation with DiversityCallback and ProbeCallback.

The test runs this file as a script: `trainer.validate` on 2 ranks, each with half of the
validation clips (DistributedSampler, no shuffling, no padding). Each rank saves what it logged.
The figures must be the same on both ranks and equal to the ones computed from ALL clips: the
probe's counts are summed over ranks (rank 0 sees 4 of the 5 misread clips, rank 1 one), the
diversity banks are gathered (a per-rank figure would use half the pairs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

# rank 0 gets items 0, 2, 4, ...: labels 1 1 1 1 0 2; rank 1 gets 0 2 0 2 1 0
LABELS = [1, 0, 1, 2, 1, 0, 1, 2, 0, 1, 2, 0]
LEVELS = (0.0, 100.0, 10.0)  # class B's level is far away: every B is read as C


def _items() -> list[dict]:
    g = torch.Generator().manual_seed(3)
    return [{"mel": torch.randn(6, 10, generator=g) * (1 + label), "label": torch.tensor(label)}
            for label in LABELS]


def _run_ranks(out_dir: Path) -> None:
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from evaluation.diversity import DiversityCallback
    from evaluation.probe_callback import ProbeCallback
    from generator_stub import LevelEncoder, StubGenerator

    module = StubGenerator(encoder=LevelEncoder(LEVELS), noise=0.0)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[DiversityCallback(n_per_class=16), ProbeCallback()])
    trainer.validate(module, DataLoader(_items(), batch_size=3), verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    seen = torch.cat([labels for labels, _ in module.calls]).tolist()
    torch.save({"metrics": metrics, "seen": seen}, out_dir / f"rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_figures_are_global_and_equal_on_every_rank(tmp_path: Path) -> None:
    from evaluation.diversity import mean_pairwise_rms

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(HERE), str(tmp_path)], check=True, timeout=600,
                   env=env, cwd=ROOT)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert sorted(ranks[0]["seen"]) != sorted(ranks[1]["seen"])  # each rank had its own share
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    metrics = ranks[0]["metrics"]
    assert metrics["val/probe/acc"] == pytest.approx(7 / 12)  # 5 of the 12 clips are B
    assert (metrics["val/probe/acc/A"], metrics["val/probe/acc/B"]) == (1.0, 0.0)
    items = _items()
    for c, name in enumerate(["A", "B", "C"]):
        real = torch.stack([it["mel"] for it in items if int(it["label"]) == c])
        assert metrics[f"val/diversity/{name}/real"] == pytest.approx(mean_pairwise_rms(real))
        assert metrics[f"val/diversity/{name}/fake"] == 0.0  # noise 0: one mel per class
    assert metrics["val/diversity/mean_ratio"] == 0.0


if __name__ == "__main__":
    _run_ranks(Path(sys.argv[1]))
