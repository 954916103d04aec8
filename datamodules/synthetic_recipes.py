"""Procedural NumPy recipes, one per Foley class, for the synthetic set.

Each recipe is `recipe(rng, n, sr) -> np.float64 [n]` (unnormalised). Every random choice comes
from `rng`, so a clip is a pure function of its generator; each call draws a new member of the
class distribution (event counts, timing, pitch, filters and levels all vary per clip).
Filtering is done in the frequency domain (one rFFT per signal), so a 4 s clip takes a few ms.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

Recipe = Callable[[np.random.Generator, int, int], np.ndarray]


def spectral_gain(x: np.ndarray, sr: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Filter `x` by multiplying its spectrum with `gain(freqs_hz)` (zero-phase)."""
    freqs = np.fft.rfftfreq(x.shape[-1], d=1.0 / sr)
    return np.fft.irfft(np.fft.rfft(x) * gain(freqs), n=x.shape[-1])


def lowpass(x: np.ndarray, sr: int, cutoff: float, order: int = 4) -> np.ndarray:
    """Butterworth-magnitude low-pass at `cutoff` Hz."""
    return spectral_gain(x, sr, lambda f: 1.0 / np.sqrt(1.0 + (f / cutoff) ** (2 * order)))


def highpass(x: np.ndarray, sr: int, cutoff: float, order: int = 4) -> np.ndarray:
    """Butterworth-magnitude high-pass at `cutoff` Hz (DC removed)."""
    def gain(f: np.ndarray) -> np.ndarray:
        ratio = np.divide(cutoff, f, out=np.full_like(f, np.inf), where=f > 0)
        return 1.0 / np.sqrt(1.0 + ratio ** (2 * order))

    return spectral_gain(x, sr, gain)


def attack_decay(m: int, sr: int, attack_s: float, decay_s: float) -> np.ndarray:
    """Envelope [m]: linear rise over `attack_s`, then exponential decay with time constant."""
    t = np.arange(m) / sr
    rise = np.clip(t / max(attack_s, 1.0 / sr), 0.0, 1.0)
    return rise * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)


def add_at(out: np.ndarray, segment: np.ndarray, start: int) -> None:
    """Add `segment` into `out` at sample `start`, truncated at the end of `out`."""
    stop = min(out.shape[0], start + segment.shape[0])
    if start < stop:
        out[start:stop] += segment[: stop - start]


def event_onsets(
    rng: np.random.Generator, count: int, duration_s: float, first_s: tuple, gap_s: tuple,
    clip_s: float,
) -> list[float]:
    """Onsets (s) of up to `count` non-overlapping events of length `duration_s` in the clip."""
    onsets, cursor = [], rng.uniform(*first_s)
    for _ in range(count):
        if cursor + 0.05 > clip_s:
            break
        onsets.append(cursor)
        cursor += duration_s + rng.uniform(*gap_s)
    return onsets


def dog_bark(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """2-5 harmonic barks, f0 300-700 Hz gliding down, 0.1-0.3 s each."""
    out = np.zeros(n)
    f0_clip = rng.uniform(300.0, 700.0)
    n_harm = 5
    for onset in event_onsets(rng, int(rng.integers(2, 6)), 0.3, (0.05, 0.6), (0.1, 0.45), n / sr):
        dur = rng.uniform(0.1, 0.3)
        m = int(dur * sr)
        t = np.arange(m) / sr
        f0 = f0_clip * rng.uniform(0.9, 1.1)
        freq = f0 * (1.0 - (1.0 - rng.uniform(0.6, 0.85)) * t / dur)
        phase = 2.0 * np.pi * np.cumsum(freq) / sr
        k = np.arange(1, n_harm + 1)[:, None]
        amps = rng.uniform(0.5, 1.0, size=(n_harm, 1)) / k
        voiced = (amps * np.sin(k * phase[None, :])).sum(axis=0)
        env = attack_decay(m, sr, rng.uniform(0.01, 0.03), dur / 3.0)
        breath = 0.08 * rng.standard_normal(m)
        add_at(out, (voiced + breath) * env * rng.uniform(0.6, 1.0), int(onset * sr))
    return lowpass(out, sr, 3000.0)


def footstep(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Low lowpassed thumps in a regular rhythm (0.45-0.75 s) with tempo jitter."""
    out = np.zeros(n)
    interval = rng.uniform(0.45, 0.75)
    steps = rng.uniform(0.0, interval) + interval * np.arange(int(n / sr / interval) + 1)
    steps = steps + rng.normal(0.0, 0.04 * interval, size=steps.shape)
    m = int(0.12 * sr)
    for onset in steps[(steps >= 0.0) & (steps < n / sr - 0.05)]:
        env = attack_decay(m, sr, 0.003, rng.uniform(0.015, 0.035))
        add_at(out, rng.standard_normal(m) * env * rng.uniform(0.6, 1.0), int(onset * sr))
    return lowpass(out, sr, rng.uniform(100.0, 300.0))


def gunshot(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-3 broadband impulsive shots with exponential decay and a long lowpassed tail."""
    out = np.zeros(n)
    for onset in event_onsets(rng, int(rng.integers(1, 4)), 0.4, (0.05, 1.0), (0.2, 1.2), n / sr):
        # full-length segments (truncated when added) keep the FFT size fixed and fast
        crack = rng.standard_normal(n) * attack_decay(n, sr, 0.0005, rng.uniform(0.005, 0.02))
        tail = rng.standard_normal(n) * attack_decay(n, sr, 0.01, rng.uniform(0.3, 0.9))
        tail = lowpass(tail, sr, rng.uniform(1500.0, 4000.0), order=2) * rng.uniform(0.1, 0.3)
        add_at(out, (crack + tail) * rng.uniform(0.6, 1.0), int(onset * sr))
    return out


def keyboard(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Irregular typing bursts of tiny high-frequency clicks (press + softer release)."""
    out = np.zeros(n)
    m = int(0.012 * sr)
    cursor = rng.uniform(0.0, 0.5)
    for _ in range(int(rng.integers(2, 5))):
        keys = cursor + np.cumsum(rng.uniform(0.07, 0.22, size=int(rng.integers(4, 15))))
        for onset in keys[keys < n / sr - 0.1]:
            click = rng.standard_normal(m) * attack_decay(m, sr, 0.0003, rng.uniform(0.001, 0.003))
            level = rng.uniform(0.4, 1.0)
            add_at(out, click * level, int(onset * sr))
            add_at(out, 0.4 * level * click[::-1], int((onset + rng.uniform(0.03, 0.08)) * sr))
        cursor = keys[-1] + rng.uniform(0.3, 1.0)
    return highpass(out, sr, rng.uniform(1500.0, 3000.0))


def moving_motor_vehicle(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Engine drone (harmonics of 40-120 Hz) with a Doppler glide and a pass-by envelope."""
    t = np.arange(n) / sr
    t0, width = rng.uniform(0.5, 3.5), rng.uniform(0.4, 1.2)
    wobble = 0.02 * np.sin(2.0 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    freq = rng.uniform(40.0, 120.0) * (1.0 + rng.uniform(0.03, 0.1) * np.tanh(-(t - t0) / width))
    phase = np.mod(2.0 * np.pi * np.cumsum(freq * (1.0 + wobble)) / sr, 2.0 * np.pi)
    n_harm = 12
    k = np.arange(1, n_harm + 1)[:, None]
    amps = rng.uniform(0.3, 1.0, size=(n_harm, 1)) * k ** -rng.uniform(0.7, 1.2)
    drone = (amps * np.sin(k * phase[None, :] + rng.uniform(0, 2 * np.pi, (n_harm, 1)))).sum(0)
    rumble = lowpass(rng.standard_normal(n), sr, rng.uniform(500.0, 1200.0), order=2)
    mix = drone / drone.std() + rng.uniform(0.1, 0.4) * rumble / rumble.std()
    floor = rng.uniform(0.1, 0.4)
    envelope = floor + (1.0 - floor) * np.exp(-0.5 * ((t - t0) / rng.uniform(0.6, 1.5)) ** 2)
    return mix * envelope


def rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Steady dense broadband noise plus many short droplet pings."""
    t = np.arange(n) / sr
    bed = highpass(rng.standard_normal(n), sr, rng.uniform(300.0, 800.0), order=2)
    bed = lowpass(bed, sr, rng.uniform(6000.0, 9000.0), order=2)
    bed *= 1.0 + 0.1 * np.sin(2.0 * np.pi * rng.uniform(0.2, 1.0) * t)
    drops = np.zeros(n)
    count = int(rng.poisson(rng.uniform(40.0, 120.0) * n / sr))
    np.add.at(drops, rng.integers(0, n, size=count), rng.lognormal(0.0, 0.5, size=count))
    kt = np.arange(int(0.008 * sr)) / sr
    ping = np.exp(-kt / 0.002) * np.sin(2.0 * np.pi * rng.uniform(2000.0, 5000.0) * kt)
    drops = np.convolve(drops, ping)[:n]
    return rng.uniform(0.3, 0.6) * bed / bed.std() + drops / max(drops.std(), 1e-9)


def formant_gain(
    f: np.ndarray, centers: list[float], widths: np.ndarray, gains: np.ndarray, hiss: float
) -> np.ndarray:
    """Gaussian formant bands plus a flat 2-9 kHz hiss: the spectral shape of a sneeze."""
    bands = sum(
        g * np.exp(-0.5 * ((f - c) / w) ** 2)
        for c, w, g in zip(centers, widths, gains, strict=True)
    )
    return bands + hiss * ((f > 2000.0) & (f < 9000.0))


def sneeze_cough(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-3 noisy bursts (0.3-0.6 s) shaped by three formant-like bands, attack then decay."""
    out = np.zeros(n)
    for onset in event_onsets(rng, int(rng.integers(1, 4)), 0.6, (0.05, 1.0), (0.2, 0.8), n / sr):
        dur = rng.uniform(0.3, 0.6)
        m = int(dur * sr)
        centers = [rng.uniform(600, 1000), rng.uniform(1500, 2500), rng.uniform(3000, 4500)]
        widths = rng.uniform(150.0, 400.0, size=3)
        gains = rng.uniform(0.4, 1.0, size=3)
        hiss = rng.uniform(0.5, 1.0)
        shape = partial(formant_gain, centers=centers, widths=widths, gains=gains, hiss=hiss)
        burst = spectral_gain(rng.standard_normal(m), sr, shape)
        env = attack_decay(m, sr, rng.uniform(0.02, 0.06), dur / rng.uniform(2.0, 4.0))
        add_at(out, burst * env * rng.uniform(0.6, 1.0), int(onset * sr))
    return out


RECIPES: dict[str, Recipe] = {
    "DogBark": dog_bark,
    "Footstep": footstep,
    "GunShot": gunshot,
    "Keyboard": keyboard,
    "MovingMotorVehicle": moving_motor_vehicle,
    "Rain": rain,
    "Sneeze_Cough": sneeze_cough,
}
