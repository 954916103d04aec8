"""FoleyGANModule: SAGAN + hinge (+ 2C / C-SupCon), report section 2.1, eq. 1-7."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import nn

from lightning_modules.ema import EMA
from lightning_modules.gan_encoder import FrozenEncoderMixin
from lightning_modules.gan_gap import LogitGap
from lightning_modules.gan_guard import NonFiniteGuard
from lightning_modules.gan_inputs import DInputAugmenter
from lightning_modules.gan_options import (
    check_loss_options,
    check_remedy_options,
    conditional_loss,
    resolve_class_names,
)
from lightning_modules.losses.adversarial import hinge_d, hinge_g
from lightning_modules.losses.lecam import LeCamAnchors, lecam_regularizer
from lightning_modules.mel_norm import MelNormalizer
from lightning_modules.optimizers import gan_adam
from lightning_modules.sagan import Discriminator, Generator


class FoleyGANModule(FrozenEncoderMixin, pl.LightningModule):
    """Category -> log-mel GAN with manual optimization.

    Per training batch: `d_steps_per_g_step` D steps, each on the same real batch with fresh z,
    then one G step. Every optimizer.step() advances `trainer.global_step`, so one batch costs
    `d_steps_per_g_step + 1` global steps (`max_steps=2000`: 1,000 D and 1,000 G updates by
    default). `g_steps` (a checkpointed buffer) counts G updates; the EMA generator averages
    from `g_steps >= ema_start` on (a copy before). Loggers' step axis counts batches.

    Losses (eq. 6): L_D = hinge_d + w * l_C(real) [+ lecam_weight * R_LeCam], L_G = hinge_g +
    w * l_C(fake); l_C is 2C (`loss="2c"`), C-SupCon with source E(real mel) (`"csupcon"`) or
    absent (`"hinge"`); w = cond_weight, ramped from 0 over `cond_warmup_steps` G updates if
    > 0 (not in the report). With `gather_negatives` under DDP l_C runs over the global batch
    (equal per-rank batches). Under bf16-mixed the logits are cast to float32 and l_C runs in
    float32 with autocast off.

    Remedies (issue 14), off by default and then drawing no random numbers: `diffaug` applies
    DiffAugment to every D input (real and fake in the D step, fake in the G step, per-sample
    draws, silence-floor fill: `gan_inputs.py`), so the contrastive embeddings d_i are those of
    augmented inputs while C-SupCon's source stays E's embedding of the clean real mel.
    `lecam_weight > 0` adds LeCam to L_D only, against the anchors `lecam.ema_*` (checkpointed)
    as they stand before the step; each applied D step then moves them by its logits. Logged:
    `train/d/lecam`, `train/d/logit_gap` (mean D logit real - fake) and `val/d/overfit_gap`
    (`gan_gap.py`: D's mean logit on the real training batches since the last validation minus
    on the held-out clips, augmented alike with DiffAugment by a per-batch seeded generator).

    Divergence guard (`guard_nonfinite`, `gan_guard.py`): a non-finite loss skips its update (no
    step, no EMA / anchor update, grads zeroed), counts in `nonfinite_skips` (checkpointed), and
    `max_nonfinite_skips` in a row (0: never) raise `NonFiniteLossError`. Its finiteness check is
    the step's only host read, one per update; with the guard off `training_step` reads nothing
    back from the device (counters and the warm-up weight stay tensors).

    Speed: `channels_last` puts G's and D's weights and maps in channels-last layout on every
    device (the networks already use it on CPU: the option is for GPUs); `compile` runs G's and
    D's training forwards through torch.compile (same parameters and checkpoint keys).
    `optimizer_g` / `optimizer_d` (default: the report's Adam, lr 1e-4, betas (0.5, 0.999)) are
    not hyperparameters. `class_names` (linked from the data by the CLI) default to DCASE's for
    7 classes, else class_0..; the resolved list is saved, so checkpoints carry it. Validation
    figures are callbacks in `evaluation/` using `generate`, `class_names`, `frozen_encoder()`.
    """

    def __init__(
        self,
        num_classes: int = 7,
        mel_shape: tuple[int, int] = (80, 344),
        z_dim: int = 128,
        g_width: int = 64,
        d_width: int = 64,
        n_stages: int = 4,
        g_attention_stage: int = 2,
        d_attention_stage: int = 1,
        embed_dim: int = 128,
        loss: str = "csupcon",
        use_labels: bool = False,
        tau_d: float = 0.1,
        tau_c: float = 1.0,
        cond_weight: float = 1.0,
        cond_warmup_steps: int = 0,
        projection: bool | None = None,
        optimizer_g: OptimizerCallable = gan_adam,
        optimizer_d: OptimizerCallable = gan_adam,
        d_steps_per_g_step: int = 1,
        grad_clip: float | None = None,
        ema_decay: float = 0.9999,
        ema_start: int = 1000,
        encoder_path: str | None = None,
        gather_negatives: bool = True,
        class_names: list[str] | None = None,
        diffaug: str = "",
        diffaug_translation_ratio: float = 0.125,
        diffaug_cutout_ratio: float = 0.5,
        lecam_weight: float = 0.0,
        lecam_decay: float = 0.99,
        guard_nonfinite: bool = True,
        max_nonfinite_skips: int = 10,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        check_loss_options(loss, encoder_path, d_steps_per_g_step)
        check_remedy_options(lecam_weight, lecam_decay, max_nonfinite_skips)
        self.d_inputs = DInputAugmenter(diffaug, diffaug_translation_ratio, diffaug_cutout_ratio)
        self.class_names = resolve_class_names(class_names, num_classes)
        self.save_hyperparameters(ignore=["optimizer_g", "optimizer_d"])
        self.hparams.class_names = list(self.class_names)  # checkpoints carry the names
        self.automatic_optimization = False
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.criterion = conditional_loss(loss, tau_d, tau_c, use_labels)  # None for "hinge"
        self.projection = (loss == "hinge") if projection is None else projection
        self.generator = Generator(
            num_classes=num_classes, z_dim=z_dim, width=g_width, mel_shape=mel_shape,
            n_stages=n_stages, attention_stage=g_attention_stage,
        )
        self.discriminator = Discriminator(
            num_classes=num_classes, width=d_width, mel_shape=mel_shape, n_stages=n_stages,
            attention_stage=d_attention_stage, projection=self.projection, embed_dim=embed_dim,
        )
        if channels_last:
            for net in (self.generator, self.discriminator):
                net.channels_last = True
                net.to(memory_format=torch.channels_last)
        self.g_ema = EMA(self.generator, decay=ema_decay, start=ema_start)
        self.mel_norm = MelNormalizer(mel_shape[0])
        self.register_buffer("g_steps", torch.tensor(0, dtype=torch.long))
        self.lecam = LeCamAnchors(lecam_decay)
        self.register_buffer("nonfinite_skips", torch.tensor(0, dtype=torch.long))
        self.guard = NonFiniteGuard(max_nonfinite_skips)
        self.logit_gap = LogitGap()
        self._compiled: dict[int, nn.Module] = {}
        self.ddp_nets: tuple | None = None  # set by lightning_modules.gan_ddp.GanDDPStrategy

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate"):
            self._load_encoder()
        if stage == "fit" and not self.mel_norm.is_fitted:
            dm = getattr(self.trainer, "datamodule", None)
            if dm is None or not hasattr(dm, "mel_stats"):
                raise RuntimeError(
                    "the mel normaliser is not fitted and the trainer has no datamodule with "
                    "mel_stats(): fit with a FoleyDataModule or call module.mel_norm.fit(stats)"
                )
            self.mel_norm.fit(dm.mel_stats())

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints from before the LeCam anchors and the guard's counter start them at 0."""
        state = checkpoint.get("state_dict", {})
        for key, value in self.state_dict().items():
            if key.startswith(("lecam.", "nonfinite_skips")):
                state.setdefault(key, value.clone())

    # -- training ---------------------------------------------------------------------------
    def _nets(self, trained: str = "") -> tuple[nn.Module, nn.Module]:
        """G and D for a step training `trained` ("G" / "D"): the modules, or their compiled
        forwards (`compile`); under GanDDPStrategy (`ddp_nets`) the trained one's DDP wrapper."""
        nets = (self.generator, self.discriminator)
        if self.ddp_nets is not None and trained:
            k = "GD".index(trained)
            nets = tuple(self.ddp_nets[i] if i == k else net for i, net in enumerate(nets))
        if self.hparams.compile:
            for net in nets:
                if id(net) not in self._compiled:
                    self._compiled[id(net)] = torch.compile(net)
            nets = tuple(self._compiled[id(net)] for net in nets)
        return nets

    def _cond_loss(self, out: dict, labels: torch.Tensor, source) -> torch.Tensor:
        if self.criterion is None:
            return out["logits"].new_zeros((), dtype=torch.float32)
        parts = [out["embed"], out["proxy"], labels] + ([] if source is None else [source])
        if self.hparams.gather_negatives and self.trainer.world_size > 1:
            parts = [self.all_gather(p, sync_grads=True).flatten(0, 1) for p in parts]
        with torch.autocast(self.device.type, enabled=False):  # l_C in float32 under bf16
            return self.criterion(*[p if p.dtype == torch.long else p.float() for p in parts])

    def _optimize(self, opt, loss: torch.Tensor, which: str, terms: dict) -> bool:
        """Backward and step; with the guard on, a non-finite loss skips the step (False)."""
        opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.guard_nonfinite:
            if not self.guard.finite(loss, self.trainer.strategy):
                opt.zero_grad()
                self.nonfinite_skips += 1
                self.guard.skipped(which, terms, self.trainer, int(self.g_steps))
                return False
            self.guard.passed()
        if self.hparams.grad_clip is not None:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip,
                                gradient_clip_algorithm="norm")
        opt.step()
        return True

    def _cond_weight(self) -> float | torch.Tensor:
        """cond_weight, ramped linearly from 0 over the first cond_warmup_steps G updates: a
        0-d tensor from the g_steps buffer (no host read), a plain float without warm-up."""
        warmup = self.hparams.cond_warmup_steps
        if warmup <= 0:
            return self.hparams.cond_weight
        return self.hparams.cond_weight * (self.g_steps.float() / warmup).clamp(max=1.0)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams.z_dim, device=self.device)

    def _d_step(self, batch: dict, source: torch.Tensor | None = None) -> dict:
        """One D update: hinge_d(real, fake) + cond_weight * l_C(real embeddings) [+ LeCam]."""
        real, labels = self.mel_norm.normalize(batch["mel"]), batch["label"]
        n, (gen, disc) = labels.shape[0], self._nets("D")
        opt = self.optimizers()[1]
        with self.toggled_optimizer(opt):
            with torch.no_grad():
                fake = gen(self._z(n), labels)
            inputs = self.d_inputs(torch.cat([real, fake.to(real.dtype)]), self.mel_norm)
            out = disc(inputs, torch.cat([labels, labels]))
            logits_real, logits_fake = out["logits"].float().chunk(2)
            real_out = {k: v[:n] for k, v in out.items()}
            terms = {"adv": hinge_d(logits_real, logits_fake),
                     "cond": self._cond_loss(real_out, labels, source)}
            loss = terms["adv"] + self._cond_weight() * terms["cond"]
            if self.hparams.lecam_weight > 0:
                terms["lecam"] = lecam_regularizer(logits_real, logits_fake,
                                                   self.lecam.ema_real, self.lecam.ema_fake)
                loss = loss + self.hparams.lecam_weight * terms["lecam"]
            applied = self._optimize(opt, loss, "D", terms)
        if applied:
            if self.hparams.lecam_weight > 0:
                self._update_anchors(logits_real.detach(), logits_fake.detach())
            self.logit_gap.add_train(logits_real)
        logs = {f"train/d/{name}": value for name, value in terms.items()}
        return {"train/d/loss": loss, **logs, "train/d/logits_real": logits_real.mean(),
                "train/d/logits_fake": logits_fake.mean(),
                "train/d/logit_gap": logits_real.mean() - logits_fake.mean()}

    def _update_anchors(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> None:
        """LeCam anchors from this D step's mean logits, averaged over the processes under DDP
        (every rank keeps the same anchors)."""
        if self.trainer.world_size > 1:
            means = self.all_gather(torch.stack([logits_real.mean(), logits_fake.mean()]))
            logits_real, logits_fake = means.mean(0).split(1)
        self.lecam.update(logits_real, logits_fake)

    def _g_step(self, batch: dict, source: torch.Tensor | None = None) -> dict:
        """One G update: hinge_g(fake) + cond_weight * l_C(fake embeddings), then the EMA."""
        labels, (gen, disc) = batch["label"], self._nets("G")
        opt = self.optimizers()[0]
        with self.toggled_optimizer(opt):
            fake = self.d_inputs(gen(self._z(labels.shape[0]), labels), self.mel_norm)
            out = disc(fake, labels)
            terms = {"adv": hinge_g(out["logits"].float()),
                     "cond": self._cond_loss(out, labels, source)}
            loss = terms["adv"] + self._cond_weight() * terms["cond"]
            applied = self._optimize(opt, loss, "G", terms)
        if applied:
            self.g_steps += 1
            self.g_ema.update(self.generator, step=self.g_steps)
        return {"train/g/loss": loss, "train/g/adv": terms["adv"], "train/g/cond": terms["cond"]}

    def training_step(self, batch: dict, batch_idx: int) -> None:
        source = self._source(batch["mel"])
        logs = {}
        for _ in range(self.hparams.d_steps_per_g_step):
            logs.update(self._d_step(batch, source))
        logs.update(self._g_step(batch, source))
        logs["train/cond/weight"] = torch.as_tensor(self._cond_weight())
        logs["train/nonfinite_skips"] = self.nonfinite_skips.float()
        self.log_dict({k: v.detach() for k, v in logs.items()}, prog_bar=False,
                      batch_size=batch["label"].shape[0])

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """[opt_g, opt_d] from the injected optimizer_g / optimizer_d."""
        return [self.optimizer_g(self.generator.parameters()),
                self.optimizer_d(self.discriminator.parameters())]

    # -- generation and validation ------------------------------------------------------------
    @torch.no_grad()
    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        # labels [B] long, z [B, Z] or None -> raw log-mel [B, 80, T]
        labels = labels.to(self.device)
        z = self._z(labels.shape[0]) if z is None else z.to(self.device)
        net = self.g_ema.module if self.g_ema.started else self.generator
        was_training = net.training
        net.eval()
        try:
            return self.mel_norm.denormalize(net(z, labels))
        finally:
            net.train(was_training)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """D's logits on the held-out real clips (for val/d/overfit_gap). The other validation
        figures are callbacks (evaluation.callbacks.FADCallback, evaluation.diversity.
        DiversityCallback, evaluation.probe_callback.ProbeCallback) that see these batches."""
        real = self.mel_norm.normalize(batch["mel"])
        if self.d_inputs.active:  # seeded per batch and rank: the training RNG is not touched
            gen = torch.Generator(device=real.device)
            gen.manual_seed(1_000_003 * self.global_rank + batch_idx)
            real = self.d_inputs(real, self.mel_norm, generator=gen)
        self.logit_gap.add_val(self.discriminator(real, batch["label"])["logits"].float())

    def on_validation_epoch_end(self) -> None:
        figures = self.logit_gap.compute_and_reset(
            lambda t: self.trainer.strategy.reduce(t, reduce_op="sum"))
        if figures is not None:  # None in the sanity check: no training batch yet
            gap, held_out = figures
            self.log_dict({"val/d/overfit_gap": gap, "val/d/logits_real": held_out},
                          sync_dist=True)
