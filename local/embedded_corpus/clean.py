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


def build_speaker(
    speaker: Speaker, prompts: list[Prompt], budget_s: float, seed: int, pkgs_dir: Path, out_root: Path
) -> CleanResult:
    """Write ``budget_s`` seconds (or all there is) of clips of one speaker under ``out_root``."""
    rng = rng_for(seed, "clean", speaker.name)
    stats: Counter = Counter()
    bad: list[tuple[str, str]] = []
    clips: list[tuple[str, float]] = []
    if not prompts or budget_s <= 0:
        return CleanResult(speaker.name, clips, stats, bad)
    start = int(rng.integers(len(prompts)))
    order = prompts[start:] + prompts[:start]
    seg_of_book: Counter = Counter()
    done_s = 0.0
    units: list[np.ndarray] = []
    pauses: list[int] = []
    length = 0
    book = 0

    def next_target() -> float:
        # the last clip aims at what is left of the budget, so a capped build does not overshoot much
        return min(rng.uniform(CLIP_MIN_S, CLIP_MAX_S), max(CLIP_MIN_S, budget_s - done_s)) * FS_OUT

    target = next_target()

    def close() -> None:
        nonlocal units, pauses, length, done_s, target
        seg_of_book[book] += 1
        rel, seconds = _write_clip(
            units, pauses, out_root, clip_name(book, speaker.reader, seg_of_book[book]), stats
        )
        clips.append((rel, seconds))
        done_s += seconds
        units, pauses, length = [], [], 0
        target = next_target()

    for prompt in order:
        if done_s >= budget_s:
            break
        try:
            audio, fs = load(pkgs_dir / prompt.package / prompt.relpath)
        except SourceError as err:
            bad.append((f"{prompt.package}/{prompt.relpath}", str(err)))
            continue
        pieces, hard_cuts = speech_units(audio, fs, CLIP_MAX_S)
        stats["hard_cuts"] += hard_cuts
        if not pieces:
            stats["silent_prompts"] += 1
            continue
        stats["prompts_used"] += 1
        for piece in pieces:
            piece = resample(piece, fs)
            pause = int(rng.uniform(*PAUSE_S) * FS_OUT)
            too_long = length + pause + len(piece) > CLIP_MAX_S * FS_OUT and length >= CLIP_MIN_S * FS_OUT
            if units and (too_long or length + pause + len(piece) > CLIP_HARD_MAX_S * FS_OUT):
                close()
                if done_s >= budget_s:
                    break
            if not units:
                book = prompt.book
            else:
                pauses.append(pause)
                length += pause
            units.append(piece)
            length += len(piece)
            if length >= target:
                close()
                if done_s >= budget_s:
                    break
    if units:
        if length >= KEEP_MIN_S * FS_OUT:
            close()
        else:
            stats["short_tail_dropped_s"] += round(length / FS_OUT, 3)
    return CleanResult(speaker.name, clips, stats, bad)
