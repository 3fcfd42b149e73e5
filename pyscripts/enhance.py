#!/usr/bin/env python3
"""Enhance audio files with a packed model (pyscripts/pack_model.py), any rate, any length.

    python3 pyscripts/enhance.py --model exp/enh_pl/packed/pl.tar.gz recordings/ extra.flac --out-dir enhanced
    python3 pyscripts/enhance.py --model pl.tar.gz --backend onnx --precision int8 --threads 2 in/ --out-dir o
    python3 pyscripts/enhance.py --unpack pl.tar.gz unpacked/     # verify and extract the archive, safely

INPUT: audio files or folders (searched recursively for .wav, .flac and .ogg, any case). Each folder's
tree is mirrored under --out-dir (``in/a/b.wav`` -> ``out/a/b.wav``); a file INPUT is written as
``--out-dir/<its name>``. Outputs keep the input's format, subtype, rate and channel count, and are
written atomically (temporary name, then rename). Symbolic links to folders are followed (a folder
reached twice is skipped, not walked again); names are kept byte for byte.

Rates and channels: the model runs at 16 kHz; other rates (1 kHz to 768 kHz) are resampled with soxr
(VHQ) and the output is resampled back to the input's rate. Each channel (up to 64) is enhanced
independently (as a mono recording of its own: the model is single-channel); the channels are batched.

Long recordings: read in blocks and processed in chunks of --chunk-seconds that overlap by
--overlap-seconds and are cross-faded (tfgridnet_pl.deploy.chunking), so memory stays bounded whatever the
length. Every chunk is scaled by the std of the whole recording (a first streaming pass), as
whole-file processing would. --chunk-seconds 0 processes each file whole (memory grows with
length; files over --max-unchunked-seconds are refused). Recordings over an hour are allowed
with chunking (a notice gives their length).

Errors: a bad option, a bad model archive, a missing or non-regular file INPUT, a folder without audio,
an --out-dir that is a file or inside an input folder, an output that would land on an input, or two
inputs with one output stop before anything is processed (exit 2). An entry of an input folder that
cannot be read (FIFO, device, broken link, link loop, unlistable folder) is skipped and named; a file
that cannot be enhanced (not audio, no samples, NaN/Inf samples, no permission, absurd rate or channel
count) is reported and the others are still processed. The summary line names every skipped and failed
file, and the exit status is then 1. Samples clipped to [-1, 1] for fixed-point output are counted.
Archives are checked before they are read (tfgridnet_pl.deploy.archive): --max-member-mib and
--max-archive-mib cap what a model archive may make this read.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time

from tfgridnet_pl.deploy.inputs import AUDIO_SUFFIXES, Job, UsageError, plan_jobs, shown

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
HOUR = 3600.0
MIN_CHUNK_S = 0.1  # shorter chunks are mostly STFT padding
MAX_CHUNK_S = 86400.0  # a day; for longer, --chunk-seconds 0 (whole files)
MIN_HOP_S = 0.05  # chunk - overlap: at most 20 chunk runs per second of audio
MAX_THREADS = 1024


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


finite_float.__name__ = "finite number"  # argparse: "invalid finite number value: 'nan'"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="audio files or folders")
    p.add_argument("--model", help="packed model (.tar.gz from pyscripts/pack_model.py)")
    p.add_argument("--out-dir", help="where the enhanced files go (must not be inside an INPUT)")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32")
    p.add_argument("--onnx-file", default=None, help="ONNX core from export_onnx.py (default: the pack's)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the library's)")
    p.add_argument("--chunk-seconds", type=finite_float, default=10.0, help="chunk length; 0 = whole files")
    p.add_argument("--overlap-seconds", type=finite_float, default=1.0, help="overlap of consecutive chunks")
    p.add_argument(
        "--max-unchunked-seconds", type=finite_float, default=HOUR, help="longest file with --chunk-seconds 0"
    )
    p.add_argument("--overwrite", action="store_true", help="redo outputs that already exist (default: skip)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-member-mib", type=int, default=512, help="largest member of a model archive read")
    p.add_argument("--max-archive-mib", type=int, default=1024, help="most a model archive may hold in all")
    p.add_argument(
        "--unpack",
        nargs=2,
        metavar=("ARCHIVE", "DIR"),
        help="verify a packed model and extract it into DIR (no INPUT, --model or --out-dir then)",
    )
    return p


# -- options ---------------------------------------------------------------------------------------------
def check_chunking(args) -> None:
    if args.chunk_seconds < 0 or args.overlap_seconds < 0:
        raise UsageError("--chunk-seconds and --overlap-seconds must be >= 0")
    if args.max_unchunked_seconds <= 0:
        raise UsageError(f"--max-unchunked-seconds {args.max_unchunked_seconds:g} must be > 0")
    if args.chunk_seconds == 0:
        return
    if not MIN_CHUNK_S <= args.chunk_seconds <= MAX_CHUNK_S:
        raise UsageError(
            f"--chunk-seconds {args.chunk_seconds:g} must be 0 (whole files) or "
            f"{MIN_CHUNK_S:g} to {MAX_CHUNK_S:g}"
        )
    if args.overlap_seconds >= args.chunk_seconds:
        raise UsageError(
            f"--overlap-seconds {args.overlap_seconds:g} must be below --chunk-seconds {args.chunk_seconds:g}"
        )
    if args.chunk_seconds - args.overlap_seconds < MIN_HOP_S:
        raise UsageError(
            f"--overlap-seconds {args.overlap_seconds:g} must leave at least {MIN_HOP_S:g} s between chunk "
            f"starts (--chunk-seconds {args.chunk_seconds:g})"
        )


def check_options(args) -> None:
    """Every option's type, range and combination, before anything is read (UsageError names it)."""
    if args.unpack:
        given = [
            name
            for name, v in (("INPUT", args.inputs), ("--model", args.model), ("--out-dir", args.out_dir))
            if v
        ]
        if given:
            raise UsageError(f"--unpack takes no {', '.join(given)}")
    else:
        for name, value in (
            ("INPUT", args.inputs or None),
            ("--model", args.model),
            ("--out-dir", args.out_dir),
        ):
            if value is None:
                raise UsageError(f"{name} is required (see --help)")
    check_chunking(args)
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise UsageError(f"--threads {args.threads} must be 1 to {MAX_THREADS}")
    if args.backend == "onnx" and args.precision == "bf16":
        raise UsageError(
            "--precision bf16 exists for --backend torch only (onnxruntime's CPU provider has none)"
        )
    if args.onnx_file is not None and args.backend != "onnx":
        raise UsageError("--onnx-file is only used with --backend onnx")
    check_files(args)
    if not 1 <= args.max_member_mib <= args.max_archive_mib:
        raise UsageError(
            f"--max-member-mib {args.max_member_mib} must be >= 1 and at most --max-archive-mib "
            f"{args.max_archive_mib}"
        )


def check_files(args) -> None:
    """--model, --onnx-file and --unpack's ARCHIVE are regular files (looked at, not opened)."""
    from tfgridnet_pl.deploy.archive import PackedModelError, regular_file

    archive = args.unpack[0] if args.unpack else args.model
    for option, path, what in (
        ("--model", archive, "model archive"),
        ("--onnx-file", args.onnx_file, "ONNX"),
    ):
        try:
            if path is not None:
                regular_file(path, what)
        except PackedModelError as exc:
            raise UsageError(f"{'--unpack' if args.unpack else option}: {exc}") from None


def limits(args):
    from tfgridnet_pl.deploy.archive import MIB, Limits

    return Limits(member_bytes=args.max_member_mib * MIB, total_bytes=args.max_archive_mib * MIB)


# -- driver -----------------------------------------------------------------------------------------------
def unpack_main(args) -> int:
    from tfgridnet_pl.deploy import packed_model as pm

    archive, dest = args.unpack
    try:
        files = pm.unpack(archive, dest, limits(args))
    except (pm.PackedModelError, OSError) as exc:
        logging.error(f"--unpack: {exc}")
        return 2
    logging.info(
        f"unpacked {shown(archive)} into {shown(dest)}: " + ", ".join(f"{k} {v}" for k, v in files.items())
    )
    return 0


def load_enhancer(args):
    """The Enhancer of --model, or None after logging why not."""
    from tfgridnet_pl.deploy import packed_model as pm

    try:
        enhancer = pm.Enhancer(
            args.model, args.backend, args.precision, args.threads, args.onnx_file, limits=limits(args)
        )
    except (pm.PackedModelError, ValueError, OSError) as exc:
        logging.error(f"--model: {exc}")
        return None
    logging.info(pm.describe(enhancer.pack) + f"; backend {args.backend}, {args.precision}")
    return enhancer


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = get_parser().parse_args(argv)
    try:
        check_options(args)
        if args.unpack:
            return unpack_main(args)
        plan = plan_jobs(args.inputs, args.out_dir)
    except UsageError as exc:
        logging.error(str(exc))
        return 2
    if plan.ignored:
        logging.info(
            f"ignored {plan.ignored} files in the input folders that are not {'/'.join(AUDIO_SUFFIXES)}"
        )
    for path, reason in plan.skipped:
        logging.warning(f"{path}: skipped: {reason}")
    enhancer = load_enhancer(args)
    if enhancer is None:
        return 2
    todo = [job for job in plan.jobs if args.overwrite or not os.path.lexists(job.dst)]
    if len(todo) < len(plan.jobs):
        kept = len(plan.jobs) - len(todo)
        logging.info(f"{kept} outputs exist already and are kept (--overwrite to redo them)")
    from tfgridnet_pl.deploy.enhance_file import probe_seconds

    total = sum(probe_seconds(job.src) for job in todo)
    return run_jobs(todo, plan.skipped, enhancer, args, total)


def run_jobs(jobs: list[Job], skipped: list[tuple[str, str]], enhancer, args, total_seconds: float) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from tfgridnet_pl.deploy.enhance_file import enhance_file

    failed: list[tuple[str, str]] = []
    audio_s = clipped = 0
    start = time.perf_counter()
    bar_options = {"total": round(total_seconds, 1), "unit": "s", "desc": "enhance", "disable": args.quiet}
    chunking = (args.chunk_seconds, args.overlap_seconds, args.max_unchunked_seconds)
    with logging_redirect_tqdm(), tqdm(**bar_options, dynamic_ncols=True) as bar:
        for job in jobs:
            try:
                stats = enhance_file(job, enhancer, *chunking, bar)
            except Exception as exc:  # one bad file must not stop the others
                logging.error(f"{shown(job.src)}: {exc}")
                failed.append((shown(job.src), str(exc)))
                continue
            audio_s += stats["seconds"]
            clipped += stats["clipped"]
    wall = time.perf_counter() - start
    logging.info(summary(len(jobs) + len(skipped), skipped, failed, audio_s, wall, clipped))
    return 1 if failed or skipped else 0


def summary(total: int, skipped, failed, audio_s: float, wall: float, clipped: int) -> str:
    """The last log line: counts, then every skipped and failed file with its reason."""

    def listing(entries) -> str:
        return ": " + "; ".join(f"{path} ({reason})" for path, reason in entries) if entries else ""

    done = total - len(skipped) - len(failed)
    rtf = wall / audio_s if audio_s else float("nan")
    return (
        f"enhanced {done} of {total} files ({audio_s:.1f} s of audio in {wall:.1f} s, RTF {rtf:.3f}; "
        f"{clipped} samples clipped), skipped {len(skipped)}{listing(skipped)}; {len(failed)} failed"
        + listing(failed)
    )


if __name__ == "__main__":
    sys.exit(main())
