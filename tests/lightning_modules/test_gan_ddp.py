"""Slow: 2-process CPU DDP (gloo) computes the contrastive loss over the global batch.

The test runs this file as a script: a Lightning DDP fit (strategy
`ddp_find_unused_parameters_true`, per ENVIRONMENT.md) whose module records, at the first D
step, the 2C loss and its gradient w.r.t. D on each rank. One process then recomputes both on
the concatenated global batch: the losses must agree on every rank, and the rank-averaged
gradient (what DDP applies) must equal the single-process gradient.
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


def _d_params(module) -> list[torch.Tensor]:
    return [p for p in module.discriminator.parameters() if p.requires_grad]


def _run_ranks(out_dir: Path) -> None:
    import pytorch_lightning as pl

    from gan_fixtures import SMALL, TinyData
    from lightning_modules.gan import FoleyGANModule

    class Recording(FoleyGANModule):
        def training_step(self, batch, batch_idx):
            if batch_idx == 0:
                self._record = {"mel": batch["mel"].clone(), "labels": batch["label"].clone(),
                                "d_state": {k: v.clone() for k, v in self.state_dict().items()}}
            return super().training_step(batch, batch_idx)

        def _cond_loss(self, out, labels, source):
            loss = super()._cond_loss(out, labels, source)
            rec = getattr(self, "_record", None)
            if rec is not None and "loss" not in rec:  # first call: the D step on real data
                params = _d_params(self)
                grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                rec["loss"] = loss.detach().clone()
                rec["grads"] = [torch.zeros_like(p) if g is None else g for p, g in
                                zip(params, grads, strict=True)]
                torch.save(rec, out_dir / f"rank{self.global_rank}.pt")
            return loss

    pl.seed_everything(0)
    model = Recording(**SMALL, loss="2c", use_labels=True)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true",
                         max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0)
    trainer.fit(model, datamodule=TinyData())


@pytest.mark.slow
def test_ddp_loss_and_gradient_match_one_process(tmp_path: Path) -> None:
    from gan_fixtures import SMALL
    from lightning_modules.gan import FoleyGANModule
    from lightning_modules.losses.contrastive import conditional_contrastive_loss

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(HERE), str(tmp_path)], check=True, timeout=900,
                   env=env, cwd=ROOT)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert not torch.equal(ranks[0]["mel"], ranks[1]["mel"])  # each rank got its own share
    assert torch.allclose(ranks[0]["loss"], ranks[1]["loss"], rtol=1e-6)

    single = FoleyGANModule(**SMALL, loss="2c", use_labels=True)
    single.load_state_dict(ranks[0]["d_state"])
    mel = torch.cat([r["mel"] for r in ranks])
    labels = torch.cat([r["labels"] for r in ranks])
    out = single.discriminator(single.mel_norm.normalize(mel), labels)
    loss = conditional_contrastive_loss(out["embed"], out["proxy"], labels, None,
                                        0.1, 1.0, use_labels=True)
    assert loss.item() == pytest.approx(ranks[0]["loss"].item(), rel=1e-5)
    params = _d_params(single)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g, g0, g1 in zip(params, grads, ranks[0]["grads"], ranks[1]["grads"], strict=True):
        want = torch.zeros_like(p) if g is None else g
        assert torch.allclose((g0 + g1) / 2, want, atol=1e-6, rtol=1e-4)


if __name__ == "__main__":
    _run_ranks(Path(sys.argv[1]))
