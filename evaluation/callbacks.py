"""`FADCallback`: per-class FAD of the generator at the end of validation epochs, plus media.

Every `every_n_epochs` validation epochs (never in the sanity check) the n_per_class x C clips
are split across ranks (rank r takes items r::world_size of the class-ordered list, so no item is
generated twice), generated with `pl_module.generate` (the EMA generator), vocoded, and fed to a
`FrechetAudioDistance` metric on every rank; the metric syncs its float64 sums, so every rank
logs the same `val/fad/<ClassName>` and `val/fad/mean`. The noise is fixed per (seed, rank,
batch), so epochs are compared on the same z. Media (a few clips and mel images per class) go to
W&B when the logger is a `WandbLogger`, else to `<log_dir>/media/step_<global_step>/`, on
rank 0 only. With W&B it also logs a Table (class, FAD, audio, mel) and sets `val/fad/*` to
summarise as the minimum.

Classes: the module's (`pl_module.class_names`, the data's classes linked in by the CLI), and
only those: a reference folder is read for them by name (`list_class_files(reference,
class_names)`: either DCASE spelling; its other class folders are ignored with a warning; a
class without a folder is an error naming it), the datamodule's `val_items()` must index the same
class list. The reference statistics are computed at fit start, so a class without reference
clips fails before training, naming the class and the fix.

`metrics` (default ["fad"]) adds "kad" and "prdc": each clip is embedded once, its rows feed the
FAD sums and a `ClassEmbeddings` store (`evaluation.embedding_metric`) that gathers the rows of
all ranks, so every rank logs the same `val/kad/<ClassName>`, `val/kad/mean`,
`val/prdc/<name>/<ClassName>` and `val/prdc/<name>/mean` (name: precision, recall, density,
coverage; real = the reference, k neighbours). The reference embeddings are cached on disk like
the statistics. W&B summarises `val/kad/*` as the minimum, `val/prdc/*` as the maximum.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from datamodules.mel import SAMPLE_RATE
from evaluation.embedding_metric import (
    ClassEmbeddings,
    embed_clips,
    reference_store,
    validation_metrics,
)
from evaluation.fad_metric import FrechetAudioDistance
from evaluation.synthesis import generate_mel_wav

Media = list[tuple[str, int, torch.Tensor, torch.Tensor]]  # (class name, index, mel, wav)


def _backbone(spec: str | nn.Module, device: torch.device) -> nn.Module:
    if isinstance(spec, nn.Module):
        return spec.to(device)
    from evaluation.backbones import load_backbone

    return load_backbone(spec, device=device)


def _vocoder(spec: str | nn.Module, device: torch.device) -> nn.Module:
    if isinstance(spec, nn.Module):
        return spec.to(device).eval()
    from vocoders import load_vocoder

    return load_vocoder(spec, device=device).eval()


def mel_png(mel: torch.Tensor, path: Path, title: str) -> Path:
    """Write mel [80, T] as a PNG with matplotlib's Agg canvas (no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from datamodules.atomic import atomic_path

    fig = Figure(figsize=(6, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma")
    ax.set(title=title, xlabel="frame", ylabel="mel band")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


class FADCallback(pl.Callback):
    """Log `val/fad/<ClassName>` and `val/fad/mean` every N validation epochs.

    backbone: "vggish" | "vggish:<path>" | "encoder:<path>" (or a ready module with `embed`);
    vocoder: "griffin-lim" | "hifigan:<ckpt>[:<config>]" (or a module mel [B, 80, T] -> wav);
    reference: a folder of class folders (the module's classes are read from it by name), or
    None for `trainer.datamodule.val_items()` (labels into the same class list as the module).
    metrics: any of "fad", "kad", "prdc" (default ["fad"], the official protocol alone);
    k: nearest neighbours of PRDC.
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vggish",
        vocoder: str | nn.Module = "griffin-lim",
        every_n_epochs: int = 1,
        n_per_class: int = 100,
        batch_size: int = 32,
        n_media_per_class: int = 2,
        seed: int = 0,
        reference: str | None = None,
        cache_dir: str | None = None,
        metrics: Sequence[str] = ("fad",),
        k: int = 5,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1 or n_per_class < 1 or batch_size < 1 or n_media_per_class < 0:
            raise ValueError(
                f"FADCallback needs every_n_epochs, n_per_class, batch_size >= 1 and "
                f"n_media_per_class >= 0, got {every_n_epochs}, {n_per_class}, {batch_size}, "
                f"{n_media_per_class}; the official protocol uses n_per_class=100"
            )
        self.backbone, self.vocoder = backbone, vocoder
        self.every_n_epochs, self.n_per_class = every_n_epochs, n_per_class
        self.batch_size, self.n_media_per_class = batch_size, n_media_per_class
        self.seed, self.reference, self.cache_dir = seed, reference, cache_dir
        self.metrics, self.k = validation_metrics(metrics, k), k
        self.metric: FrechetAudioDistance | None = None
        self.embeddings: ClassEmbeddings | None = None  # KAD / PRDC: the generated rows
        self._vocoder_module: nn.Module | None = None
        self._backbone_module: nn.Module | None = None

    def _reference_items(self, trainer: pl.Trainer, names: list[str]) -> list[tuple[Path, int]]:
        """[(path, label into names)]: the reference folder's clips of the module's classes, or
        the datamodule's validation clips."""
        if self.reference is not None:
            from datamodules.dcase import ClassListError
            from evaluation.reference_stats import list_class_files

            try:
                return list_class_files(self.reference, class_names=names)
            except ClassListError as err:
                raise ClassListError(
                    f"FADCallback: the module's classes are {names}, the reference folder "
                    f"{self.reference} lacks one: {err}"
                ) from err
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "val_items"):
            raise ValueError(
                "FADCallback(reference=None) takes the reference clips from "
                "trainer.datamodule.val_items(), but the trainer has no such datamodule; "
                "pass reference=<folder of class folders> or train with FoleyDataModule"
            )
        data_names = getattr(datamodule, "class_names", None)
        if data_names is not None and list(data_names) != names:
            raise ValueError(
                f"the module generates classes {names} but the datamodule's validation clips "
                f"are labelled for {list(data_names)}: link data.class_names into the model "
                "(the CLI does) or train the model on this data"
            )
        return list(datamodule.val_items())

    def _check_reference(self, stats: dict, names: list[str]) -> None:
        missing = [n for n, count in zip(names, stats["count"].tolist(), strict=True) if count < 2]
        if missing:
            where = self.reference or "the datamodule's validation split (val_items())"
            raise ValueError(
                f"FADCallback: no reference statistics for class(es) {missing} of the module's "
                f"classes {names}: {where} gives them fewer than 2 embeddings; give them more "
                "validation clips (data.val_fraction, or more recordings per class) or pass "
                "reference=<folder with a class folder of clips for each of them>"
            )

    def _setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from evaluation.reference_stats import reference_stats

        device = pl_module.device
        names = list(pl_module.class_names)
        backbone = _backbone(self.backbone, device)
        items = self._reference_items(trainer, names)
        if "fad" in self.metrics:
            stats = reference_stats(
                items,
                backbone,
                cache_dir=self.cache_dir,
                num_classes=len(names),
                batch_size=self.batch_size,
            )
            self._check_reference(stats, names)
            metric = FrechetAudioDistance(backbone, num_classes=len(names), class_names=names)
            metric.set_reference(stats)
            self.metric = metric.to(device)
        if self.metrics != ("fad",):
            where = self.reference or "the datamodule's validation split (val_items())"
            store = reference_store(items, backbone, names, self.metrics, self.k,
                                    self.cache_dir, self.batch_size, where=where)
            self.embeddings = store.to(device)
        self._backbone_module = backbone
        self._vocoder_module = _vocoder(self.vocoder, device)

    def _has_reference_clips(self, trainer: pl.Trainer) -> bool:
        """False only for a datamodule without validation clips (no validation will run)."""
        datamodule = getattr(trainer, "datamodule", None)
        if self.reference is not None or not hasattr(datamodule, "val_items"):
            return True
        return len(datamodule.val_items()) > 0

    def _due(self, trainer: pl.Trainer) -> bool:
        return (
            not trainer.sanity_checking and (trainer.current_epoch + 1) % self.every_n_epochs == 0
        )

    def _generate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Media:
        """Generate this rank's share, update the metric; returns rank 0's media clips."""
        num_classes = len(pl_module.class_names)
        items = [(c, i) for c in range(num_classes) for i in range(self.n_per_class)]
        mine = items[trainer.global_rank :: trainer.world_size]
        media: Media = []
        kept = [0] * num_classes
        for b, start in enumerate(range(0, len(mine), self.batch_size)):
            batch = mine[start : start + self.batch_size]
            labels = torch.tensor([c for c, _ in batch], dtype=torch.long)
            seed = (self.seed * 1_000_003 + trainer.global_rank) * 10_007 + b
            mel, wav = generate_mel_wav(pl_module, self._vocoder_module, labels, seed=seed)
            self._update(wav.to(pl_module.device), labels.to(pl_module.device))
            for (c, i), m, w in zip(batch, mel, wav, strict=True):
                if trainer.is_global_zero and kept[c] < self.n_media_per_class:
                    kept[c] += 1
                    media.append((pl_module.class_names[c], i, m, w))
        return media

    def _update(self, wav: torch.Tensor, labels: torch.Tensor) -> None:
        """wav [B, N], labels [B]: embed once, feed the FAD sums and the KAD / PRDC rows."""
        if self.embeddings is None:
            self.metric.update(wav, labels)
            return
        embedded = embed_clips(self._backbone_module, wav, labels)
        self.embeddings.update(*embedded)
        if self.metric is not None:
            self.metric.update(wav, labels, embedded=embedded)

    def _compute(self) -> tuple[dict, dict]:
        """({ClassName or "mean": FAD}, {"kad/<Class>" ...: value}) synced over ranks, reset."""
        # each compute is a collective: every rank calls them in this order
        fad = self.metric.compute() if self.metric is not None else {}
        others = self.embeddings.compute() if self.embeddings is not None else {}
        for metric in (self.metric, self.embeddings):
            if metric is not None:
                metric.reset()
        return fad, others

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._due(trainer):
            return
        if self._vocoder_module is None:
            self._setup(trainer, pl_module)
        media = self._generate(trainer, pl_module)
        results, others = self._compute()
        # the metrics are already synced: identical on every rank, so no second reduction
        for name, value in results.items():
            pl_module.log(f"val/fad/{name}", float(value), sync_dist=False)
        for key, value in others.items():
            pl_module.log(f"val/{key}", float(value), sync_dist=False)
        log_dir = trainer.log_dir or trainer.default_root_dir  # a collective: call on all ranks
        if trainer.is_global_zero and media:
            self._log_media(trainer, media, log_dir, results)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._vocoder_module is None and self._has_reference_clips(trainer):
            self._setup(trainer, pl_module)  # fail before training, not at the first validation
        logger = _wandb_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            # the run's summary keeps the best value, not the last one: lowest FAD and KAD,
            # highest precision / recall / density / coverage
            summaries = {"fad": "min", "kad": "min", "prdc": "max"}
            for name in self.metrics:
                logger.experiment.define_metric(f"val/{name}/*", summary=summaries[name])

    def _log_media(
        self, trainer: pl.Trainer, media: Media, log_dir: str | os.PathLike, results: dict
    ) -> None:
        wandb_logger = _wandb_logger(trainer)
        if wandb_logger is not None:
            self._log_wandb(trainer, wandb_logger, media, results)
            return
        from datamodules.audio import save_wav

        folder = Path(log_dir) / "media" / f"step_{trainer.global_step:07d}"
        for name, index, mel, wav in media:
            save_wav(folder / f"{name}_{index:03d}.wav", wav, SAMPLE_RATE)
            mel_png(mel, folder / f"{name}_{index:03d}.png", f"{name} #{index}")

    def _log_wandb(self, trainer: pl.Trainer, logger, media: Media, results: dict) -> None:
        """Audio + mel images per class, and a Table (class, FAD, audio, mel) per validation."""
        import wandb

        payload: dict = {"trainer/global_step": trainer.global_step}
        table = wandb.Table(columns=["class", "FAD", "audio", "mel"])
        for name, index, mel, wav in media:
            caption = f"{name} #{index} (step {trainer.global_step})"
            audio = wandb.Audio(wav.numpy(), sample_rate=SAMPLE_RATE, caption=caption)
            image = (mel - mel.min()) / (mel.max() - mel.min() + 1e-8)
            picture = wandb.Image(image.flip(0).numpy(), caption=caption)
            payload.setdefault(f"media/{name}/audio", []).append(audio)
            payload.setdefault(f"media/{name}/mel", []).append(picture)
            fad = float(results[name]) if name in results else float("nan")
            table.add_data(name, fad, audio, picture)
        payload["val/fad_table"] = table
        logger.experiment.log(payload)


def _wandb_logger(trainer: pl.Trainer):
    """The trainer's WandbLogger, or None (W&B calls live here, never in the LightningModule)."""
    from pytorch_lightning.loggers import WandbLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)
