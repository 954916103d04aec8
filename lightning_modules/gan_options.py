"""FoleyGANModule's option checks, its default class names and its conditional loss l_C, chosen
once from `loss`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from datamodules.classes import CLASS_NAMES
from lightning_modules.losses.contrastive import conditional_contrastive_loss

LOSSES = ("hinge", "2c", "csupcon")


def check_loss_options(loss: str, encoder_path: str | None, d_steps_per_g_step: int) -> None:
    """Raise ValueError for an unknown loss, a C-SupCon run without encoder, or bad step counts."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {list(LOSSES)}")
    if loss == "csupcon" and not encoder_path:
        raise ValueError(
            "loss='csupcon' needs the frozen encoder E: set encoder_path to the file written by "
            "`foleygan export-encoder` or the encoder run's export_path (e.g. "
            "runs/encoder/encoder.pt)"
        )
    if d_steps_per_g_step < 1:
        raise ValueError(f"d_steps_per_g_step must be >= 1, got {d_steps_per_g_step}")


def check_remedy_options(lecam_weight: float, lecam_decay: float, max_nonfinite_skips: int) -> None:
    """Raise ValueError for a negative LeCam weight, a decay outside [0, 1) or negative skips."""
    if lecam_weight < 0:
        raise ValueError(f"lecam_weight must be >= 0 (0 turns LeCam off), got {lecam_weight}")
    if not 0.0 <= lecam_decay < 1.0:
        raise ValueError(f"lecam_decay must be in [0, 1) (0.99 in Tseng et al.), got {lecam_decay}")
    if max_nonfinite_skips < 0:
        raise ValueError(
            f"max_nonfinite_skips must be >= 0 (0 never stops the run), got {max_nonfinite_skips}"
        )


def resolve_class_names(class_names: list[str] | None, num_classes: int) -> list[str]:
    """The names as given (one per class), else DCASE's 7 names for a 7-class module, else
    class_0 .. class_{n-1}: a module of another class count never borrows DCASE's names."""
    if class_names is None:
        if num_classes == len(CLASS_NAMES):
            return list(CLASS_NAMES)
        return [f"class_{i}" for i in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(
            f"class_names has {len(names)} names for num_classes={num_classes}: give one name "
            "per class (the CLI links both from the data) or leave class_names unset"
        )
    return names


@dataclass(frozen=True)
class ConditionalLoss:
    """l_C of eq. 6 with its temperatures bound: 2C, or C-SupCon when `needs_source`.

    `__call__(embed [N, D], proxy [N, D], labels [N], source [N, D] or None) -> scalar`.
    """

    tau_d: float
    tau_c: float
    use_labels: bool
    needs_source: bool

    def __call__(
        self,
        embed: torch.Tensor,
        proxy: torch.Tensor,
        labels: torch.Tensor,
        source: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return conditional_contrastive_loss(
            embed, proxy, labels, source, self.tau_d, self.tau_c, self.use_labels
        )


def conditional_loss(
    loss: str, tau_d: float, tau_c: float, use_labels: bool
) -> ConditionalLoss | None:
    """"hinge" -> None (no l_C); "2c" -> 2C (eq. 3); "csupcon" -> C-SupCon (eq. 4-5)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {list(LOSSES)}")
    if loss == "hinge":
        return None
    return ConditionalLoss(float(tau_d), float(tau_c), bool(use_labels), loss == "csupcon")
