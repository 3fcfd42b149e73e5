"""DNS-style mixing of one utterance: reverberation with an early-reflection target, level, SNR, clipping.

Used by the fixed-set simulation (local/simulate.py) and by on-the-fly mixing during training, so
both produce the same distribution. Definitions (powers are means over the whole segment):

    reverberant = dry * rir                     (convolution, cut to the segment length)
    target      = dry * rir[: d + early]        (d = index of the direct path, the RIR's peak;
                                                 target = dry speech when there is no RIR)
    level       = 10 log10(P(reverberant))      (dBFS, set to the drawn speech level)
    SNR         = 10 log10(P(reverberant) / P(noise))
    mixture     = reverberant + noise;  noise reference = mixture - target
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

EPS = 1e-12
PEAK = 0.99


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def db(p: float) -> float:
    return float(10.0 * np.log10(max(p, EPS)))


def reverberate(dry: np.ndarray, rir: np.ndarray | None, fs: int, early_ms: float):
    """Return (reverberant, target) of the same length as ``dry``."""
    if rir is None:
        return dry.copy(), dry.copy()
    n = len(dry)
    direct = int(np.argmax(np.abs(rir)))
    early = rir[: direct + int(round(early_ms * fs / 1000.0)) + 1]
    # Delay-compensate both by the direct-path delay so the target is time-aligned with dry speech.
    reverberant = fftconvolve(dry, rir[direct:])[:n]
    target = fftconvolve(dry, early[direct:])[:n]
    return reverberant, target


def fit_length(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """``n`` samples of ``x`` from ``offset``, looping ``x`` when it is shorter (used for noise)."""
    if len(x) == 0:
        raise ValueError("empty signal")
    reps = int(np.ceil((offset + n) / len(x)))
    return np.tile(x, reps)[offset : offset + n] if reps > 1 else x[offset : offset + n]


@dataclass
class Mixture:
    noisy: np.ndarray
    target: np.ndarray
    noise: np.ndarray
    snr_db: float
    level_dbfs: float
    scaled: bool
    clipped: bool


def mix(
    dry: np.ndarray,
    noises: list[np.ndarray],
    rir: np.ndarray | None,
    snr_db: float,
    level_dbfs: float,
    fs: int,
    early_ms: float,
    clipping: str = "scale",
) -> Mixture:
    """Mix one utterance. ``dry`` and each noise must already have the segment length."""
    reverberant, target = reverberate(dry, rir, fs, early_ms)
    p_speech = power(reverberant)
    if p_speech < EPS:
        raise ValueError("silent speech segment")
    gain = np.sqrt(10.0 ** (level_dbfs / 10.0) / p_speech)
    reverberant, target = reverberant * gain, target * gain

    noise = np.zeros_like(dry)
    for n in noises:
        p = power(n)
        if p < EPS:
            raise ValueError("silent noise segment")
        noise = noise + n / np.sqrt(p)  # equal power per noise source
    noise *= np.sqrt(power(reverberant) / (power(noise) * 10.0 ** (snr_db / 10.0)))
    noisy = reverberant + noise

    scaled = clipped = False
    peak = float(np.max(np.abs(noisy)))
    if peak > PEAK:
        if clipping == "scale":
            g = PEAK / peak
            noisy, target, reverberant, noise = noisy * g, target * g, reverberant * g, noise * g
            scaled = True
        else:
            noisy = np.clip(noisy, -PEAK, PEAK)
            clipped = True
    return Mixture(
        noisy=noisy.astype(np.float32),
        target=target.astype(np.float32),
        noise=(noisy - target).astype(np.float32),
        snr_db=db(power(reverberant)) - db(power(noise)),
        level_dbfs=db(power(reverberant)),
        scaled=scaled,
        clipped=clipped,
    )
