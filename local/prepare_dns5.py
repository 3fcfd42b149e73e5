#!/usr/bin/env python3
"""Stage 1 steps: DNS5-layout tree -> 16 kHz Kaldi-style lists of clean speech, noise and RIRs.

Three sub-commands, run by local/prepare_dns5.sh:

  scan     walk the tree once, write <out>/{clean,noise,rir}.tsv (key, speaker, path relative to root)
  convert  one job's share: read each file, mix down / resample to 16 kHz (soxr), write it under
           --audio-dir, print ``key<TAB>speaker<TAB>path<TAB>seconds`` lines; unreadable files are
           logged and listed in <part>.bad, never silently dropped
  merge    join the parts into <list-dir>/{wav.scp,utt2dur,utt2spk,spk2utt} and a summary; fails
           when the share of bad files exceeds --max-bad-share
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
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


def _walk_audio(top: Path) -> list[str]:
    """Relative paths of the audio files under ``top`` (recursive, sorted, os.scandir for speed)."""
    found: list[str] = []
    prefix = len(str(top)) + 1  # entry.path is <top>/<relative path>
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif entry.name.lower().endswith(AUDIO_SUFFIXES):
                    found.append(entry.path[prefix:])
    found.sort()
    return found


def scan(root: Path, subsets: list[str], out_dir: Path) -> dict[str, int]:
    """Write the three TSV inventories of the tree; error naming whatever is missing."""
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

    rows: dict[str, list[tuple[str, str, str]]] = {k: [] for k in KINDS}
    for subset in subsets:
        for rel in _walk_audio(root / CLEAN_DIR / subset):
            rows["clean"].append((speaker_of(f"{subset}/{rel}"), f"{CLEAN_DIR}/{subset}/{rel}", rel))
    for kind, folder in (("noise", NOISE_DIR), ("rir", RIR_DIR)):
        for rel in _walk_audio(root / folder):
            rows[kind].append((kind, f"{folder}/{rel}", rel))

    counts = {}
    for kind, items in rows.items():
        if not items:
            raise SystemExit(f"prepare_dns5: no audio files found for {kind} under {root}")
        seen: dict[str, str] = {}
        lines = []
        for speaker, relpath, rel in items:
            if "\t" in relpath or "\n" in relpath:
                raise SystemExit(f"prepare_dns5: file name with a tab or newline: {root / relpath!r}")
            if kind == "clean":
                key = utt_key(speaker, rel)
            else:  # no speakers: each file is its own "speaker", as Kaldi does for unknown speakers
                key = speaker = f"{kind}-{sanitize_key(str(Path(rel).with_suffix('')))}"
            if key in seen:
                raise SystemExit(f"prepare_dns5: files {seen[key]!r} and {relpath!r} map to one key {key}")
            seen[key] = relpath
            lines.append(f"{key}\t{speaker}\t{relpath}\n")
        lines.sort(key=lambda s: s.encode())
        write_text_atomic(out_dir / f"{kind}.tsv", "".join(lines))
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


def convert(part: Path, root: Path, audio_dir: Path, fs: int, out: Path, progress_every: int = 1000) -> None:
    """Resample one share of an inventory; write ``<out>`` (good rows) and ``<out>.bad``.

    The repairs of each converted file (mixed down, resampled, clipped ...) are appended to
    ``<out>.repairs.jsonl`` before the file is renamed into place, so a job resumed after a kill
    still counts the repairs of the files it finds converted (``cached``).
    """
    stats: Counter = Counter()
    good, bad = [], []
    rows = [line.rstrip("\n").split("\t") for line in part.read_text(encoding="utf-8").splitlines()]
    journal_path = Path(f"{out}.repairs.jsonl")
    known = {}  # key -> repairs of its converted file (the last entry wins)
    if journal_path.exists():
        for line in journal_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):  # a line cut short by a kill
                entry = json.loads(line)
                known[entry["key"]] = entry["repairs"]
    journal = open(journal_path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    start = time.time()
    for n, (key, speaker, relpath) in enumerate(rows, 1):
        # datasets_fullband/<kind folder>/a/b.flac -> <audio-dir>/a/b.wav
        dst = audio_dir.joinpath(*Path(relpath).parts[2:]).with_suffix(".wav")
        audio, repairs = None, Counter()
        try:
            if dst.exists() and dst.stat().st_mtime >= (root / relpath).stat().st_mtime:
                stats["cached"] += 1  # a source file changed since (a rebuilt corpus) is converted again
                seconds = sf.info(dst).duration
                repairs.update(known.get(key, {"repairs_unknown": 1}))
            else:
                audio = _to_mono_16k(root / relpath, fs, repairs)
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not fatal
            log.warning("bad file %s: %s", root / relpath, err)
            bad.append(f"{key}\t{root / relpath}\t{type(err).__name__}: {err}\n")
            continue
        if audio is not None:  # outside the try: a write error (disk full) stops the stage, it is no bad file
            peak = float(np.max(np.abs(audio)))
            if peak > 1.0:
                # Resampling can overshoot full scale; scale rather than wrap on 16-bit write.
                repairs["rescaled_overshoot"] += 1
                audio = audio / peak * 0.999
            with atomic_path(dst, suffix=".wav") as tmp:
                sf.write(tmp, audio, fs, subtype="PCM_16", format="WAV")
                journal.write(json.dumps({"key": key, "repairs": dict(repairs)}) + "\n")
                journal.flush()
            seconds = len(audio) / fs
        stats["converted"] += 1  # files in <out>, converted now or before (cached)
        stats.update(repairs)
        good.append(f"{key}\t{speaker}\t{dst}\t{seconds:.3f}\n")
        if n % progress_every == 0:
            log.info("%d/%d files (%.1f files/s)", n, len(rows), n / (time.time() - start))
    journal.close()
    write_text_atomic(Path(f"{out}.bad"), "".join(bad))
    write_text_atomic(Path(f"{out}.stats.json"), json.dumps(dict(stats), sort_keys=True))
    write_text_atomic(out, "".join(good))
    log.info("%s: %d good, %d bad, %s", part.name, len(good), len(bad), dict(stats))


def merge(kind: str, parts: list[Path], list_dir: Path, max_bad_share: float) -> None:
    """Join converted parts into the Kaldi lists of one kind."""
    wav, dur, spk = {}, {}, {}
    bad_lines: list[str] = []
    stats: Counter = Counter()
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            key, speaker, path, seconds = line.split("\t")
            wav[key], dur[key], spk[key] = path, seconds, speaker
        bad_lines += Path(f"{part}.bad").read_text(encoding="utf-8").splitlines()
        stats.update(json.loads(Path(f"{part}.stats.json").read_text()))
    stats.pop("cached", None)  # how the work was done, not what the lists hold: in the log only
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
    p = sub.add_parser("merge")
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--list-dir", type=Path, required=True)
    p.add_argument("--max-bad-share", type=float, default=0.01)
    p.add_argument("parts", type=Path, nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    if args.cmd == "scan":
        scan(args.root.resolve(), args.subsets.split(), args.out_dir)
    elif args.cmd == "convert":
        convert(args.part, args.root.resolve(), args.audio_dir.resolve(), args.fs, args.out)
    else:
        merge(args.kind, args.parts, args.list_dir, args.max_bad_share)


if __name__ == "__main__":
    main()
