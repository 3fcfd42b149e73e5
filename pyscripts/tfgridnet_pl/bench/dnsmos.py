"""Benchmark section ``dnsmos``: DNSMOS scoring speed (times real time) by clip length, jobs and threads."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from tfgridnet_pl.bench.common import cpu_name_and_flags


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
    cpu = cpu_name_and_flags()[0]
    print(
        f"cpu: {cpu}, {os.cpu_count()} cores; {args.dnsmos_audio_seconds:g} s of audio per cell; "
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
    return {"cpu": cpu, "cores": os.cpu_count(), "durations": results}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "dnsmos": (
        "DNSMOS scoring speed (x real time) by clip length, jobs and threads",
        run_dnsmos,
        add_dnsmos_args,
    ),
}
