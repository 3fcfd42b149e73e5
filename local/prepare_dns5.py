#!/usr/bin/env python3
"""Stage 1 steps: DNS5-layout tree -> 16 kHz Kaldi-style lists of clean speech, noise and RIRs.

Three sub-commands, run by local/prepare_dns5.sh:

  scan     walk the tree once, write <out>/{clean,noise,rir}.tsv (key, speaker, path relative to root,
           size, mtime) and <out>/<kind>.bad.tsv (entries that cannot be listed, with the reason)
  convert  one job's share: read each file, mix down / resample to 16 kHz (soxr), write it under
           --audio-dir (a cache keyed on each source's path, size and mtime), print
           ``key<TAB>speaker<TAB>path<TAB>seconds`` lines; unreadable or too short files are logged
           and listed in <part>.bad, never silently dropped
  merge    join the parts into <list-dir>/{wav.scp,utt2dur,utt2spk,spk2utt} and a summary; fails
           when the share of bad files exceeds --max-bad-share
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import stat
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tfgridnet_pl.data.dns5_layout import (
    AUDIO_SUFFIXES,
    CLEAN_DIR,
    CLEAN_SUBSETS,
    NOISE_DIR,
    RIR_DIR,
    sanitize_key,
    speaker_of,
    utt_key,
)
from tfgridnet_pl.fileio import atomic_path, write_list, write_text_atomic

log = logging.getLogger("prepare_dns5")
KINDS = ("clean", "noise", "rir")
CLIPPED_LEVEL = 0.999  # a file is counted as clipped when more than CLIPPED_SHARE of its samples
CLIPPED_SHARE = 0.001  # reach CLIPPED_LEVEL of full scale


def _display(path: str) -> str:
    """A file name as text, whatever its bytes: undecodable bytes as \\xNN, control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else ascii(text)[1:-1]


def _name_problem(rel: str) -> str | None:
    """Why a file name cannot go into a Kaldi list, or None."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if any(c in rel for c in "\t\n\r"):
        return "file name holds a tab, newline or carriage return"
    return None


def _walk_audio(top: Path) -> tuple[list[tuple[str, int, int]], list[tuple[str, str]]]:
    """The audio files under ``top``: (relative path, size, mtime in ns) sorted, and the bad entries.

    Recursive, with os.scandir for speed. Symbolic links are followed once: a link back into a folder
    already walked (a loop), a dangling link, an unreadable folder and an audio file whose name cannot
    go into a list are returned as (path, reason) in the second list, never silently skipped.
    """
    found: list[tuple[str, int, int]] = []
    bad: list[tuple[str, str]] = []
    prefix = len(str(top)) + 1  # entry.path is <top>/<relative path>
    seen_dirs = {(st.st_dev, st.st_ino) for st in [top.stat()]}
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            bad.append((folder, f"folder cannot be read: {err.strerror or err}"))
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as err:
                bad.append((entry.path, f"cannot be opened: {err.strerror or err} (dangling link?)"))
                continue
            if entry.is_dir(follow_symlinks=True):
                if (st.st_dev, st.st_ino) in seen_dirs:
                    bad.append((entry.path, "symbolic-link loop: a folder already walked"))
                else:
                    seen_dirs.add((st.st_dev, st.st_ino))
                    stack.append(entry.path)
            elif entry.name.lower().endswith(AUDIO_SUFFIXES):
                rel = entry.path[prefix:]
                problem = _name_problem(rel)
                if problem:
                    bad.append((entry.path, problem))
                elif not stat.S_ISREG(st.st_mode):
                    bad.append((entry.path, "not a regular file"))
                else:
                    found.append((rel, st.st_size, st.st_mtime_ns))
    found.sort()
    return found, bad


def _check_tree(root: Path, subsets: list[str]) -> None:
    """SystemExit naming whatever a DNS5 tree lacks: the root, its three folders, a clean subset."""
    if not root.is_dir():
        raise SystemExit(f"prepare_dns5: DNS5 root does not exist: {root}")
    missing = [d for d in (CLEAN_DIR, NOISE_DIR, RIR_DIR) if not (root / d).is_dir()]
    if missing:
        raise SystemExit(
            f"prepare_dns5: {root} is not a DNS5 tree: missing {', '.join(missing)} "
            "(expected datasets_fullband/{clean_fullband,noise_fullband,impulse_responses})"
        )
    present = sorted(p.name for p in (root / CLEAN_DIR).iterdir() if p.is_dir())
    absent = [s for s in subsets if s not in present]
    if absent:
        raise SystemExit(
            f"prepare_dns5: clean subset(s) {', '.join(absent)} not found under {root / CLEAN_DIR}; "
            f"present: {', '.join(present) or 'none'}. Pass --subsets with the ones you have."
        )
    unknown = [s for s in subsets if s not in CLEAN_SUBSETS]
    if unknown:
        log.warning("subset(s) %s are not DNS5 names; speakers are taken from folder names", unknown)


def scan(root: Path, subsets: list[str], out_dir: Path) -> dict[str, int]:
    """Write the inventories <out_dir>/<kind>.tsv and <kind>.bad.tsv of the tree.

    An inventory line is ``key, speaker, path relative to root, size, mtime_ns``: the size and
    modification time identify the source, so a changed tree changes the inventory (and with it the
    key of every step that depends on it). Entries that cannot be listed go to ``<kind>.bad.tsv``
    (``key-or-path<TAB>path<TAB>reason``), which stage 1 counts with the unreadable files.
    """
    _check_tree(root, subsets)
    rows: dict[str, list[tuple[str, str, str, int, int]]] = {k: [] for k in KINDS}
    bad: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    for subset in subsets:
        files, bad_entries = _walk_audio(root / CLEAN_DIR / subset)
        bad["clean"] += bad_entries
        for rel, size, mtime in files:
            relpath = f"{CLEAN_DIR}/{subset}/{rel}"
            rows["clean"].append((speaker_of(f"{subset}/{rel}"), relpath, rel, size, mtime))
    for kind, folder in (("noise", NOISE_DIR), ("rir", RIR_DIR)):
        files, bad[kind] = _walk_audio(root / folder)
        rows[kind] = [(kind, f"{folder}/{rel}", rel, size, mtime) for rel, size, mtime in files]

    counts = {}
    for kind, items in rows.items():
        if not items:
            raise SystemExit(f"prepare_dns5: no audio files found for {kind} under {root}")
        seen: dict[str, str] = {}
        lines = []
        bad_lines = [f"{_display(p)}\t{_display(p)}\t{reason}\n" for p, reason in bad[kind]]
        for speaker, relpath, rel, size, mtime in items:
            if kind == "clean":
                key = utt_key(speaker, rel)
            else:  # no speakers: each file is its own "speaker", as Kaldi does for unknown speakers
                key = speaker = f"{kind}-{sanitize_key(str(Path(rel).with_suffix('')))}"
            if key in seen:
                bad_lines.append(f"{key}\t{root / relpath}\tmaps to the key of {root / seen[key]}\n")
                continue
            seen[key] = relpath
            lines.append(f"{key}\t{speaker}\t{relpath}\t{size}\t{mtime}\n")
        for line in bad_lines:
            log.warning("bad entry: %s", line.rstrip("\n").replace("\t", " "))
        lines.sort(key=lambda s: s.encode())
        write_text_atomic(out_dir / f"{kind}.tsv", "".join(lines))
        write_text_atomic(out_dir / f"{kind}.bad.tsv", "".join(sorted(bad_lines)))
        counts[kind] = len(lines)
    log.info("scanned %s: %s", root, ", ".join(f"{n} {k}" for k, n in counts.items()))
    return counts


def _to_mono_16k(path: Path, fs_out: int, stats: Counter) -> np.ndarray:
    audio, fs = sf.read(path, dtype="float32", always_2d=True)
    if audio.shape[0] == 0:
        raise ValueError("zero-length audio")
    if audio.shape[1] > 1:
        stats["mixed_down"] += 1
        audio = audio.mean(axis=1, keepdims=True)
    audio = audio[:, 0]
    if not np.all(np.isfinite(audio)):
        raise ValueError("NaN or Inf samples")
    if np.max(np.abs(audio)) < 1e-5:
        raise ValueError("silent: every sample is below -100 dBFS")
    clipped = float(np.mean(np.abs(audio) >= CLIPPED_LEVEL))
    if clipped > CLIPPED_SHARE:
        stats["clipped"] += 1  # kept (DNS5 ships some clipped speech), counted in the stats and the log
        log.info("clipped: %s (%.2f%% of samples at full scale)", path, 100 * clipped)
    if fs != fs_out:
        if fs != 48000:
            stats[f"resampled_from_{fs}"] += 1
        audio = soxr.resample(audio, fs, fs_out, quality="HQ")
    return audio


MIN_SECONDS = {"clean": 0.5, "noise": 0.5, "rir": 0.01}  # shorter files are bad, not mixed
JOURNAL = ".sources.jsonl"  # in each --audio-dir: which source (and repairs) every converted file has


def _read_journal(path: Path) -> dict[str, dict]:
    """Converted file (relative to the audio dir) -> its last journal entry."""
    known: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a line cut short by a kill
                entry = json.loads(line)
                known[entry["dst"]] = entry
    return known


def convert(
    part: Path,
    root: Path,
    audio_dir: Path,
    fs: int,
    out: Path,
    kind: str,
    progress_every: int = 1000,
) -> None:
    """Resample one share of an inventory; write ``<out>`` (good rows) and ``<out>.bad``.

    The converted files are a cache kept in ``audio_dir``, with a journal (``.sources.jsonl``) that
    records, for each of them, the source it was made from (absolute path, size, mtime in ns) and its
    repairs (mixed down, resampled, clipped ...). A file is reused only when the journal says it was
    made from exactly this source; a source that changed, moved or was replaced by another tree with
    the same names is converted again. Journal lines are appended after the file is renamed into
    place, so a job killed at any moment leaves no entry that is not true.
    """
    min_samples = int(MIN_SECONDS[kind] * fs)
    stats: Counter = Counter()
    good, bad = [], []
    rows = [line.rstrip("\n").split("\t") for line in part.read_text(encoding="utf-8").splitlines()]
    audio_dir.mkdir(parents=True, exist_ok=True)
    journal_path = audio_dir / JOURNAL
    known = _read_journal(journal_path)
    journal = open(journal_path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    start = time.time()
    for n, (key, speaker, relpath, *_) in enumerate(rows, 1):
        src = root / relpath
        # datasets_fullband/<kind folder>/a/b.flac -> <audio-dir>/a/b.wav
        rel_dst = Path(*Path(relpath).parts[2:]).with_suffix(".wav").as_posix()
        dst = audio_dir / rel_dst
        audio, repairs = None, Counter()
        try:
            st = src.stat()
            source = {"src": str(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            entry = known.get(rel_dst)
            if entry and all(entry.get(k) == v for k, v in source.items()) and dst.exists():
                stats["cached"] += 1
                seconds = sf.info(dst).duration
                repairs.update(entry.get("repairs", {}))
            else:
                audio = _to_mono_16k(src, fs, repairs)
                if len(audio) < min_samples:
                    raise ValueError(
                        f"too short: {len(audio) / fs:.3f} s (a {kind} file needs {MIN_SECONDS[kind]} s)"
                    )
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not fatal
            log.warning("bad file %s: %s", _display(str(src)), err)
            bad.append(f"{key}\t{_display(str(src))}\t{type(err).__name__}: {err}\n")
            continue
        if audio is not None:  # outside the try: a write error (disk full) stops the stage, it is no bad file
            peak = float(np.max(np.abs(audio)))
            if peak > 1.0:
                # Resampling can overshoot full scale; scale rather than wrap on 16-bit write.
                repairs["rescaled_overshoot"] += 1
                audio = audio / peak * 0.999
            with atomic_path(dst, suffix=".wav") as tmp:
                sf.write(tmp, audio, fs, subtype="PCM_16", format="WAV")
            journal.write(json.dumps({"dst": rel_dst, **source, "repairs": dict(repairs)}) + "\n")
            journal.flush()
            seconds = len(audio) / fs
        stats["converted"] += 1  # files in <out>, converted now or before (cached)
        stats.update(repairs)
        good.append(f"{key}\t{speaker}\t{dst}\t{seconds:.3f}\n")
        if n % progress_every == 0:
            log.info("%d/%d files (%.1f files/s)", n, len(rows), n / (time.time() - start))
    journal.close()
    write_text_atomic(Path(f"{out}.bad"), "".join(bad))
    cached = stats.pop("cached", 0)  # how the work was done, not what the lists hold: in the log only
    write_text_atomic(Path(f"{out}.stats.json"), json.dumps(dict(stats), sort_keys=True))
    write_text_atomic(out, "".join(good))
    log.info("%s: %d good (%d cached), %d bad, %s", part.name, len(good), cached, len(bad), dict(stats))


def merge(
    kind: str, parts: list[Path], list_dir: Path, max_bad_share: float, scan_bad: Path | None = None
) -> None:
    """Join converted parts into the Kaldi lists of one kind; ``scan_bad``: entries the scan refused."""
    wav, dur, spk = {}, {}, {}
    bad_lines: list[str] = scan_bad.read_text(encoding="utf-8").splitlines() if scan_bad else []
    stats: Counter = Counter()
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            key, speaker, path, seconds = line.split("\t")
            wav[key], dur[key], spk[key] = path, seconds, speaker
        bad_lines += Path(f"{part}.bad").read_text(encoding="utf-8").splitlines()
        stats.update(json.loads(Path(f"{part}.stats.json").read_text()))
    total = len(wav) + len(bad_lines)
    share = len(bad_lines) / max(total, 1)
    list_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(list_dir / "bad_files.tsv", "".join(f"{b}\n" for b in sorted(bad_lines)))
    if share > max_bad_share or not wav:
        raise SystemExit(
            f"prepare_dns5: {len(bad_lines)} of {total} {kind} files are unreadable ({share:.1%} > "
            f"--max-bad-share {max_bad_share:.1%}); see {list_dir / 'bad_files.tsv'}"
        )
    write_list(list_dir / "wav.scp", wav)
    write_list(list_dir / "utt2dur", dur)
    write_list(list_dir / "utt2spk", spk)
    spk2utt = defaultdict(list)
    for key in sorted(spk, key=str.encode):
        spk2utt[spk[key]].append(key)
    write_list(list_dir / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    hours = sum(float(d) for d in dur.values()) / 3600
    summary = {
        "kind": kind,
        "files": len(wav),
        "hours": round(hours, 4),
        "bad": len(bad_lines),
        "speakers": len(spk2utt),
        **dict(stats),
    }
    write_text_atomic(list_dir / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    log.info("%s: %s", kind, json.dumps(summary, sort_keys=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("scan")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--subsets", required=True, help="space-separated clean_fullband sub-folders")
    p.add_argument("--out-dir", type=Path, required=True)
    p = sub.add_parser("convert")
    p.add_argument("--part", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--audio-dir", type=Path, required=True)
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--kind", choices=KINDS, required=True, help="sets the shortest usable file")
    p = sub.add_parser("merge")
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--list-dir", type=Path, required=True)
    p.add_argument("--max-bad-share", type=float, default=0.01)
    p.add_argument("--scan-bad", type=Path, help="the scan's <kind>.bad.tsv, counted with the bad files")
    p.add_argument("parts", type=Path, nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    if args.cmd == "scan":
        scan(args.root.resolve(), args.subsets.split(), args.out_dir)
    elif args.cmd == "convert":
        convert(args.part, args.root.resolve(), args.audio_dir.resolve(), args.fs, args.out, args.kind)
    else:
        merge(args.kind, args.parts, args.list_dir, args.max_bad_share, args.scan_bad)


if __name__ == "__main__":
    main()
