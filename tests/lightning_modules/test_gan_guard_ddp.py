"""Slow: under 2-process CPU DDP (gloo) a loss that is NaN on one rank only is skipped on both
(the guard's flag is summed over the ranks, so no rank steps or waits alone), and
val/d/overfit_gap sums both ranks' logits to the same figure on each.

The test runs this file as a script (like test_gan_ddp.py)."""

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


def _run_ranks(out_dir: Path) -> None:
    import pytorch_lightning as pl

    from gan_fixtures import SMALL, TinyData
    from lightning_modules.gan import FoleyGANModule

    class NaNOnRankOne:
        def __init__(self, criterion, rank: int) -> None:
            self.criterion, self.rank, self.calls = criterion, rank, 0
            self.needs_source = criterion.needs_source

        def __call__(self, *parts):
            loss = self.criterion(*parts)
            self.calls += 1
            return loss * float("nan") if self.rank == 1 and self.calls == 3 else loss

    class Recording(FoleyGANModule):
        def setup(self, stage: str) -> None:
            super().setup(stage)
            self.criterion = NaNOnRankOne(self.criterion, self.global_rank)

        def on_fit_end(self) -> None:
            metrics = {k: v.clone() for k, v in self.trainer.callback_metrics.items()}
            torch.save({"state": {k: v.clone() for k, v in self.state_dict().items()},
                        "metrics": metrics}, out_dir / f"rank{self.global_rank}.pt")

    pl.seed_everything(0)
    model = Recording(**SMALL, loss="2c", diffaug="translation,cutout", lecam_weight=0.3)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true",
                         max_epochs=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(model, datamodule=TinyData())  # per rank: 1 batch of 4 a epoch, 1 val batch


@pytest.mark.slow
def test_nan_on_one_rank_is_skipped_on_both_and_the_gap_is_global(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(HERE), str(tmp_path)], check=True, timeout=900,
                   env=env, cwd=ROOT)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for rank in ranks:
        assert int(rank["state"]["nonfinite_skips"]) == 1  # batch 2's D update, on both ranks
        assert int(rank["state"]["g_steps"]) == 2
    for name, value in ranks[0]["state"].items():  # no rank stepped alone
        if "running_" not in name:  # BN statistics are each rank's own batches
            assert torch.equal(value, ranks[1]["state"][name]), name
    gaps = [float(rank["metrics"]["val/d/overfit_gap"]) for rank in ranks]
    assert gaps[0] == pytest.approx(gaps[1]) and gaps[0] == gaps[0]


if __name__ == "__main__":
    _run_ranks(Path(sys.argv[1]))
