"""Simulated room impulse responses of the embedded corpus (pyroomacoustics image method, 48 kHz).

Laid out like DNS5's SLR26 copy:
  datasets_fullband/impulse_responses/SLR26/simulated_rirs_48k/<size>room/RoomNNN/RoomNNN-NNNNN.wav
RIR i goes to room size i mod 3 (small, medium, large); each room holds RIRS_PER_ROOM source/microphone
pairs. A room's shape and target RT60 are seeded by (seed, size, room), the positions by
(seed, size, room, n); pyroomacoustics.inverse_sabine turns the RT60 into wall absorption and image order.
Each RIR is cut where its energy decay curve falls 60 dB, faded out over 10 ms, and scaled to a 0.9 peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyroomacoustics as pra

from tfgridnet_pl.fileio import write_wav_atomic

from .audio import FS_OUT, rng_for

RIR_SUBDIR = "datasets_fullband/impulse_responses/SLR26/simulated_rirs_48k"
RIRS_PER_ROOM = 5
# size: (length/width range m, height range m, target RT60 range s)
ROOM_SIZES = {
    "small": ((3.0, 7.0), (2.4, 3.0), (0.2, 0.5)),
    "medium": ((7.0, 15.0), (2.8, 4.0), (0.4, 0.8)),
    "large": ((15.0, 30.0), (4.0, 8.0), (0.6, 1.0)),
}
WALL_GAP_M = 0.5  # sources and microphones keep this distance from every wall
MAX_RIR_S = 2.0


@dataclass(frozen=True)
class RirSpec:
    """Where RIR number ``index`` of the build goes."""

    size: str
    room: int
    n: int

    @property
    def relpath(self) -> str:
        return f"{RIR_SUBDIR}/{self.size}room/Room{self.room:03d}/Room{self.room:03d}-{self.n:05d}.wav"


def plan(n_rirs: int) -> list[RirSpec]:
    """RIR i -> (size i mod 3, room and position number within that size)."""
    sizes = list(ROOM_SIZES)
    specs = []
    for i in range(n_rirs):
        k = i // len(sizes)  # index within its size
        specs.append(RirSpec(sizes[i % len(sizes)], 1 + k // RIRS_PER_ROOM, 1 + k % RIRS_PER_ROOM))
    return specs


def _room(seed: int, spec: RirSpec) -> tuple[list[float], float]:
    rng = rng_for(seed, "rir", spec.size, spec.room)
    side, height, rt60 = ROOM_SIZES[spec.size]
    dims = [
        round(float(rng.uniform(*side)), 2),
        round(float(rng.uniform(*side)), 2),
        round(float(rng.uniform(*height)), 2),
    ]
    return dims, round(float(rng.uniform(*rt60)), 3)


def _positions(seed: int, spec: RirSpec, dims: list[float]) -> tuple[np.ndarray, np.ndarray]:
    rng = rng_for(seed, "rir", spec.size, spec.room, spec.n)
    low = np.array([WALL_GAP_M, WALL_GAP_M, 0.0])
    high = np.array(dims) - WALL_GAP_M
    max_dist = max(1.0, 0.5 * min(dims[:2]))
    for _ in range(100):
        src = np.append(rng.uniform(low[:2], high[:2]), rng.uniform(1.2, min(1.9, dims[2] - 0.3)))
        mic = np.append(rng.uniform(low[:2], high[:2]), rng.uniform(0.8, min(1.8, dims[2] - 0.3)))
        if 0.7 <= np.linalg.norm(src - mic) <= max_dist:
            break
    return src, mic


def _cut(h: np.ndarray) -> np.ndarray:
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10.0 * np.log10(energy / energy[0] + 1e-30)
    below = np.flatnonzero(edc_db < -60.0)
    end = int(below[0]) if below.size else len(h)
    end = min(end, int(MAX_RIR_S * FS_OUT))
    h = h[:end].astype(np.float32)
    n = min(len(h) // 2, int(0.01 * FS_OUT))
    h[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return h


def _rir(dims: list[float], rt60: float, src: np.ndarray, mic: np.ndarray) -> tuple[np.ndarray, float]:
    """Image-method RIR for a Sabine RT60 (made longer if the room cannot be that dry)."""
    while True:
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
            break
        except ValueError:
            rt60 *= 1.1
    room = pra.ShoeBox(dims, fs=FS_OUT, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(src.tolist())
    room.add_microphone(mic.tolist())
    room.compute_rir()
    h = np.asarray(room.rir[0][0], dtype=np.float64)
    return h, float(pra.experimental.measure_rt60(h, fs=FS_OUT, decay_db=30))


def simulate(spec: RirSpec, seed: int, out_root: Path) -> dict[str, object]:
    """Simulate and write one RIR; returns its description (a row of rirs.tsv).

    The image method in a shoebox decays more slowly than Sabine's formula says, so the Sabine
    RT60 asked of pyroomacoustics is corrected (up to twice) until the RT60 measured on the RIR
    (T30) is within 10 % of the room's target.
    """
    dims, target = _room(seed, spec)
    src, mic = _positions(seed, spec, dims)
    asked = target
    for _ in range(3):
        raw, measured = _rir(dims, asked, src, mic)
        if abs(measured / target - 1.0) <= 0.1:
            break
        asked *= target / measured
    h = _cut(raw)
    h = h * np.float32(0.9 / np.max(np.abs(h)))
    write_wav_atomic(out_root / spec.relpath, h, FS_OUT)
    return {
        "path": spec.relpath,
        "room": f"{spec.size}/Room{spec.room:03d}",
        "dims_m": "x".join(f"{d:.2f}" for d in dims),
        "rt60_target_s": target,
        "rt60_measured_s": round(measured, 3),
        "distance_m": round(float(np.linalg.norm(src - mic)), 2),
        "seconds": round(len(h) / FS_OUT, 4),
    }
