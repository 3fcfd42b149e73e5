"""Build the embedded DNS5-layout corpus from extracted Debian packages (stage 0's Python half).

    python3 -m local.embedded_corpus --pkgs-dir downloads/pkgs --out downloads/dns5_embedded [--seed 0]

local/make_embedded_corpus.sh fetches and extracts the packages, then runs this from the recipe root.
The tree it writes (48 kHz mono PCM16, DNS5 names) is used exactly like a DNS5 download:

    <out>/datasets_fullband/clean_fullband/read_speech/book_*_chp_*_reader_*_*_seg_*.wav
    <out>/datasets_fullband/noise_fullband/<Name>.wav
    <out>/datasets_fullband/impulse_responses/SLR26/simulated_rirs_48k/<size>room/RoomNNN/RoomNNN-NNNNN.wav
    <out>/README.md  summary.json  rirs.tsv  build_options.json  LICENSES/  manifest.tsv  .done

The build goes to a hidden sibling folder that is renamed onto <out> when complete (manifest.tsv and
.done are written last), so <out> is never half-built. With <out>/.done present and the same options
it exits at once; other options rebuild it. Source files that fail to decode are logged, skipped and
counted in summary.json and README.md. The same seed gives bit-identical files for any --nj.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import time
from pathlib import Path

from .options import BuildOptions, is_built

log = logging.getLogger("make_embedded_corpus")
NOT_BUILT = 3  # exit status of --check when <out> is missing, unfinished or built with other options


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m local.embedded_corpus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pkgs-dir", type=Path, required=True, help="extracted packages (<download-dir>/pkgs)"
    )
    parser.add_argument("--out", type=Path, required=True, help="corpus root to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-clean-minutes", type=float, default=0.0, help="cap on clean speech (0: none)")
    parser.add_argument("--max-speaker-minutes", type=float, default=12.0, help="cap per clean speaker")
    parser.add_argument("--max-noise-minutes", type=float, default=0.0, help="cap on noise (0: none)")
    parser.add_argument("--n-rirs", type=int, default=60, help="number of simulated RIRs")
    parser.add_argument("--nj", type=int, default=2, help="worker processes (does not change the output)")
    parser.add_argument(
        "--check", action="store_true", help="exit 0 if <out> is built with these options, else 3"
    )
    return parser


def options_of(args: argparse.Namespace) -> BuildOptions:
    """The build options of the command line; SystemExit naming a bad one."""
    if args.nj < 1:
        raise SystemExit("make_embedded_corpus: --nj must be >= 1")
    try:
        return BuildOptions(
            seed=args.seed,
            max_clean_minutes=args.max_clean_minutes,
            max_speaker_minutes=args.max_speaker_minutes,
            max_noise_minutes=args.max_noise_minutes,
            n_rirs=args.n_rirs,
        )
    except ValueError as exc:
        raise SystemExit(f"make_embedded_corpus: {exc}") from None


def build_locked(pkgs_dir: Path, out: Path, options: BuildOptions, nj: int) -> None:
    """Build <out> unless it is built already, holding a lock beside it meanwhile."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another build of %s to finish", out)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(out, options):
            log.info("%s exists and was built with these options; delete it to rebuild", out)
            return
        if (out / ".done").is_file():
            log.info("%s was built with other options; rebuilding it", out)
        from .build import build  # heavy imports only when building

        start = time.time()
        summary = build(pkgs_dir, out, options, nj)
    log_summary(out, summary, time.time() - start)


def log_summary(out: Path, summary: dict, seconds: float) -> None:
    from .build import MINIMUMS

    t = summary["totals"]
    log.info(
        "built %s in %.1f s: %d clean clips (%.1f min, %d speakers), %d noise files (%.1f min), %d RIRs; "
        "%d unreadable source files skipped (listed in summary.json); repairs: %s",
        out,
        seconds,
        t["clean_clips"],
        t["clean_minutes"],
        t["clean_speakers"],
        t["noise_files"],
        t["noise_minutes"],
        t["rirs"],
        t["bad_source_files"],
        ", ".join(f"{k}={v}" for k, v in summary["repairs"].items()) or "none",
    )
    if summary["below_minimums"]:
        log.warning(
            "below what the recipe needs from a full build (%s): %s",
            ", ".join(f"{k} >= {v}" for k, v in MINIMUMS.items()),
            ", ".join(summary["below_minimums"]),
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    args = get_parser().parse_args(argv)
    options = options_of(args)
    if args.check:
        return 0 if is_built(args.out, options) else NOT_BUILT
    build_locked(args.pkgs_dir, args.out, options, args.nj)
    return 0
