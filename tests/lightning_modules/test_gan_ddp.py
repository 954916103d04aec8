"""Slow: 2-process CPU DDP (gloo) computes the contrastive loss over the global batch.

The test runs this file as a script: a Lightning DDP fit (strategy
`ddp_find_unused_parameters_true`, or GanDDPStrategy: G and D wrapped separately) whose module
records, at the first D step, the 2C loss and its gradient w.r.t. D on each rank. One process
then recomputes both on the concatenated global batch: the losses must agree on every rank, and
the rank-averaged gradient (what DDP applies) must equal the single-process gradient. The module
also records, at the first D and the first G update, each rank's local gradient of the whole
loss and the gradient the optimizer then sees: the latter must be the rank average of the former
on both ranks, and after the fit both ranks hold the same G and D parameters (buffers such
as G's batch-norm statistics follow each rank's own last forward).
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


def _run_ranks(out_dir: Path, strategy_name: str, loss_name: str) -> None:
    import pytorch_lightning as pl

    from gan_fixtures import SMALL, TinyData
    from lightning_modules.gan import FoleyGANModule
    from lightning_modules.gan_ddp import GanDDPStrategy

    class Recording(FoleyGANModule):
        def training_step(self, batch, batch_idx):
            if batch_idx == 0:
                self._record = {"mel": batch["mel"].clone(), "labels": batch["label"].clone(),
                                "d_state": {k: v.clone() for k, v in self.state_dict().items()}}
            return super().training_step(batch, batch_idx)

        def _cond_loss(self, out, labels, source):
            loss = super()._cond_loss(out, labels, source)
            rec = getattr(self, "_record", None)
            if rec is not None and "loss" not in rec and self.criterion is not None:  # 1st: D step
                params = _d_params(self)
                grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                rec["loss"] = loss.detach().clone()
                rec["grads"] = [torch.zeros_like(p) if g is None else g for p, g in
                                zip(params, grads, strict=True)]
            return loss

        def _optimize(self, opt, loss, which, terms):
            rec = getattr(self, "_record", None)
            if rec is None or which in rec:
                return super()._optimize(opt, loss, which, terms)
            params = [p for group in opt.param_groups for p in group["params"]]
            local = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            applied = super()._optimize(opt, loss, which, terms)
            rec[which] = {"local": [torch.zeros_like(p) if g is None else g.clone()
                                    for p, g in zip(params, local, strict=True)],
                          "applied": [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                      for p in params]}
            return applied

        def on_train_end(self) -> None:
            self._record["final"] = {k: v.detach().clone() for k, v in self.named_parameters()
                                     if k.startswith(("generator.", "discriminator."))}
            torch.save(self._record, out_dir / f"rank{self.global_rank}.pt")

    pl.seed_everything(0)
    model = Recording(**SMALL, loss=loss_name, use_labels=True)
    strategy = GanDDPStrategy() if strategy_name == "gan_ddp" else strategy_name
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=strategy,
                         max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0)
    trainer.fit(model, datamodule=TinyData())


def _fit_ranks(tmp_path: Path, strategy_name: str, loss_name: str) -> list[dict]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(HERE), str(tmp_path), strategy_name, loss_name],
                   check=True, timeout=900, env=env, cwd=ROOT)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert not torch.equal(ranks[0]["mel"], ranks[1]["mel"])  # each rank got its own share
    for which in ("D", "G"):  # what each optimizer steps on is the rank average
        for g0, g1, a0, a1 in zip(ranks[0][which]["local"], ranks[1][which]["local"],
                                  ranks[0][which]["applied"], ranks[1][which]["applied"],
                                  strict=True):
            assert torch.allclose(a0, (g0 + g1) / 2, atol=1e-6, rtol=1e-4), which
            assert torch.equal(a0, a1), which
    final = [r["final"] for r in ranks]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])
    return ranks


@pytest.mark.slow
@pytest.mark.parametrize("strategy_name", ["ddp_find_unused_parameters_true", "gan_ddp"])
def test_ddp_loss_and_gradient_match_one_process(tmp_path: Path, strategy_name: str) -> None:
    from gan_fixtures import SMALL
    from lightning_modules.gan import FoleyGANModule
    from lightning_modules.losses.contrastive import conditional_contrastive_loss

    ranks = _fit_ranks(tmp_path, strategy_name, "2c")
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


@pytest.mark.slow
def test_gan_ddp_hinge_projection(tmp_path: Path) -> None:
    """Hinge + projection D (no contrastive head in the loss): every wrapped parameter is still
    used, so GanDDPStrategy needs no unused-parameter search there either."""
    _fit_ranks(tmp_path, "gan_ddp", "hinge")


if __name__ == "__main__":
    _run_ranks(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
