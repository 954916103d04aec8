"""The per-stage resampling plan shared by the SAGAN generator and discriminator.

80 x 344 = (5 x 2^4) x (43 x 2^3): with 4 stages the bottom map is 5 x 43 and the generator's
stages upsample by (2, 2), (2, 2), (2, 2), (2, 1); the discriminator pools by the same factors.
"""

from __future__ import annotations


def _twos(n: int) -> int:
    count = 0
    while n > 0 and n % 2 == 0:
        n //= 2
        count += 1
    return count


def plan_upsampling(
    mel_shape: tuple[int, int], n_stages: int
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """-> (bottom (h, w), per-stage (h, w) factors of 1 or 2, doubling each dim in early stages)."""
    height, width = int(mel_shape[0]), int(mel_shape[1])
    if n_stages < 1 or height < 1 or width < 1:
        raise ValueError(
            f"need n_stages >= 1 and a positive mel_shape, got n_stages={n_stages}, "
            f"mel_shape={tuple(mel_shape)}"
        )
    doubles_h, doubles_w = min(_twos(height), n_stages), min(_twos(width), n_stages)
    if max(doubles_h, doubles_w) < n_stages:
        raise ValueError(
            f"mel_shape {tuple(mel_shape)} cannot be upsampled in {n_stages} stages: one of its "
            f"dims must be divisible by 2**{n_stages} = {2 ** n_stages} so that every stage "
            f"doubles something; use fewer stages or pad the mel (e.g. 80 x 344 with 4 stages)"
        )
    factors = [(2 if i < doubles_h else 1, 2 if i < doubles_w else 1) for i in range(n_stages)]
    bottom = (height >> doubles_h, width >> doubles_w)
    return bottom, factors
