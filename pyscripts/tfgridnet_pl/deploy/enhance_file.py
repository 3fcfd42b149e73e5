"""Enhancing one audio file with an :class:`~tfgridnet_pl.deploy.packed_model.Enhancer`, any rate, any length.

The input is opened once, by descriptor, and only when ``os.stat`` says it is a regular file (checked
again on the open descriptor): a FIFO or a device is never opened. libsndfile reads it through that
descriptor, and writes the output through the descriptor of a temporary file beside the output,
renamed into place at the end; so a name that is not UTF-8, or holds a newline, is read and written
with its own bytes, and an interrupted run never leaves a partial output under the final name.

Two passes: the first streams the file to measure each channel's std at the model's rate and checks
that every sample is finite (a NaN or Inf anywhere is an error naming the count and the first one);
the second enhances chunk by chunk (:mod:`tfgridnet_pl.deploy.chunking`) and writes. The output has the
input's format, subtype, rate, channels and the number of frames the first pass read.

Refused with a :class:`BadAudio` naming the problem: not a regular file, no permission, not audio,
zero-length audio, a sampling rate outside 1 kHz - 768 kHz, more than 64 channels, non-finite samples,
a file that changes between the passes, a model output that is not finite.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tfgridnet_pl.deploy.inputs import Job, kind, shown
from tfgridnet_pl.fileio import WriteError

BLOCK_FRAMES = 1 << 16
HOUR = 3600.0
MIN_RATE, MAX_RATE = 1000, 768000
MAX_CHANNELS = 64
_UMASK = os.umask(0)
os.umask(_UMASK)


class BadAudio(ValueError):  # noqa: N818  (a refusal, reported per file)
    """This input cannot be enhanced; the message says why (the caller names the file)."""


@dataclass(frozen=True)
class AudioInfo:
    frames: int
    samplerate: int
    channels: int
    format: str
    subtype: str


def _reason(exc: Exception) -> str:
    return getattr(exc, "error_string", None) or str(exc)


class Source:
    """An input file, opened safely once, read as audio any number of times (a context manager)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            before = os.stat(path)
        except OSError as exc:
            raise BadAudio(f"cannot look at it: {exc.strerror}") from None
        if not stat.S_ISREG(before.st_mode):
            raise BadAudio(f"{kind(before.st_mode)}, not a regular file; not opened")
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise BadAudio(f"cannot open it: {exc.strerror}") from None
        after = os.fstat(self.fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            self.close()
            raise BadAudio("replaced while being opened; not read")
        self.info = self._info()

    def _open(self) -> sf.SoundFile:
        os.lseek(self.fd, 0, os.SEEK_SET)
        return sf.SoundFile(self.fd, closefd=False)

    def _info(self) -> AudioInfo:
        try:
            with self._open() as f:
                return AudioInfo(f.frames, f.samplerate, f.channels, f.format, f.subtype)
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
            self.close()
            raise BadAudio(f"cannot read audio ({_reason(exc)})") from None

    def blocks(self) -> Iterator[np.ndarray]:
        """The audio [n, channels] float32 in blocks; read errors become BadAudio."""
        try:
            with self._open() as f:
                while len(block := f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)):
                    yield block
        except (sf.SoundFileError, RuntimeError) as exc:
            raise BadAudio(f"cannot read audio ({_reason(exc)})") from None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Resampler:
    """Streaming soxr resampler (identity when the rates match)."""

    def __init__(self, src: int, dst: int, channels: int):
        import soxr

        self.channels = channels
        self.stream = (
            None if src == dst else soxr.ResampleStream(src, dst, channels, dtype="float32", quality="VHQ")
        )

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.stream is None:
            return block
        return self.stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)

    def flush(self) -> np.ndarray:
        return self(np.zeros((0, self.channels), np.float32), last=True)


def check_info(info: AudioInfo, chunk_s: float, max_unchunked_s: float) -> None:
    """BadAudio when the header describes audio this cannot or should not process."""
    if info.frames <= 0:
        raise BadAudio("zero-length audio (no samples)")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise BadAudio(f"sampling rate {info.samplerate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise BadAudio(f"{info.channels} channels: enhance takes 1 to {MAX_CHANNELS}")
    seconds = info.frames / info.samplerate
    if chunk_s <= 0 and seconds > max_unchunked_s:
        raise BadAudio(
            f"{seconds / 60:.1f} min is longer than --max-unchunked-seconds {max_unchunked_s:g}; "
            "use --chunk-seconds (e.g. 10) to process it in bounded memory"
        )


def first_pass(source: Source, fs: int) -> tuple[np.ndarray, int, int]:
    """(std per channel at the model's rate ``fs``, length there (>= 1), frames read); BadAudio when a
    sample is not finite (all counted) or there are none."""
    from tfgridnet_pl.deploy.chunking import RunningStd

    running, resample = RunningStd(), Resampler(source.info.samplerate, fs, source.info.channels)
    frames = bad = 0
    first = None
    for block in source.blocks():
        finite = np.isfinite(block)
        if not finite.all():
            bad += int((~finite).sum())
            if first is None:
                i, c = np.argwhere(~finite)[0]
                first = (frames + int(i), int(c))
        elif not bad:
            running.update(resample(block))
        frames += len(block)
    if bad:
        i, c = first
        raise BadAudio(
            f"{bad} non-finite samples (NaN or Inf), the first at {i / source.info.samplerate:.3f} s "
            f"(frame {i}, channel {c}); not enhanced"
        )
    if frames == 0:
        raise BadAudio("zero-length audio (no samples)")
    running.update(resample.flush())
    return running.std(), max(running.count, 1), frames


def output_format(info: AudioInfo) -> tuple[str, str]:
    """(format, subtype) for the output: the input's when libsndfile can write it, else WAV FLOAT."""
    if sf.check_format(info.format, info.subtype):
        return info.format, info.subtype
    return "WAV", "FLOAT"


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[int]:
    """A descriptor of a temporary file beside ``dst`` (a short ASCII name whatever ``dst``'s), renamed
    onto ``dst`` when the block succeeds; WriteError naming ``dst`` when writing fails."""
    tmp = None
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".enhance-", suffix=".tmp", dir=dst.parent)
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)
            yield fd
        finally:
            os.close(fd)
        os.replace(tmp, dst)
        tmp = None
    except (OSError, sf.SoundFileError) as exc:
        if isinstance(exc, WriteError):
            raise
        try:
            free = f"{shutil.disk_usage(dst.parent).free / 2**20:.1f} MiB free there"
        except OSError:
            free = "free space unknown"
        raise WriteError(f"cannot write {shown(dst)}: {_reason(exc)} ({free})") from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


class ClippingWriter:
    """Writes blocks to an open output file: at most ``frames`` in all, and clipped to [-1, 1] (counted)
    when ``clip`` (fixed-point output). Output that is not finite is an error."""

    def __init__(self, out_file, frames: int, clip: bool):
        self.out_file, self.frames, self.clip = out_file, frames, clip
        self.written = self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        block = block[: self.frames - self.written]
        if not np.isfinite(block).all():
            raise BadAudio("the model's output is not finite (NaN or Inf); nothing written")
        if self.clip:
            over = np.abs(block) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                block = np.clip(block, -1.0, 1.0)
        self.out_file.write(block)
        self.written += len(block)


def write_enhanced(source: Source, dst: Path, fs: int, ola, frames: int, progress) -> int:
    """Second pass: enhance ``source`` through ``ola`` into ``dst`` (atomically) at the input's rate,
    channels and format, ``frames`` long; return how many samples were clipped."""
    info = source.info
    forth, back = Resampler(info.samplerate, fs, info.channels), Resampler(fs, info.samplerate, info.channels)
    fmt, subtype = output_format(info)
    settings = {"samplerate": info.samplerate, "channels": info.channels, "format": fmt, "subtype": subtype}
    read = 0
    with atomic_output(dst) as fd, sf.SoundFile(fd, "w", closefd=False, **settings) as out_file:
        out = ClippingWriter(out_file, frames, clip=not subtype.startswith(("FLOAT", "DOUBLE")))
        for block in source.blocks():
            if not np.isfinite(block).all():
                raise BadAudio("changed while being enhanced (non-finite samples in the second pass)")
            read += len(block)
            for y in ola.push(forth(block)):
                out.write(back(y))
            if progress is not None:
                progress.update(len(block) / info.samplerate)
        if read != frames:
            raise BadAudio(f"changed while being enhanced ({frames} frames, then {read})")
        for y in ola.push(forth.flush()):
            out.write(back(y))
        for y in ola.finish():
            out.write(back(y))
        out.write(back.flush())
        if out.written < frames:  # resampling there and back can end a sample or two short
            logging.debug(f"{shown(dst)}: {frames - out.written} samples of silence added at the end")
            out.write(np.zeros((frames - out.written, info.channels), np.float32))
    if out.clipped:
        logging.warning(f"{shown(dst)}: {out.clipped} samples clipped to [-1, 1] for {subtype} output")
    return out.clipped


def enhance_file(
    job: Job, enhancer, chunk_s: float, overlap_s: float, max_unchunked_s: float, progress
) -> dict:
    """Enhance one file into ``job.dst``; return stats. BadAudio (or WriteError) says why it cannot."""
    from tfgridnet_pl.deploy.chunking import OverlapAdd

    with Source(job.src) as source:
        info = source.info
        check_info(info, chunk_s, max_unchunked_s)
        seconds = info.frames / info.samplerate
        if seconds > HOUR:
            logging.info(f"{shown(job.src)}: {seconds / HOUR:.2f} h long, processed in {chunk_s:g}-s chunks")
        fs = enhancer.fs
        std, n_model, frames = first_pass(source, fs)
        chunk = int(round(chunk_s * fs)) if chunk_s > 0 else n_model + 1
        overlap = int(round(overlap_s * fs)) if chunk_s > 0 else 0
        ola = OverlapAdd(lambda seg: enhancer(seg.T, std).T, chunk, overlap)
        clipped = write_enhanced(source, job.dst, fs, ola, frames, progress)
    return {"seconds": frames / info.samplerate, "chunks": ola.chunks, "clipped": clipped}


def probe_seconds(path: Path) -> float:
    """The file's length in seconds by its header, 0 when it cannot be read (reported when processed)."""
    try:
        with Source(path) as source:
            return max(source.info.frames, 0) / max(source.info.samplerate, 1)
    except (BadAudio, OSError):
        return 0.0
