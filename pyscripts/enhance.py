#!/usr/bin/env python3
"""Enhance audio files with a packed model (pyscripts/pack_model.py), any rate, any length.

    python3 pyscripts/enhance.py --model exp/enh_pl/packed/pl.tar.gz recordings/ extra.flac --out-dir enhanced
    python3 pyscripts/enhance.py --model pl.tar.gz --backend onnx --precision int8 --threads 2 in/ --out-dir o

INPUT: audio files or folders (searched recursively for .wav, .flac and .ogg, any case). Each folder's
tree is mirrored under --out-dir (``in/a/b.wav`` -> ``out/a/b.wav``); a file INPUT is written as
``--out-dir/<its name>``. Outputs keep the input's format, subtype, rate and channel count, and are
written atomically (temporary name, then rename).

Rates and channels: the model runs at 16 kHz; other rates are resampled with soxr (VHQ) and the
output is resampled back to the input's rate. Each channel is enhanced independently (as a mono
recording of its own: the model is single-channel); the channels are batched together.

Long recordings: read in blocks and processed in chunks of --chunk-seconds that overlap by
--overlap-seconds and are cross-faded (tfgridnet_pl.deploy.chunking), so memory stays bounded whatever the
length. Every chunk is scaled by the std of the whole recording (a first streaming pass), as
whole-file processing would. --chunk-seconds 0 processes each file whole (memory grows with
length; files over --max-unchunked-seconds are refused). Recordings over an hour are allowed
with chunking (a notice gives their length).

Errors: a bad model archive, a missing input, a folder without audio, or an --out-dir inside an
input folder stop before anything is processed (exit 2). A file that cannot be read or enhanced is
reported and the others are still processed; the exit status is then 1 and the summary names
every failed file. Samples clipped to [-1, 1] when writing fixed-point output are counted and logged.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
HOUR = 3600.0
BLOCK_FRAMES = 1 << 16


class UsageError(ValueError):
    """Bad command line or inputs: reported before anything is processed (exit 2)."""


@dataclass
class Job:
    src: Path
    dst: Path


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    p.add_argument("--model", required=True, help="packed model (.tar.gz from pyscripts/pack_model.py)")
    p.add_argument(
        "--out-dir", required=True, help="where the enhanced files go (must not be inside an INPUT)"
    )
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32")
    p.add_argument("--onnx-file", default=None, help="ONNX core from export_onnx.py (default: the pack's)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the library's)")
    p.add_argument("--chunk-seconds", type=float, default=10.0, help="chunk length; 0 = whole files")
    p.add_argument("--overlap-seconds", type=float, default=1.0, help="overlap of consecutive chunks")
    p.add_argument(
        "--max-unchunked-seconds", type=float, default=HOUR, help="longest file with --chunk-seconds 0"
    )
    p.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


# -- inputs ---------------------------------------------------------------------------------------------
def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def collect_jobs(inputs: list[str], out_dir: str) -> tuple[list[Job], int]:
    """Input -> output pairs, and how many non-audio files the folders held; UsageError for bad inputs."""
    out = Path(out_dir).resolve()
    jobs: list[Job] = []
    ignored = 0
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise UsageError(f"{item}: no such file or folder")
        if path.is_dir():
            root = path.resolve()
            if is_within(out, root):
                raise UsageError(
                    f"--out-dir {out_dir} is inside the input folder {item}; choose a folder outside it"
                )
            files = sorted(p for p in root.rglob("*") if p.is_file())
            audio = [p for p in files if is_audio(p)]
            ignored += len(files) - len(audio)
            if not audio:
                raise UsageError(f"{item}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            jobs += [Job(p, out / p.relative_to(root)) for p in audio]
        else:
            if not is_audio(path):
                raise UsageError(f"{item}: not a {'/'.join(AUDIO_SUFFIXES)} file")
            jobs.append(Job(path.resolve(), out / path.name))
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.dst == job.src:
            raise UsageError(f"{job.src}: the output would overwrite the input; choose another --out-dir")
        if job.dst in seen and seen[job.dst] != job.src:
            raise UsageError(f"{seen[job.dst]} and {job.src} would both be written to {job.dst}")
        seen[job.dst] = job.src
    return list({job.dst: job for job in jobs}.values()), ignored


# -- one file ---------------------------------------------------------------------------------------------
class Resampler:
    """Streaming soxr resampler (identity when the rates match)."""

    def __init__(self, src: int, dst: int, channels: int):
        import soxr

        self.stream = (
            None if src == dst else soxr.ResampleStream(src, dst, channels, dtype="float32", quality="VHQ")
        )

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.stream is None:
            return block
        return self.stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)


def blocks_at(path: Path, info, fs: int):
    """The file's audio [n, ch] as blocks, resampled to ``fs`` (streamed; the last block flushes soxr)."""
    resample = Resampler(info.samplerate, fs, info.channels)
    for block in sf.blocks(str(path), blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
        yield resample(block), len(block)
    yield resample(np.zeros((0, info.channels), np.float32), last=True), 0


def output_format(info) -> tuple[str, str]:
    """(format, subtype) for the output: the input's when libsndfile can write it, else WAV FLOAT."""
    if sf.check_format(info.format, info.subtype):
        return info.format, info.subtype
    return "WAV", "FLOAT"


def enhance_file(
    job: Job, enhancer, chunk_s: float, overlap_s: float, max_unchunked_s: float, progress
) -> dict:
    """Enhance one file into ``job.dst``; return stats. Raises on unreadable or unusable audio."""
    from tfgridnet_pl.deploy.chunking import OverlapAdd

    info = checked_info(job.src, chunk_s, max_unchunked_s)
    fs = enhancer.fs
    std, n16 = whole_std(job.src, info, fs)  # pass 1
    chunk = int(round(chunk_s * fs)) if chunk_s > 0 else n16 + 1
    overlap = int(round(overlap_s * fs)) if chunk_s > 0 else 0
    ola = OverlapAdd(lambda seg: enhancer(seg.T, std).T, chunk, overlap)
    clipped = write_enhanced(job, info, fs, ola, progress)  # pass 2
    return {"seconds": info.frames / info.samplerate, "chunks": ola.chunks, "clipped": clipped}


def checked_info(src: Path, chunk_s: float, max_unchunked_s: float):
    """The file's soundfile info; ValueError when it is unreadable, empty, or too long to process whole."""
    try:
        info = sf.info(str(src))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"cannot read audio ({exc})") from exc
    if info.frames <= 0:
        raise ValueError("the file has no samples")
    seconds = info.frames / info.samplerate
    if chunk_s <= 0 and seconds > max_unchunked_s:
        raise ValueError(
            f"{seconds / 60:.1f} min is longer than --max-unchunked-seconds {max_unchunked_s:g}; "
            "use --chunk-seconds (e.g. 10) to process it in bounded memory"
        )
    if seconds > HOUR:
        logging.info(f"{src}: {seconds / HOUR:.2f} h long, processed in {chunk_s:g}-s chunks")
    return info


def whole_std(src: Path, info, fs: int) -> tuple[np.ndarray, int]:
    """The whole recording's std per channel at the model's rate ``fs``, and its length there (>= 1)."""
    from tfgridnet_pl.deploy.chunking import RunningStd

    running = RunningStd()
    for block, _ in blocks_at(src, info, fs):
        running.update(block)
    return running.std(), max(running.count, 1)


class ClippingWriter:
    """Writes blocks to an open output file: at most ``frames`` in all, and clipped to [-1, 1] (counted)
    when ``clip`` (fixed-point output)."""

    def __init__(self, out_file, frames: int, clip: bool):
        self.out_file, self.frames, self.clip = out_file, frames, clip
        self.written = self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        block = block[: self.frames - self.written]
        if self.clip:
            over = np.abs(block) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                block = np.clip(block, -1.0, 1.0)
        self.out_file.write(block)
        self.written += len(block)


def write_enhanced(job: Job, info, fs: int, ola, progress) -> int:
    """Enhance the file block by block through ``ola`` into ``job.dst`` (atomically), at the input's
    rate, channels and format; return how many samples were clipped."""
    from tfgridnet_pl.fileio import atomic_path

    back = Resampler(fs, info.samplerate, info.channels)
    fmt, subtype = output_format(info)
    settings = {"samplerate": info.samplerate, "channels": info.channels, "format": fmt, "subtype": subtype}
    suffix = "".join(job.dst.suffixes[-1:])
    with atomic_path(job.dst, suffix=suffix) as tmp, sf.SoundFile(str(tmp), "w", **settings) as out_file:
        out = ClippingWriter(out_file, info.frames, clip=not subtype.startswith(("FLOAT", "DOUBLE")))
        for block, n_in in blocks_at(job.src, info, fs):
            for y in ola.push(block):
                out.write(back(y))
            if progress is not None:
                progress.update(n_in / info.samplerate)
        for y in ola.finish():
            out.write(back(y))
        out.write(back(np.zeros((0, info.channels), np.float32), last=True))
        if out.written < info.frames:  # resampling there and back can end a sample or two short
            logging.debug(f"{job.dst}: {info.frames - out.written} samples of silence added at the end")
            out.write(np.zeros((info.frames - out.written, info.channels), np.float32))
    if out.clipped:
        logging.warning(f"{job.dst}: {out.clipped} samples clipped to [-1, 1] for {subtype} output")
    return out.clipped


# -- driver -----------------------------------------------------------------------------------------------
def check_chunking(args) -> None:
    if args.chunk_seconds < 0 or args.overlap_seconds < 0:
        raise UsageError("--chunk-seconds and --overlap-seconds must be >= 0")
    if args.chunk_seconds > 0 and args.overlap_seconds >= args.chunk_seconds:
        raise UsageError(
            f"--overlap-seconds {args.overlap_seconds:g} must be below --chunk-seconds {args.chunk_seconds:g}"
        )
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = get_parser().parse_args(argv)
    try:
        check_chunking(args)
        jobs, ignored = collect_jobs(args.inputs, args.out_dir)
    except UsageError as exc:
        logging.error(str(exc))
        return 2
    if ignored:
        logging.info(f"ignored {ignored} files in the input folders that are not {'/'.join(AUDIO_SUFFIXES)}")

    from tfgridnet_pl.deploy import packed_model as pm

    try:
        enhancer = pm.Enhancer(args.model, args.backend, args.precision, args.threads, args.onnx_file)
    except (pm.PackedModelError, ValueError, OSError) as exc:
        logging.error(f"--model: {exc}")
        return 2
    logging.info(pm.describe(enhancer.pack) + f"; backend {args.backend}, {args.precision}")

    todo = [job for job in jobs if args.overwrite or not job.dst.exists()]
    if len(todo) < len(jobs):
        logging.info(f"{len(jobs) - len(todo)} outputs exist already and are kept (--overwrite to redo them)")
    total = 0.0
    for job in todo:
        try:
            info = sf.info(str(job.src))
            total += info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError):
            pass  # reported when the file is processed
    return run_jobs(todo, enhancer, args, total)


def run_jobs(jobs: list[Job], enhancer, args, total_seconds: float) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    failed: list[str] = []
    audio_s = clipped = 0
    start = time.perf_counter()
    bar_options = {"total": round(total_seconds, 1), "unit": "s", "desc": "enhance", "disable": args.quiet}
    with logging_redirect_tqdm(), tqdm(**bar_options, dynamic_ncols=True) as bar:
        for job in jobs:
            try:
                limits = (args.chunk_seconds, args.overlap_seconds, args.max_unchunked_seconds)
                stats = enhance_file(job, enhancer, *limits, bar)
            except Exception as exc:  # one bad file must not stop the others
                logging.error(f"{job.src}: {exc}")
                failed.append(str(job.src))
                continue
            audio_s += stats["seconds"]
            clipped += stats["clipped"]
    wall = time.perf_counter() - start
    rtf = wall / audio_s if audio_s else float("nan")
    logging.info(
        f"enhanced {len(jobs) - len(failed)} of {len(jobs)} files ({audio_s:.1f} s of audio in {wall:.1f} s, "
        f"RTF {rtf:.3f}); {clipped} samples clipped; {len(failed)} failed"
        + (": " + ", ".join(failed) if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
