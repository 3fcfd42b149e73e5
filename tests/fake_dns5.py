"""A small fake DNS5 tree with the real folder layout and file-name patterns, for the tests.

The audio is synthetic (harmonic "speech" with a syllable envelope, coloured noise, exponentially
decaying RIRs), 48 kHz, so preparation, resampling and simulation run exactly as on DNS5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

FS = 48000


def _speech(rng, seconds: float, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    voiced = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h for h in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6.28)), 0, None) ** 2
    return (0.1 * voiced * envelope).astype(np.float32)


def _write(path: Path, audio: np.ndarray, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, FS, subtype=subtype)


def make_fake_dns5(
    root: Path, n_speakers: int = 6, utts_per_speaker: int = 3, seconds: float = 4.0, seed: int = 0
) -> Path:
    """Write the tree under ``root`` and return ``root``."""
    rng = np.random.default_rng(seed)
    base = root / "datasets_fullband"
    for s in range(n_speakers):
        f0 = 100 + 20 * s
        for u in range(utts_per_speaker):
            name = f"book_{s:05d}_chp_{u:04d}_reader_{1000 + s:05d}_{u}_seg_1.wav"
            _write(base / "clean_fullband" / "read_speech" / name, _speech(rng, seconds, f0))
    # Other subsets, with their own naming: VCTK and CREMA-D style.
    _write(base / "clean_fullband" / "vctk_wav48_silence_trimmed" / "p225" / "p225_001_mic1.wav",
           _speech(rng, seconds, 210))  # fmt: skip
    _write(base / "clean_fullband" / "emotional_speech" / "crema_d" / "1001_DFA_ANG_XX.wav",
           _speech(rng, seconds, 180))  # fmt: skip
    for i in range(6):
        white = rng.standard_normal(int(3 * FS))
        coloured = np.cumsum(white) if i % 2 else white  # brown or white
        coloured = 0.1 * coloured / np.max(np.abs(coloured))
        _write(base / "noise_fullband" / f"Noise_{i:03d}.wav", coloured.astype(np.float32))
    for room in ("smallroom", "mediumroom"):
        for i in range(3):
            n = int(0.3 * FS)
            rir = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.05 * FS))
            rir[:200] = 0
            rir[200] = 1.0
            path = (base / "impulse_responses" / "SLR26" / "simulated_rirs_48k" / room / "Room001"
                    / f"Room001-{i + 1:05d}.wav")  # fmt: skip
            _write(path, (0.5 * rir / np.max(np.abs(rir))).astype(np.float32), subtype="FLOAT")
    return root
