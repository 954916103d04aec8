"""ConfusionMatrixCallback: render the validation confusion matrix and log it (rank 0 only).

The LightningModule leaves the matrix of its last validation epoch in an attribute
(SupConEncoderModule: `last_confusion`, [C, C] counts, rows = true class, columns = predicted)
and its names in `class_names`. The callback draws it after validation ends and logs it to
W&B as a `wandb.Image` when a WandbLogger is attached, otherwise writes a PNG to
`<log_dir>/confusion/` (the trainer's default_root_dir when there is no logger).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from pytorch_lightning.loggers import WandbLogger


def render_confusion(confusion: torch.Tensor, class_names: list[str], title: str = "") -> Figure:
    """confusion [C, C] counts -> a figure: colour = row-normalised rate, text = count."""
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be [C, C], got shape {tuple(confusion.shape)}")
    if len(class_names) != confusion.shape[0]:
        raise ValueError(
            f"{len(class_names)} class names for a {confusion.shape[0]}-class confusion matrix; "
            "pass one name per row"
        )
    counts = confusion.detach().cpu().double()
    rates = counts / counts.sum(dim=1, keepdim=True).clamp(min=1.0)
    size = 1.2 + 0.75 * len(class_names)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.add_subplot()
    image = ax.imshow(rates.numpy(), vmin=0.0, vmax=1.0, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, labels=class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels=class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in ticks:
        for j in ticks:
            colour = "white" if rates[i, j] > 0.5 else "black"
            text = str(int(counts[i, j]))
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


class ConfusionMatrixCallback(pl.Callback):
    def __init__(self, attribute: str = "last_confusion", key: str = "val/confusion") -> None:
        super().__init__()
        self.attribute = attribute
        self.key = key

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        confusion = getattr(pl_module, self.attribute, None)
        if confusion is None:
            return
        names = list(getattr(pl_module, "class_names", None) or range(confusion.shape[0]))
        accuracy = float(confusion.diagonal().sum() / confusion.sum().clamp(min=1))
        title = f"epoch {trainer.current_epoch}, step {trainer.global_step}, acc {accuracy:.3f}"
        fig = render_confusion(confusion, [str(n) for n in names], title=title)
        wandb_loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if wandb_loggers:
            self._log_wandb(wandb_loggers, fig, trainer.global_step)
        else:
            self.png_path(trainer).write_bytes(figure_png(fig))

    def _log_wandb(self, loggers: list[WandbLogger], fig: Figure, step: int) -> None:
        import wandb
        from PIL import Image

        image = Image.open(io.BytesIO(figure_png(fig)))
        for logger in loggers:
            logger.experiment.log({self.key: wandb.Image(image), "trainer/global_step": step})

    def png_path(self, trainer: pl.Trainer) -> Path:
        """Where the PNG of the current step goes (the folder is created)."""
        root = Path(trainer.log_dir or trainer.default_root_dir) / "confusion"
        root.mkdir(parents=True, exist_ok=True)
        stem = self.key.replace("/", "_")
        return root / f"{stem}_epoch{trainer.current_epoch:03d}_step{trainer.global_step:07d}.png"
