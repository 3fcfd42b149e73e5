"""Signal helpers for the embedded corpus: seeded RNGs, silence trimming, levels, resampling, noise colours.

Everything here is a pure function of its inputs (and of the seed it is given), so a build with the
same seed gives the same samples whatever the number of worker processes.
"""

from __future__ import annotations

import zlib

import numpy as np
import soxr

FS_OUT = 48000  # DNS5 "fullband" rate of every file the builder writes
PEAK_MAX = 0.99  # no written sample exceeds this (about -0.1 dBFS), so PCM16 never clips


def rng_for(seed: int, *tags: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the tags (strings or ints), not on call order."""
    words = [int(seed) & 0xFFFFFFFF]
    for tag in tags:
        words.append(zlib.crc32(str(tag).encode("utf-8")))
    return np.random.default_rng(words)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) float -> (samples,) float32 by averaging the channels."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    return audio


def resample(audio: np.ndarray, fs_in: int, fs_out: int = FS_OUT) -> np.ndarray:
    """Resample with soxr (HQ); a no-op when the rates already match."""
    if fs_in == fs_out:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), fs_in, fs_out, quality="HQ").astype(np.float32)


def frame_db(audio: np.ndarray, frame: int) -> np.ndarray:
    """Mean-square level in dBFS of consecutive non-overlapping frames (the last partial one included)."""
    n = len(audio)
    if n == 0:
        return np.zeros(0)
    n_frames = -(-n // frame)
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[:n] = audio
    power = np.mean(padded.reshape(n_frames, frame) ** 2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def speech_regions(
    audio: np.ndarray,
    fs: int,
    floor_db: float = -55.0,
    dynamic_db: float = 40.0,
    merge_gap_s: float = 0.5,
    pad_before_s: float = 0.05,
    pad_after_s: float = 0.1,
) -> list[tuple[int, int]]:
    """Sample ranges that hold speech: 10 ms frames within ``dynamic_db`` of the loudest frame.

    Frames are active when louder than both ``floor_db`` and (loudest frame - ``dynamic_db``); active
    runs closer than ``merge_gap_s`` are merged and padded. An empty list means the input is silent.
    """
    frame = max(1, int(round(0.01 * fs)))
    levels = frame_db(audio, frame)
    if levels.size == 0 or levels.max() < floor_db:
        return []
    active = levels > max(floor_db, levels.max() - dynamic_db)
    idx = np.flatnonzero(active)
    merge = int(round(merge_gap_s / 0.01))
    runs: list[list[int]] = [[int(idx[0]), int(idx[0])]]
    for i in idx[1:]:
        if i - runs[-1][1] <= merge:
            runs[-1][1] = int(i)
        else:
            runs.append([int(i), int(i)])
    before, after = int(round(pad_before_s * fs)), int(round(pad_after_s * fs))
    out = []
    for first, last in runs:
        start = max(0, first * frame - before)
        end = min(len(audio), (last + 1) * frame + after)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def fade(audio: np.ndarray, fs: int, seconds: float = 0.005) -> np.ndarray:
    """Short linear fade-in and fade-out so that cut edges do not click."""
    n = min(len(audio) // 2, int(round(seconds * fs)))
    if n == 0:
        return audio
    audio = np.array(audio, dtype=np.float32, copy=True)
    ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
    audio[:n] *= ramp
    audio[-n:] *= ramp[::-1]
    return audio


def speech_units(
    audio: np.ndarray, fs: int, max_s: float, pause_s: float = 0.3
) -> tuple[list[np.ndarray], int]:
    """Trim a prompt into pieces no longer than ``max_s`` seconds, split at pauses.

    Speech regions are joined with ``pause_s`` of silence (long pauses shrink to it) while the piece
    stays under ``max_s``; a single region longer than that is cut into equal parts. Returns the pieces
    and the number of such hard cuts (so the caller can count them).
    """
    regions = speech_regions(audio, fs)
    limit = int(max_s * fs)
    gap = np.zeros(int(round(pause_s * fs)), dtype=np.float32)
    pieces: list[np.ndarray] = []
    hard_cuts = 0
    current: list[np.ndarray] = []
    length = 0
    for start, end in regions:
        seg = fade(audio[start:end], fs)
        if len(seg) > limit:
            if current:
                pieces.append(np.concatenate(current))
                current, length = [], 0
            n_parts = -(-len(seg) // limit)
            hard_cuts += n_parts - 1
            pieces.extend(fade(part, fs) for part in np.array_split(seg, n_parts))
            continue
        extra = len(seg) + (len(gap) if current else 0)
        if current and length + extra > limit:
            pieces.append(np.concatenate(current))
            current, length = [], 0
            extra = len(seg)
        if current:
            current.append(gap)
        current.append(seg)
        length += extra
    if current:
        pieces.append(np.concatenate(current))
    return pieces, hard_cuts


def active_level_db(audio: np.ndarray, fs: int, dynamic_db: float = 40.0, floor_db: float = -70.0) -> float:
    """Active speech level in dBFS: RMS over the 20 ms frames within ``dynamic_db`` of the loudest.

    A simple stand-in for ITU-T P.56; ``-inf`` for silence.
    """
    frame = max(1, int(round(0.02 * fs)))
    levels = frame_db(audio, frame)
    if levels.size == 0 or levels.max() < floor_db:
        return float("-inf")
    active = levels > max(floor_db, levels.max() - dynamic_db)
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[active] / 10.0))))


def rms_db(audio: np.ndarray) -> float:
    """Plain RMS level in dBFS (``-inf`` for all zeros)."""
    power = float(np.mean(np.asarray(audio, dtype=np.float64) ** 2)) if len(audio) else 0.0
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def set_level(audio: np.ndarray, current_db: float, target_db: float) -> tuple[np.ndarray, bool]:
    """Scale from ``current_db`` to ``target_db``, lowering the gain if the peak would pass PEAK_MAX.

    Returns the scaled audio and whether the peak limit lowered the gain.
    """
    if not np.isfinite(current_db):
        raise ValueError("cannot set the level of silent audio")
    gain = 10.0 ** ((target_db - current_db) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    limited = peak > PEAK_MAX
    if limited:
        gain *= PEAK_MAX / peak
    return (audio * gain).astype(np.float32), limited


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown, -1 blue), unit RMS.

    Shaped in the frequency domain; the DC bin is zeroed and the lowest bins are held at 20 Hz so
    brown noise does not drift.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / FS_OUT)
    shaped = np.maximum(freqs, 20.0) ** (-exponent / 2.0)
    shaped[0] = 0.0
    noise = np.fft.irfft(spectrum * shaped, n=n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def slow_envelope(rng: np.random.Generator, n: int, depth: float, rate_hz: float) -> np.ndarray:
    """A smooth random gain curve in [1 - depth, 1]: sums of two sinusoids with random phases."""
    t = np.arange(n) / FS_OUT
    phases = rng.uniform(0, 2 * np.pi, size=2)
    wave = 0.5 * (
        np.sin(2 * np.pi * rate_hz * t + phases[0]) + np.sin(2 * np.pi * rate_hz * 0.37 * t + phases[1])
    )
    return (1.0 - depth * (0.5 + 0.5 * wave)).astype(np.float32)
