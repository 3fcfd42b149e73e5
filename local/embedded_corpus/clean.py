"""Clean clips of the embedded corpus: consecutive prompts of one speaker joined into 4-12 s clips.

For each speaker (one worker task each) the prompts are taken in order from a seeded starting point;
each prompt is decoded, trimmed of silence (long inner pauses shrink to 0.3 s) and resampled to
48 kHz, then prompts are joined with seeded 0.2-0.6 s pauses until the clip reaches its seeded
target length. Clips are normalised to TARGET_DBFS active level (never above PEAK_MAX) and written
as DNS5 read_speech files: book_<book>_chp_0001_reader_<reader>_1_seg_<n>.wav.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfgridnet_pl.fileio import write_wav_atomic

from .audio import FS_OUT, active_level_db, resample, rng_for, set_level, speech_units
from .sources import Prompt, SourceError, Speaker, load

CLEAN_SUBDIR = "datasets_fullband/clean_fullband/read_speech"
TARGET_DBFS = -25.0
CLIP_MIN_S, CLIP_MAX_S = 4.0, 12.0  # seeded target length of each clip
CLIP_HARD_MAX_S = 16.0  # a clip is closed before passing CLIP_MAX_S (if >= CLIP_MIN_S) or this
KEEP_MIN_S = 2.0  # a last, short clip is kept from this length on (else dropped and counted)
PAUSE_S = (0.2, 0.6)


def clip_name(book: int, reader: int, seg: int) -> str:
    """DNS5 read_speech file name (real example: book_00701_chp_0012_reader_02603_4_seg_1.wav)."""
    return f"book_{book:05d}_chp_0001_reader_{reader:05d}_1_seg_{seg}.wav"


def allocate(available: dict[str, float], per_speaker_s: float, total_s: float | None) -> dict[str, float]:
    """Seconds of clean speech to take from each speaker: at most its cap, and at most ``total_s``
    in all, shared equally (water-filling) so that a small total still covers every speaker."""
    caps = {name: min(seconds, per_speaker_s) for name, seconds in available.items()}
    if total_s is None or sum(caps.values()) <= total_s:
        return caps
    budget, left = {}, dict(caps)
    remaining = total_s
    while left:
        share = remaining / len(left)
        small = {n: c for n, c in left.items() if c <= share}
        if not small:
            budget.update({n: share for n in left})
            break
        for name, cap in small.items():
            budget[name] = cap
            remaining -= cap
            del left[name]
    return budget


@dataclass
class CleanResult:
    """What one speaker's task wrote (paths relative to the corpus root) and what it had to skip."""

    speaker: str
    clips: list[tuple[str, float]]
    stats: Counter
    bad: list[tuple[str, str]]


def _write_clip(
    units: list[np.ndarray], pauses: list[int], out_root: Path, name: str, stats: Counter
) -> tuple[str, float]:
    parts = [units[0]]
    for unit, pause in zip(units[1:], pauses, strict=True):
        parts.append(np.zeros(pause, dtype=np.float32))
        parts.append(unit)
    audio = np.concatenate(parts)
    level, limited = set_level(audio, active_level_db(audio, FS_OUT), TARGET_DBFS)
    stats["peak_limited_clips"] += int(limited)
    rel = f"{CLEAN_SUBDIR}/{name}"
    write_wav_atomic(out_root / rel, level, FS_OUT)
    return rel, len(audio) / FS_OUT


class _Clips:
    """One speaker's clips as they are written: the open clip (speech units and the pauses between
    them) and what is done. Each clip gets a seeded target length; the last aims at what is left of
    the budget, so a capped build does not overshoot much."""

    def __init__(self, reader: int, budget_s: float, rng: np.random.Generator, out_root: Path):
        self.reader, self.budget_s, self.rng, self.out_root = reader, budget_s, rng, out_root
        self.clips: list[tuple[str, float]] = []
        self.stats: Counter = Counter()
        self.seg_of_book: Counter = Counter()
        self.done_s = 0.0
        self.units: list[np.ndarray] = []
        self.pauses: list[int] = []
        self.length = 0
        self.book = 0
        self.target = self._next_target()

    def _next_target(self) -> float:
        return (
            min(self.rng.uniform(CLIP_MIN_S, CLIP_MAX_S), max(CLIP_MIN_S, self.budget_s - self.done_s))
            * FS_OUT
        )

    def full(self) -> bool:
        return self.done_s >= self.budget_s

    def close(self) -> None:
        self.seg_of_book[self.book] += 1
        name = clip_name(self.book, self.reader, self.seg_of_book[self.book])
        rel, seconds = _write_clip(self.units, self.pauses, self.out_root, name, self.stats)
        self.clips.append((rel, seconds))
        self.done_s += seconds
        self.units, self.pauses, self.length = [], [], 0
        self.target = self._next_target()

    def add(self, piece: np.ndarray, pause: int, book: int) -> bool:
        """Append a speech unit after ``pause`` samples of silence (a new clip starts in ``book``),
        closing clips as they fill; True once the budget is spent (``piece`` may then be dropped)."""
        grown = self.length + pause + len(piece)
        too_long = grown > CLIP_MAX_S * FS_OUT and self.length >= CLIP_MIN_S * FS_OUT
        if self.units and (too_long or grown > CLIP_HARD_MAX_S * FS_OUT):
            self.close()
            if self.full():
                return True
        if not self.units:
            self.book = book
        else:
            self.pauses.append(pause)
            self.length += pause
        self.units.append(piece)
        self.length += len(piece)
        if self.length >= self.target:
            self.close()
        return self.full()

    def finish(self) -> None:
        """Close the open clip if it is long enough to keep, else count it as dropped."""
        if not self.units:
            return
        if self.length >= KEEP_MIN_S * FS_OUT:
            self.close()
        else:
            self.stats["short_tail_dropped_s"] += round(self.length / FS_OUT, 3)


def build_speaker(
    speaker: Speaker, prompts: list[Prompt], budget_s: float, seed: int, pkgs_dir: Path, out_root: Path
) -> CleanResult:
    """Write ``budget_s`` seconds (or all there is) of clips of one speaker under ``out_root``."""
    rng = rng_for(seed, "clean", speaker.name)
    bad: list[tuple[str, str]] = []
    if not prompts or budget_s <= 0:
        return CleanResult(speaker.name, [], Counter(), bad)
    start = int(rng.integers(len(prompts)))
    clips = _Clips(speaker.reader, budget_s, rng, out_root)
    for prompt in prompts[start:] + prompts[:start]:
        if clips.full():
            break
        try:
            audio, fs = load(pkgs_dir / prompt.package / prompt.relpath)
        except SourceError as err:
            bad.append((f"{prompt.package}/{prompt.relpath}", str(err)))
            continue
        pieces, hard_cuts = speech_units(audio, fs, CLIP_MAX_S)
        clips.stats["hard_cuts"] += hard_cuts
        if not pieces:
            clips.stats["silent_prompts"] += 1
            continue
        clips.stats["prompts_used"] += 1
        for piece in pieces:
            piece = resample(piece, fs)
            pause = int(rng.uniform(*PAUSE_S) * FS_OUT)
            if clips.add(piece, pause, prompt.book):
                break
    clips.finish()
    return CleanResult(speaker.name, clips.clips, clips.stats, bad)
