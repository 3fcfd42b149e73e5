"""Intrusive per-utterance metrics: PESQ (wide-band), STOI and SI-SNR.

* ``PESQ_WB``: ITU-T P.862.2 wide-band PESQ (MOS-LQO, about 1.04 to 4.64) from the ``pesq`` package,
  16 kHz only.
* ``STOI``: short-time objective intelligibility from ``pystoi`` (0 to 1, not x100 as ESPnet's
  enh_scoring writes it), classic (not extended) STOI.
* ``SI_SNR``: scale-invariant signal-to-noise ratio in dB (Le Roux et al., 2019), our code. With the
  reference ``s`` and the estimate ``s_hat`` both made zero-mean,

      s_target = (<s_hat, s> / ||s||^2) * s,    e = s_hat - s_target,
      SI_SNR   = 10 * log10(||s_target||^2 / ||e||^2)

  computed in float64 with no epsilon; it is undefined (``MetricError``) when ``s`` is constant (zero
  energy after removing the mean) and +inf only for a perfect estimate.

All are higher-is-better. Signals are 1-D float arrays at the same rate; ``align`` trims the longer one.
"""

from __future__ import annotations

import numpy as np

INTRUSIVE = ("PESQ_WB", "STOI", "SI_SNR")


class MetricError(ValueError):
    """The metric is undefined for this input (silent reference, no utterance found, ...)."""


def align(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Trim both signals to the shorter length; also return how many samples were cut (0 if equal)."""
    n = min(len(ref), len(est))
    return ref[:n], est[:n], abs(len(ref) - len(est))


def si_snr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SNR of ``est`` against ``ref`` in dB (see the module docstring for the formula)."""
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    if ref.shape != est.shape or ref.ndim != 1:
        raise ValueError(f"si_snr needs two 1-D signals of equal length, got {ref.shape} and {est.shape}")
    ref = ref - ref.mean()
    est = est - est.mean()
    ref_energy = float(np.dot(ref, ref))
    if ref_energy == 0.0:
        raise MetricError("SI-SNR is undefined for a constant (silent) reference")
    target = (np.dot(est, ref) / ref_energy) * ref
    noise = est - target
    target_energy, noise_energy = float(np.dot(target, target)), float(np.dot(noise, noise))
    if noise_energy == 0.0:
        return float("inf")
    if target_energy == 0.0:
        raise MetricError("SI-SNR is -inf: the estimate is orthogonal to the reference")
    return 10.0 * np.log10(target_energy / noise_energy)


def pesq_wb(ref: np.ndarray, est: np.ndarray, fs: int = 16000) -> float:
    """Wide-band PESQ (P.862.2) of ``est`` against ``ref``; ``MetricError`` when PESQ finds no speech."""
    from pesq import PesqError, pesq

    if fs != 16000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio, got {fs} Hz")
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # pesq normalises by the peak, 0 when silent
            return float(pesq(fs, np.asarray(ref, dtype=np.float64), np.asarray(est, dtype=np.float64), "wb"))
    except PesqError as exc:  # NoUtterancesError, BufferTooShortError
        raise MetricError(f"PESQ: {exc}") from exc


def stoi(ref: np.ndarray, est: np.ndarray, fs: int = 16000) -> float:
    """Classic STOI (0-1) of ``est`` against ``ref``."""
    from pystoi import stoi as _stoi

    ref, est = np.asarray(ref, dtype=np.float64), np.asarray(est, dtype=np.float64)
    return float(_stoi(ref, est, fs, extended=False))


def compute(name: str, ref: np.ndarray, est: np.ndarray, fs: int) -> float:
    """One intrusive metric by its output name (``PESQ_WB``, ``STOI``, ``SI_SNR``) for an aligned pair."""
    if name == "PESQ_WB":
        return pesq_wb(ref, est, fs)
    if name == "STOI":
        return stoi(ref, est, fs)
    if name == "SI_SNR":
        return si_snr(ref, est)
    raise ValueError(f"unknown intrusive metric {name!r}; known: {', '.join(INTRUSIVE)}")
