"""Divergence guard of FoleyGANModule: a non-finite D or G loss skips that update.

`NonFiniteGuard.finite(loss, strategy)` is the one place where the GAN's training step reads a
value back to the host: `bool` of "is this update's loss finite on every process" (the flag is
summed over the processes first, so under DDP every rank takes the same decision and none
waits in a collective the others skipped). It runs once per optimizer update, after the
backward pass, only when the module's `guard_nonfinite` option is on. A skipped update: no
optimizer step (Adam's moments and step count unchanged), no EMA update, no LeCam anchor update,
gradients zeroed; the module counts it in its `nonfinite_skips` buffer. After
`max_consecutive` skips in a row (0: never) `NonFiniteLossError` stops the run, naming the loss,
the non-finite terms, the steps and the newest checkpoint (which is finite: a non-finite
update is never applied).
"""

from __future__ import annotations

import math

import torch


class NonFiniteLossError(RuntimeError):
    """The GAN's D or G loss stayed non-finite for `max_nonfinite_skips` updates in a row."""


class NonFiniteGuard:
    """Counts consecutive skipped updates; raises NonFiniteLossError after `max_consecutive`."""

    def __init__(self, max_consecutive: int = 10) -> None:
        if max_consecutive < 0:
            raise ValueError(
                f"max_nonfinite_skips must be >= 0 (0 never stops the run), got {max_consecutive}"
            )
        self.max_consecutive = int(max_consecutive)
        self.consecutive = 0
        self.streak: list[str] = []  # 'D' / 'G' of the skipped updates in a row

    @staticmethod
    def finite(loss: torch.Tensor, strategy=None) -> bool:
        """True when `loss` is finite on every process (the guard's one host read)."""
        bad = (~torch.isfinite(loss.detach())).to(torch.float32)
        if strategy is not None and getattr(strategy, "world_size", 1) > 1:
            bad = strategy.reduce(bad, reduce_op="sum")
        return not bool(bad > 0)  # the documented host sync: one per optimizer update

    def passed(self) -> None:
        self.consecutive, self.streak = 0, []

    def skipped(self, which: str, terms: dict[str, torch.Tensor], trainer, g_steps: int) -> None:
        """Record a skipped `which` ('D' / 'G') update; raise after max_consecutive in a row."""
        self.consecutive += 1
        self.streak.append(which)
        if self.max_consecutive and self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(failure_message(which, terms, trainer, g_steps, self.streak))


def nonfinite_terms(terms: dict[str, torch.Tensor]) -> str:
    """'cond (nan)' style list of the terms that are not finite on this process."""
    bad = []
    for name, value in terms.items():
        number = float(value.detach().float())
        if not math.isfinite(number):
            bad.append(f"{name} ({number})")
    return ", ".join(bad) or "none on this process (another process's batch)"


def checkpoint_note(trainer) -> str:
    """Where the newest checkpoint is, from the trainer's checkpoint callbacks."""
    written, folders, on_exception = [], [], []
    for callback in getattr(trainer, "checkpoint_callbacks", []) if trainer else []:
        path = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
        if path:
            written.append(str(path))
        elif getattr(callback, "dirpath", None):
            folders.append(str(callback.dirpath))
        if hasattr(callback, "ckpt_path") and type(callback).__name__ == "OnExceptionCheckpoint":
            on_exception.append(str(callback.ckpt_path))
    if written:
        note = f"the last checkpoint is {written[0]} (finite: skipped updates are never applied)"
    else:
        where = f" (checkpoints go to {folders[0]})" if folders else ""
        note = f"no checkpoint written yet{where}"
    if on_exception:
        note += f"; the exception checkpoint {on_exception[0]} is written now, also finite"
    return note


def failure_message(which: str, terms: dict, trainer, g_steps: int, streak: list[str]) -> str:
    step = getattr(trainer, "global_step", "?")
    losses = " and ".join(name for name in ("D", "G") if name in streak)
    return (
        f"{len(streak)} updates in a row had a non-finite {losses} loss and were skipped; the "
        f"last: the {which} loss at global step {step}, G step {g_steps}, non-finite terms: "
        f"{nonfinite_terms(terms)}. The run stops; {checkpoint_note(trainer)}. Resume from it "
        "with a lower lr (optimizer_g / optimizer_d), grad_clip, or a smaller cond_weight / "
        "lecam_weight; raise max_nonfinite_skips (0 never stops) to tolerate longer streaks"
    )
