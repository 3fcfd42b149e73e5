"""Load and check conf/simulation.yaml: every error names the file and the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SetSpec:
    num_utts: int
    segment_s: float


@dataclass(frozen=True)
class SimulationConfig:
    fs: int
    seed: int
    split: dict[str, float]
    sets: dict[str, SetSpec]
    snr_db: tuple[float, float]
    speech_level_dbfs: tuple[float, float]
    rir_prob: float
    early_reflection_ms: float
    noises_per_mixture: tuple[int, int]
    clipping: str
    source: str = field(default="", compare=False)


_SPLIT_KEYS = tuple(f"{p}{s}_share" for p in ("", "noise_", "rir_") for s in ("dev", "test"))


def _range(cfg: dict, key: str, where: str, kind=float) -> tuple:
    value = cfg[key]
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"{where}: '{key}' must be a list [low, high], got {value!r}")
    low, high = (kind(v) for v in value)
    if low > high:
        raise ValueError(f"{where}: '{key}' is written backwards: [{low}, {high}] (low > high)")
    return low, high


def load_simulation_config(path: str | Path) -> SimulationConfig:
    """Read and validate a simulation YAML; raise ValueError naming the file and the key."""
    where = str(path)
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping at the top level")
    known = set(SimulationConfig.__dataclass_fields__) - {"source"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = sorted(known - set(cfg))
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")

    split = dict(cfg["split"] or {})
    bad = sorted(set(split) ^ set(_SPLIT_KEYS))
    if bad:
        raise ValueError(f"{where}: 'split' must have exactly {list(_SPLIT_KEYS)}; wrong: {bad}")
    for prefix in ("", "noise_", "rir_"):
        dev, test = float(split[f"{prefix}dev_share"]), float(split[f"{prefix}test_share"])
        if dev <= 0 or test <= 0 or dev + test >= 1:
            raise ValueError(
                f"{where}: 'split.{prefix}dev_share' and '{prefix}test_share' must be > 0 "
                f"and sum to < 1, got {dev} and {test}"
            )
    sets = {}
    for name, spec in (cfg["sets"] or {}).items():
        if name not in SPLITS:
            raise ValueError(f"{where}: 'sets.{name}': set names must be among {SPLITS}")
        try:
            sets[name] = SetSpec(num_utts=int(spec["num_utts"]), segment_s=float(spec["segment_s"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: 'sets.{name}' needs num_utts and segment_s: {err}") from err
        if sets[name].num_utts < 1 or sets[name].segment_s <= 0:
            raise ValueError(f"{where}: 'sets.{name}' needs num_utts >= 1 and segment_s > 0")
    if not 0.0 <= float(cfg["rir_prob"]) <= 1.0:
        raise ValueError(f"{where}: 'rir_prob' must be in [0, 1], got {cfg['rir_prob']}")
    if cfg["clipping"] not in ("scale", "clip"):
        raise ValueError(f"{where}: 'clipping' must be 'scale' or 'clip', got {cfg['clipping']!r}")
    noises = _range(cfg, "noises_per_mixture", where, int)
    if noises[0] < 1:
        raise ValueError(f"{where}: 'noises_per_mixture' must be >= 1")
    level = _range(cfg, "speech_level_dbfs", where)
    if level[1] > 0:
        raise ValueError(f"{where}: 'speech_level_dbfs' must be <= 0 dBFS, got {level}")
    return SimulationConfig(
        fs=int(cfg["fs"]),
        seed=int(cfg["seed"]),
        split={k: float(v) for k, v in split.items()},
        sets=sets,
        snr_db=_range(cfg, "snr_db", where),
        speech_level_dbfs=level,
        rir_prob=float(cfg["rir_prob"]),
        early_reflection_ms=float(cfg["early_reflection_ms"]),
        noises_per_mixture=noises,
        clipping=cfg["clipping"],
        source=where,
    )
