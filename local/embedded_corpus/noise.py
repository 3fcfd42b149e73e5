"""Noise files of the embedded corpus (datasets_fullband/noise_fullband/<Name>.wav, 48 kHz).

Four kinds, planned as a list of NoiseItem (name, kind, parameters) and rendered one per task:

  babble_NNN               4-8 talkers summed; the talkers are fillets characters that are never
                           clean speakers (sources.BABBLE_CHARACTERS)
  colored_<colour>_NNN     white / pink / brown / blue Gaussian noise, steady or slowly modulated
  sonicpi_<sample>         a Sonic Pi sample of 2 s or more, looped to NOISE_S
  sonicpi_seq_<family>_NN  short one-shot Sonic Pi samples of a family (drums, tabla ...) scattered
                           at seeded times over NOISE_S

Every file is normalised to NOISE_DBFS RMS, never above PEAK_MAX (the simulation sets the SNR).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfgridnet_pl.fileio import write_wav_atomic

from .audio import (
    FS_OUT,
    active_level_db,
    colored_noise,
    resample,
    rms_db,
    rng_for,
    set_level,
    slow_envelope,
    speech_units,
)
from .sources import Prompt, SourceError, load

NOISE_SUBDIR = "datasets_fullband/noise_fullband"
NOISE_S = 10.0  # length of generated and looped noise files
NOISE_DBFS = -30.0
LONG_SAMPLE_S = 2.0  # Sonic Pi samples at least this long are looped, shorter ones are scattered
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}
N_BABBLE = 12
N_COLORED_PER_COLOUR = 3
N_SEQ_PER_FAMILY = 2


@dataclass(frozen=True)
class NoiseItem:
    """One noise file to render: its name (without .wav), kind and sources (package-relative paths)."""

    name: str
    kind: str
    sources: tuple[str, ...] = ()
    params: tuple[tuple[str, object], ...] = ()


@dataclass
class NoiseResult:
    """A rendered noise file (path relative to the corpus root, seconds; None if nothing could be made)."""

    name: str
    kind: str
    path: str | None
    seconds: float
    stats: Counter = field(default_factory=Counter)
    bad: list[tuple[str, str]] = field(default_factory=list)


def plan(noise: list[Prompt], babble: list[Prompt], max_seconds: float | None) -> list[NoiseItem]:
    """The noise files to make, kinds interleaved so that a capped (small) build still has each kind."""
    by_kind: dict[str, list[NoiseItem]] = {"babble": [], "colored": [], "sonicpi": [], "sonicpi_seq": []}
    pool = tuple(p.relpath for p in babble)
    if pool:
        by_kind["babble"] = [NoiseItem(f"babble_{i:03d}", "babble", pool) for i in range(1, N_BABBLE + 1)]
    for i in range(1, N_COLORED_PER_COLOUR + 1):
        for colour in COLOURS:
            modulated = i % 2 == 0
            name = f"colored_{colour}{'_mod' if modulated else ''}_{i:03d}"
            by_kind["colored"].append(
                NoiseItem(name, "colored", (), (("colour", colour), ("modulated", modulated)))
            )
    families: dict[str, list[str]] = {}
    for prompt in noise:
        stem = Path(prompt.relpath).stem
        if prompt.seconds >= LONG_SAMPLE_S:
            by_kind["sonicpi"].append(NoiseItem(f"sonicpi_{stem}", "sonicpi", (prompt.relpath,)))
        else:
            families.setdefault(stem.split("_")[0], []).append(prompt.relpath)
    for family, paths in sorted(families.items()):
        for i in range(1, N_SEQ_PER_FAMILY + 1):
            by_kind["sonicpi_seq"].append(
                NoiseItem(f"sonicpi_seq_{family}_{i:02d}", "sonicpi_seq", tuple(paths))
            )
    items: list[NoiseItem] = []
    queues = [list(q) for q in by_kind.values()]
    while any(queues):
        for queue in queues:
            if queue:
                items.append(queue.pop(0))
    if max_seconds is None:
        return items
    kept, total = [], 0.0
    for item in items:
        if total >= max_seconds:
            break
        kept.append(item)
        total += NOISE_S
    return kept


def _decoded(path: Path, bad: list[tuple[str, str]]) -> tuple[np.ndarray, int] | None:
    try:
        return load(path)
    except SourceError as err:
        bad.append((str(path), str(err)))
        return None


def _babble(item: NoiseItem, rng: np.random.Generator, root: Path, res: NoiseResult) -> np.ndarray | None:
    n = int(NOISE_S * FS_OUT)
    mix = np.zeros(n, dtype=np.float32)
    talkers = int(rng.integers(4, 9))
    made = 0
    for _ in range(talkers):
        stream: list[np.ndarray] = [np.zeros(int(rng.uniform(0.0, 1.0) * FS_OUT), dtype=np.float32)]
        length = len(stream[0])
        tries = 0
        while length < n and tries < 50:
            tries += 1
            rel = item.sources[int(rng.integers(len(item.sources)))]
            decoded = _decoded(root / rel, res.bad)
            if decoded is None:
                continue
            pieces, _ = speech_units(*decoded, max_s=NOISE_S)
            if not pieces:
                res.stats["silent_prompts"] += 1
                continue
            speech = resample(np.concatenate(pieces), decoded[1])
            speech, _ = set_level(speech, active_level_db(speech, FS_OUT), -25.0)
            gap = np.zeros(int(rng.uniform(0.1, 0.4) * FS_OUT), dtype=np.float32)
            stream += [speech, gap]
            length += len(speech) + len(gap)
        if length >= n:
            mix += np.concatenate(stream)[:n]
            made += 1
    res.stats["babble_talkers"] += made
    return mix if made else None


def _colored(item: NoiseItem, rng: np.random.Generator) -> np.ndarray:
    params = dict(item.params)
    n = int(NOISE_S * FS_OUT)
    noise = colored_noise(rng, n, COLOURS[str(params["colour"])])
    if params["modulated"]:
        noise *= slow_envelope(rng, n, depth=rng.uniform(0.4, 0.9), rate_hz=rng.uniform(0.1, 1.0))
    return noise


def _sonicpi(item: NoiseItem, rng: np.random.Generator, root: Path, res: NoiseResult) -> np.ndarray | None:
    decoded = _decoded(root / item.sources[0], res.bad)
    if decoded is None:
        return None
    audio = resample(*decoded)
    n = max(len(audio), int(NOISE_S * FS_OUT))
    start = int(rng.integers(len(audio)))
    return np.resize(np.roll(audio, -start), n)  # np.resize repeats the loop to length n


def _sequence(item: NoiseItem, rng: np.random.Generator, root: Path, res: NoiseResult) -> np.ndarray | None:
    n = int(NOISE_S * FS_OUT)
    out = np.zeros(n + 3 * FS_OUT, dtype=np.float32)
    t = 0.0
    hits = 0
    while t < NOISE_S:
        rel = item.sources[int(rng.integers(len(item.sources)))]
        decoded = _decoded(root / rel, res.bad)
        gain = 10.0 ** (rng.uniform(-12.0, 0.0) / 20.0)
        if decoded is not None:
            hit = resample(*decoded)[: 3 * FS_OUT]
            start = int(t * FS_OUT)
            out[start : start + len(hit)] += gain * hit
            hits += 1
        t += rng.uniform(0.15, 1.2)
    res.stats["sequence_hits"] += hits
    return out[:n] if hits else None


def render(item: NoiseItem, seed: int, pkgs_dir: Path, out_root: Path) -> NoiseResult:
    """Make one noise file under ``out_root``; sources that fail to decode are recorded, not fatal."""
    rng = rng_for(seed, "noise", item.name)
    res = NoiseResult(item.name, item.kind, None, 0.0)
    package = {
        "babble": "fillets-ng-data-cs",
        "sonicpi": "sonic-pi-samples",
        "sonicpi_seq": "sonic-pi-samples",
    }
    root = pkgs_dir / package.get(item.kind, "")
    if item.kind == "babble":
        audio = _babble(item, rng, root, res)
    elif item.kind == "colored":
        audio = _colored(item, rng)
    elif item.kind == "sonicpi":
        audio = _sonicpi(item, rng, root, res)
    elif item.kind == "sonicpi_seq":
        audio = _sequence(item, rng, root, res)
    else:
        raise ValueError(f"unknown noise kind {item.kind!r}")
    res.bad = [(str(Path(p).relative_to(pkgs_dir)), why) for p, why in res.bad]
    if audio is None or not np.isfinite(rms_db(audio)):
        res.stats["noise_files_not_made"] += 1
        return res
    audio, limited = set_level(audio, rms_db(audio), NOISE_DBFS)
    res.stats["peak_limited_noise"] += int(limited)
    res.path = f"{NOISE_SUBDIR}/{item.name}.wav"
    write_wav_atomic(out_root / res.path, audio, FS_OUT)
    res.seconds = len(audio) / FS_OUT
    return res
