"""FoleyGANModule: SAGAN + hinge (+ 2C / C-SupCon), report section 2.1, eq. 1-7."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import nn

from datamodules.classes import CLASS_NAMES
from encoders.export import load_frozen_encoder
from lightning_modules.ema import EMA
from lightning_modules.gan_options import check_loss_options, conditional_loss
from lightning_modules.losses.adversarial import hinge_d, hinge_g
from lightning_modules.mel_norm import MelNormalizer
from lightning_modules.optimizers import gan_adam
from lightning_modules.sagan import Discriminator, Generator


class FoleyGANModule(pl.LightningModule):
    """Category -> log-mel GAN with manual optimization.

    Per training batch: `d_steps_per_g_step` D steps, each on the same real batch with fresh z,
    then one G step. Every optimizer.step() advances `trainer.global_step`, so one batch costs
    `d_steps_per_g_step + 1` global steps: with the default 1, `max_steps=2000` means 1,000 D and
    1,000 G updates. `g_steps` (a checkpointed buffer) counts G updates; the EMA generator
    averages from `g_steps >= ema_start` on (before that it copies G). Loggers' step axis counts
    batches (Lightning's `_batches_that_stepped`), not optimizer steps.

    Losses (eq. 6): L_D = hinge_d + cond_weight * l_C(real), L_G = hinge_g + cond_weight *
    l_C(fake); l_C is 2C (`loss="2c"`), C-SupCon with source E(real mel) (`loss="csupcon"`) or
    absent (`loss="hinge"`). `cond_warmup_steps > 0` ramps the weight linearly from 0 over the
    first G updates (not in the report, whose weight is 1.0 throughout; FACTS.md notes the
    label-free term dominates early on short runs). With `gather_negatives` under DDP, l_C runs
    over the global batch (equal per-rank batch sizes needed: drop the last uneven batch).

    `optimizer_g` / `optimizer_d` build G's and D's optimizers from their parameters (default:
    the report's Adam, lr 1e-4, betas (0.5, 0.999)); they are not saved as hyperparameters.

    Validation figures are callbacks in `evaluation/` (FAD, diversity, probe) that drive the
    module through `generate(labels, z)`, `class_names` and `frozen_encoder()`; the module's own
    `validation_step` only makes Lightning run the validation loop for them.
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
    ) -> None:
        super().__init__()
        check_loss_options(loss, encoder_path, d_steps_per_g_step)
        names = list(class_names) if class_names is not None else list(CLASS_NAMES[:num_classes])
        if len(names) != num_classes:
            raise ValueError(f"class_names has {len(names)} names for num_classes={num_classes}")
        self.save_hyperparameters(ignore=["optimizer_g", "optimizer_d"])
        self.automatic_optimization = False
        self.class_names = names
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
        self.g_ema = EMA(self.generator, decay=ema_decay, start=ema_start)
        self.mel_norm = MelNormalizer(mel_shape[0])
        self.register_buffer("g_steps", torch.tensor(0, dtype=torch.long))
        self._encoder: nn.Module | None = None

    # -- encoder E (frozen, never part of the state_dict) --------------------------------------
    def set_encoder(self, encoder: nn.Module) -> None:
        """Use `encoder` (mel [B, 80, T] -> [B, embed_dim], normalised) as the frozen E."""
        object.__setattr__(self, "_encoder", encoder.eval().requires_grad_(False))

    def frozen_encoder(self) -> nn.Module | None:
        """The frozen E on the module's device (a FrozenEncoder when loaded from encoder_path),
        or None when there is none."""
        enc = self.__dict__.get("_encoder")
        return None if enc is None else enc.to(self.device).eval()

    def _load_encoder(self) -> None:
        if self.frozen_encoder() is not None or not self.hparams.encoder_path:
            return
        dm = getattr(self.trainer, "datamodule", None)
        enc = load_frozen_encoder(self.hparams.encoder_path, getattr(dm, "mel_params", None))
        names = list(getattr(enc, "class_names", self.class_names))
        if names != self.class_names:
            raise ValueError(
                f"encoder {self.hparams.encoder_path} was trained on classes {names}, the GAN "
                f"uses {self.class_names}: its probe would mislabel them; re-export the encoder "
                "from a pretraining run on the same dataset"
            )
        self.set_encoder(enc)

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

    # -- training ---------------------------------------------------------------------------
    def _source(self, mel: torch.Tensor) -> torch.Tensor | None:
        if self.criterion is None or not self.criterion.needs_source:
            return None
        enc = self.frozen_encoder()
        if enc is None:
            raise RuntimeError("loss='csupcon' but no encoder is loaded: call set_encoder()")
        with torch.no_grad():
            return enc(mel).float()

    def _cond_loss(self, out: dict, labels: torch.Tensor, source) -> torch.Tensor:
        if self.criterion is None:
            return out["logits"].new_zeros((), dtype=torch.float32)
        parts = [out["embed"], out["proxy"], labels] + ([] if source is None else [source])
        if self.hparams.gather_negatives and self.trainer.world_size > 1:
            parts = [self.all_gather(p, sync_grads=True).flatten(0, 1) for p in parts]
        return self.criterion(*parts)

    def _optimize(self, opt, loss: torch.Tensor) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.grad_clip is not None:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip,
                                gradient_clip_algorithm="norm")
        opt.step()

    def _cond_weight(self) -> float:
        """cond_weight, ramped linearly from 0 over the first cond_warmup_steps G updates."""
        warmup = self.hparams.cond_warmup_steps
        ramp = 1.0 if warmup <= 0 else min(1.0, int(self.g_steps) / warmup)
        return self.hparams.cond_weight * ramp

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams.z_dim, device=self.device)

    def _d_step(self, batch: dict, source: torch.Tensor | None = None) -> dict:
        """One D update: hinge_d(real, fake) + cond_weight * l_C(real embeddings)."""
        real, labels = self.mel_norm.normalize(batch["mel"]), batch["label"]
        opt = self.optimizers()[1]
        with self.toggled_optimizer(opt):
            with torch.no_grad():
                fake = self.generator(self._z(labels.shape[0]), labels)
            out = self.discriminator(torch.cat([real, fake.to(real.dtype)]),
                                     torch.cat([labels, labels]))
            logits_real, logits_fake = out["logits"].float().chunk(2)
            real_out = {k: v[: labels.shape[0]] for k, v in out.items()}
            adv = hinge_d(logits_real, logits_fake)
            cond = self._cond_loss(real_out, labels, source)
            loss = adv + self._cond_weight() * cond
            self._optimize(opt, loss)
        return {"train/d/loss": loss, "train/d/adv": adv, "train/d/cond": cond,
                "train/d/logits_real": logits_real.mean(),
                "train/d/logits_fake": logits_fake.mean()}

    def _g_step(self, batch: dict, source: torch.Tensor | None = None) -> dict:
        """One G update: hinge_g(fake) + cond_weight * l_C(fake embeddings), then the EMA."""
        labels = batch["label"]
        opt = self.optimizers()[0]
        with self.toggled_optimizer(opt):
            out = self.discriminator(self.generator(self._z(labels.shape[0]), labels), labels)
            adv = hinge_g(out["logits"].float())
            cond = self._cond_loss(out, labels, source)
            loss = adv + self._cond_weight() * cond
            self._optimize(opt, loss)
        self.g_steps += 1
        self.g_ema.update(self.generator, step=int(self.g_steps))
        return {"train/g/loss": loss, "train/g/adv": adv, "train/g/cond": cond}

    def training_step(self, batch: dict, batch_idx: int) -> None:
        source = self._source(batch["mel"])
        logs = {}
        for _ in range(self.hparams.d_steps_per_g_step):
            logs.update(self._d_step(batch, source))
        logs.update(self._g_step(batch, source))
        logs["train/cond/weight"] = torch.tensor(self._cond_weight())
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
        """Nothing to compute: the validation figures are callbacks (evaluation.callbacks.
        FADCallback, evaluation.diversity.DiversityCallback, evaluation.probe_callback.
        ProbeCallback). Defining the step makes Lightning run the validation loop, so their
        on_validation_batch_end / on_validation_epoch_end hooks see the batches."""
