"""What the model benchmark sections share: the machine, timing, the model, the common options.

Timings are the best of ``--bench-repeats`` runs after one warm-up, in the same process, each backend
and thread count measured back to back; every table notes the 1-minute load average at its start,
because other processes on a shared machine change the numbers (OpenMP threads spinning against a
busy core can make 2 threads slower than 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

PAPER_DL = "conf/tuning/train_enh_tfgridnet_dl.yaml"
PAPER_PL = "conf/tuning/train_enh_tfgridnet_pl.yaml"
SMALL_DL = "conf/tuning/train_enh_tfgridnet_dl_small.yaml"
SMALL_PL = "conf/tuning/train_enh_tfgridnet_pl_small.yaml"
FS = 16000


def cpu_name_and_flags() -> tuple[str, str]:
    """The CPU's model name and its ``flags`` line of /proc/cpuinfo (empty where there is none)."""
    name, flags = platform.processor() or "unknown", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    return name, flags


def machine() -> dict:
    """CPU model, cores, SIMD level and library versions, for the tables' headers."""
    import onnxruntime
    import torch

    cpu, flags = cpu_name_and_flags()
    simd = [
        f
        for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16")
        if f" {f}" in flags
    ]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "simd": simd,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": str(torch.__version__),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def best_time(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Best wall time of ``repeats`` calls, after one warm-up call unless ``warmup`` is false."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load() -> float:
    return os.getloadavg()[0]


def build(config: str):
    """(ESPnet enhancement model in eval mode, its separator) of a training YAML."""
    from tfgridnet_pl.model.complexity import build_enh_model

    model = build_enh_model(config).eval()
    return model, model.separator


def header(title: str) -> None:
    m = machine()
    print(
        f"{title}; {m['cpu']}, {m['cores']} cores, SIMD {'/'.join(m['simd'])}, torch {m['torch']}, "
        f"onnxruntime {m['onnxruntime']}; load average {load():.2f} at start"
    )


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Options shared by the model sections (added once)."""
    if any(a.dest == "bench_config" for a in p._actions):
        return
    g = p.add_argument_group("model sections (size, roofline, rtf, scaling, train_step, fastpath)")
    g.add_argument("--bench-config", default=PAPER_DL, help="training YAML of the model to time")
    g.add_argument("--bench-repeats", type=int, default=3, help="timed runs per cell (best is kept)")
    g.add_argument("--bench-threads", default="1,2", help="thread counts, comma list")
    g.add_argument("--bench-seconds", default="1,10", help="input durations for rtf, comma list")


def threads_of(args) -> list[int]:
    return [int(t) for t in str(args.bench_threads).split(",") if t]
