#!/usr/bin/env python3
"""Speed benchmarks of the recipe, as named sections; prints the figures (it asserts nothing).

    python3 pyscripts/benchmark.py                 # every section
    python3 pyscripts/benchmark.py --only dnsmos   # one section (comma list for several)
    python3 pyscripts/benchmark.py --list
    python3 pyscripts/benchmark.py --only dnsmos --json exp/benchmark_dnsmos.json

Adding a section: write ``def run_x(args) -> dict`` (print what a reader needs, return the numbers) and
an optional ``def add_x_args(parser)`` for its options (prefix them with the section name), then
register it with ``SECTIONS["x"] = Section("one-line description", run_x, add_x_args)``. Sections
are independent: each imports what it needs inside its run function.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Section:
    help: str
    run: Callable[[argparse.Namespace], dict]
    add_args: Callable[[argparse.ArgumentParser], None] | None = None


# -- dnsmos -----------------------------------------------------------------------------------------------
def add_dnsmos_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dnsmos")
    g.add_argument(
        "--dnsmos-durations",
        default="4,6,10,20",
        help="clip durations in seconds, comma list (the recipe's test set uses 6 s)",
    )
    g.add_argument(
        "--dnsmos-audio-seconds", type=float, default=60.0, help="audio scored per duration and setting"
    )
    g.add_argument(
        "--dnsmos-plain",
        action="store_true",
        help="also time the untouched model run per window (shared_frontend=False)",
    )


def _dnsmos_clips(seconds: float, total: float, seed: int = 0) -> list[np.ndarray]:
    """Noise-like clips: DNSMOS's cost does not depend on the content, only on the length."""
    rng = np.random.default_rng(seed)
    count = max(2, round(total / seconds))
    return [0.1 * rng.standard_normal(int(seconds * 16000)) for _ in range(count)]


_WORKER = None


def _worker_init(kwargs: dict) -> None:
    global _WORKER
    from tfgridnet_pl.scoring.dnsmos import DNSMOS

    _WORKER = DNSMOS(**kwargs)
    _WORKER(np.zeros(16000 * 2))  # warm-up (librosa import, first runs)


def _worker_score(audio: np.ndarray) -> float:
    return _WORKER(audio)["OVRL"]


def _rate(clips: list[np.ndarray], jobs: int, threads: int, shared: bool) -> tuple[float, float | None]:
    """Audio seconds scored per wall-clock second with ``jobs`` processes of ``threads`` threads, and
    (one job only) per second of the process's CPU time, which other processes on the machine barely
    change."""
    audio_s = sum(len(c) for c in clips) / 16000
    kwargs = {"num_threads": threads, "shared_frontend": shared}
    if jobs == 1:
        _worker_init(kwargs)
        wall, cpu = time.perf_counter(), time.process_time()
        for c in clips:
            _worker_score(c)
        return audio_s / (time.perf_counter() - wall), audio_s / (time.process_time() - cpu)
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(kwargs,)) as pool:
        pool.map(_worker_score, [np.zeros(16000)] * jobs, chunksize=1)  # wait for every worker to start
        start = time.perf_counter()
        pool.map(_worker_score, clips, chunksize=1)
        return audio_s / (time.perf_counter() - start), None


def run_dnsmos(args: argparse.Namespace) -> dict:
    from tfgridnet_pl.scoring.dnsmos import tile_short, window_starts

    durations = [float(d) for d in args.dnsmos_durations.split(",")]
    columns = ["per core (CPU time)", "1 job x 1 thread", "1 job x 2 threads", "2 jobs x 1 thread"]
    if args.dnsmos_plain:
        columns.append("plain model, per core (CPU time)")
    print("DNSMOS (P.835 + P.808) scoring speed, in times real time (audio seconds per second)")
    print(
        f"cpu: {_cpu_name()}, {os.cpu_count()} cores; {args.dnsmos_audio_seconds:g} s of audio per cell; "
        f"load average before: {_load()}"
    )
    print("| clip (s) | windows | " + " | ".join(columns) + " |")
    print("|" + "---|" * (2 + len(columns)))
    results = []
    for d in durations:
        clips = _dnsmos_clips(d, args.dnsmos_audio_seconds)
        windows = len(window_starts(len(tile_short(clips[0]))))
        wall11, cpu11 = _rate(clips, 1, 1, True)
        rates = {
            "per_core_cpu": cpu11,
            "1x1": wall11,
            "1x2": _rate(clips, 1, 2, True)[0],
            "2x1": _rate(clips, 2, 1, True)[0],
        }
        if args.dnsmos_plain:
            rates["plain_per_core_cpu"] = _rate(clips, 1, 1, False)[1]
        results.append({"seconds": d, "windows": windows, "rates": rates})
        print(f"| {d:g} | {windows} | " + " | ".join(f"{r:.1f}x" for r in rates.values()) + " |", flush=True)
    print(f"load average after: {_load()}")
    print("per core = audio seconds per CPU second of one single-threaded job (what each --nj job of")
    print("local/score.sh gets from a free core); the other columns are wall-clock rates, lower when other")
    print("processes compete for the cores. plain = the untouched P.835 model run on every distinct window.")
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "durations": results}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


SECTIONS: dict[str, Section] = {
    "dnsmos": Section(
        "DNSMOS scoring speed (x real time) by clip length, jobs and threads", run_dnsmos, add_dnsmos_args
    ),
}

# Stage 1's list preparation on a generated 1 M-file DNS5 tree: tfgridnet_pl/bench/listing.py.
from tfgridnet_pl.bench.listing import add_listing_args, run_listing  # noqa: E402

SECTIONS["listing"] = Section(
    "stage 1 listing (scan, split, merge) of a generated DNS5 tree of 1 M empty files", run_listing,
    add_listing_args,
)  # fmt: skip

# Model sections (size, roofline, RTF, scaling, training step, fast paths): tfgridnet_pl/bench/model.py.
from tfgridnet_pl.bench.model import SECTIONS as _MODEL_SECTIONS  # noqa: E402  (numpy only at import)

for _name, (_help, _run, _add_args) in _MODEL_SECTIONS.items():
    SECTIONS[_name] = Section(_help, _run, _add_args)


# -- driver -----------------------------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma list of sections to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the sections and exit")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    for sec in SECTIONS.values():
        if sec.add_args:
            sec.add_args(p)
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    if args.list:
        for name, sec in SECTIONS.items():
            print(f"{name:12s} {sec.help}")
        return
    names = [n for n in args.only.split(",") if n] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        sys.exit(f"benchmark.py: unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    out = {"python": platform.python_version(), "sections": {}}
    for name in names:
        print(f"== {name}: {SECTIONS[name].help}", flush=True)
        out["sections"][name] = SECTIONS[name].run(args)
    if args.json:
        from tfgridnet_pl.fileio import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
