"""Synthetic test signals shared by the tests."""

from __future__ import annotations

import numpy as np

FS = 16000


def speechlike(seconds: float, seed: int | np.random.Generator = 0, fs: int = FS) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal (0.1 peak) that PESQ's and STOI's voice detectors
    accept: a gliding 70-150 Hz pitch with 24 harmonics under a 3 Hz envelope. ``seed`` is a seed or
    a generator (drawn from, so successive calls differ)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    phase = 2 * np.pi * np.cumsum(110 + 40 * np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 6))) / fs
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return 0.1 * envelope * sum(np.sin(k * phase) / k for k in range(1, 25))


def harmonic_tone(n: int, rng: np.random.Generator, fs: int = FS) -> np.ndarray:
    """``n`` samples of a harmonic tone (0.1 peak): a constant random pitch of 100-220 Hz with 11
    harmonics under a 2-5 Hz envelope. Steadier than :func:`speechlike` (no pitch glide), so a tiled
    period of it stays nearly stationary: what the tests of chunked processing compare on."""
    t = np.arange(n) / fs
    f0 = rng.uniform(100, 220)
    tone = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 2
    return 0.1 * tone * envelope
