"""Linear warm-up then cosine decay to 0, as a LambdaLR multiplier of the step index."""

from __future__ import annotations

import math


class WarmupCosine:
    """step -> lr factor: 0 before `start_step`; then, counting s = step - start_step,
    (s + 1) / warmup_steps during warm-up and a cosine from 1 to 0 over the remaining
    `total_steps - warmup_steps`; 0 after `total_steps`."""

    def __init__(self, warmup_steps: int, total_steps: int, start_step: int = 0) -> None:
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"WarmupCosine needs 0 <= warmup_steps <= total_steps and total_steps >= 1, got "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}; shorten the warm-up or "
                "train longer"
            )
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.start_step = start_step

    def __call__(self, step: int) -> float:
        if step < self.start_step:
            return 0.0
        step = step - self.start_step
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
