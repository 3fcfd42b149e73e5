"""Benchmark sections ``rtf`` and ``scaling``: real-time factor of stock ESPnet and the fast paths.

RTF = processing seconds / audio seconds (the core plus STFT glue, at 16 kHz). Efficiency = model FLOP
per audio second / RTF / roofline (:mod:`.size`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np

from tfgridnet_pl.bench.common import FS, add_common_args, best_time, build, header, load, threads_of
from tfgridnet_pl.bench.size import roofline


class Runners:
    """Ways to run one separator on a waveform [1, N]: stock ESPnet, and the fast paths."""

    def __init__(self, separator, workdir: str, onnx: bool = True):
        import torch

        from tfgridnet_pl.deploy.glue import SpectralGlue
        from tfgridnet_pl.deploy.onnx_core import GridNetCore, export_core, quantize_int8

        self.separator = separator
        self.glue = SpectralGlue.from_separator(separator)
        self.core = GridNetCore(separator)
        self.fast_core = GridNetCore(separator, exportable=True)
        self.int8_core = torch.ao.quantization.quantize_dynamic(
            GridNetCore(separator), {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8
        )
        os.makedirs(workdir, exist_ok=True)
        self.onnx = {
            "fp32": os.path.join(workdir, "core.fp32.onnx"),
            "int8": os.path.join(workdir, "core.int8.onnx"),
        }
        self.export_s = float("nan")
        if onnx:  # the paper-size export takes about a minute
            self.export_s = export_core(separator, self.onnx["fp32"])["export_seconds"]
            quantize_int8(self.onnx["fp32"], self.onnx["int8"])
        self.sessions = {}

    def names(self) -> list[str]:
        return ["espnet_fp32", "torch_fast_fp32", "torch_int8", "onnx_fp32", "onnx_int8"]

    def function(self, name: str, threads: int) -> Callable:
        import torch

        from tfgridnet_pl.deploy.onnx_core import OrtCore

        torch.set_num_threads(threads)
        if name == "espnet_fp32":

            def run(wave):
                with torch.inference_mode():
                    return self.separator(wave, torch.tensor([wave.shape[1]]))[0][0]

            return run
        if name.startswith("onnx"):
            key = (name, threads)
            if key not in self.sessions:
                self.sessions[key] = OrtCore(self.onnx[name.split("_")[1]], threads=threads)
            core = self.sessions[key]
        else:
            core = {"torch_fast_fp32": self.fast_core, "torch_int8": self.int8_core}[name]

        def run_core(wave):
            with torch.inference_mode():
                feats, std = self.glue.analyze(wave)
                return self.glue.synthesize(core(feats), wave.shape[1], std)[:, 0]

        return run_core


def add_rtf_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)
    p.add_argument("--rtf-workdir", default="exp/benchmark/onnx", help="where the exported graphs go")
    p.add_argument(
        "--rtf-backends",
        default="espnet_fp32,torch_fast_fp32,torch_int8,onnx_fp32,onnx_int8",
        help="backends, comma list (espnet_fp32 first: the speed-ups are relative to it)",
    )


def run_rtf(args) -> dict:
    """RTF of stock ESPnet fp32 and the fast paths at 1 and 10 s, 1 and 2 threads; efficiency vs roofline."""
    from tfgridnet_pl.model.complexity import model_complexity

    header(f"Real-time factor (lower is better) of {args.bench_config}")
    model, separator = build(args.bench_config)
    gflop = 2 * model_complexity(model)["gmacs_per_s_inference"]
    runners = Runners(separator, args.rtf_workdir, onnx="onnx" in args.rtf_backends)
    seconds = [float(s) for s in str(args.bench_seconds).split(",") if s]
    waves = noise_waves(seconds)
    out = {
        "config": args.bench_config,
        "gflop_per_audio_s": gflop,
        "export_seconds": runners.export_s,
        "cells": [],
    }
    roofs = {t: roofline(separator, t, args.bench_repeats)[0] for t in threads_of(args)}
    out["roofline"] = roofs
    print(f"model: {gflop:.1f} GFLOP per audio second; ONNX export {runners.export_s:.0f} s")
    print(
        "| backend | threads | "
        + " | ".join(f"RTF {s:g} s" for s in seconds)
        + " | speed-up vs ESPnet | efficiency |"
    )
    print("|---|---|" + "---|" * len(seconds) + "---|---|")
    base = {}  # threads -> ESPnet's RTFs, for the speed-ups
    for threads in threads_of(args):
        for name in args.rtf_backends.split(","):
            rtfs = time_backend(runners.function(name, threads), waves, args.bench_repeats)
            if name == "espnet_fp32":
                base[threads] = rtfs
            cell = rtf_cell(name, threads, waves, rtfs, base.get(threads), gflop / roofs[threads])
            out["cells"].append(cell)
            print_rtf_row(cell)
    print(f"roofline (MAC-weighted fp32 GFLOP/s): {', '.join(f'{t} thr {r:.1f}' for t, r in roofs.items())}")
    return out


def noise_waves(seconds: list[float]) -> dict:
    """Seeded white noise [1, N] (torch) of each duration: the model's cost does not depend on the content."""
    import torch

    rng = np.random.default_rng(0)
    return {
        s: torch.from_numpy(0.1 * rng.standard_normal((1, int(s * FS))).astype(np.float32)) for s in seconds
    }


def time_backend(fn: Callable, waves: dict, repeats: int) -> list[float]:
    """RTF of ``fn`` on each wave (best of ``repeats``), after one warm-up on the shortest only: long
    inputs cost minutes each."""
    fn(waves[min(waves)])
    return [best_time(lambda w=wave, f=fn: f(w), repeats, warmup=False) / s for s, wave in waves.items()]


def rtf_cell(name: str, threads: int, waves: dict, rtfs: list[float], base, roofline_rtf: float) -> dict:
    """One table row: ``base`` is ESPnet's RTFs at these threads (None: not measured); ``roofline_rtf``
    the RTF that would run at the roofline."""
    speed = [b / r for b, r in zip(base or [np.nan] * len(rtfs), rtfs, strict=True)]
    return {
        "backend": name,
        "threads": threads,
        "seconds": list(waves),
        "rtf": rtfs,
        "speedup": speed,
        "efficiency": [roofline_rtf / r for r in rtfs],
        "load": load(),
    }


def print_rtf_row(cell: dict) -> None:
    print(
        f"| {cell['backend']} | {cell['threads']} | "
        + " | ".join(f"{r:.3f}" for r in cell["rtf"])
        + " | "
        + " / ".join(f"{x:.2f}x" for x in cell["speedup"])
        + " | "
        + " / ".join(f"{e:.0%}" for e in cell["efficiency"])
        + f" |  (load {cell['load']:.1f})",
        flush=True,
    )


# -- scaling ----------------------------------------------------------------------------------------------
def add_scaling_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)
    p.add_argument("--scaling-seconds", default="1,5,10,30,60", help="input durations, comma list")
    p.add_argument("--scaling-backends", default="espnet_fp32,onnx_fp32", help="backends, comma list")


def run_scaling(args) -> dict:
    """How the cost grows with the input length (1 thread): RTF per duration, relative to 1 s."""
    import torch

    header(f"Cost vs input length of {args.bench_config}, 1 thread")
    _, separator = build(args.bench_config)
    workdir = getattr(args, "rtf_workdir", "exp/benchmark/onnx")
    runners = Runners(separator, workdir, onnx="onnx" in args.scaling_backends)
    seconds = [float(s) for s in args.scaling_seconds.split(",") if s]
    out = {"config": args.bench_config, "seconds": seconds, "rtf": {}}
    print("| backend | " + " | ".join(f"{s:g} s" for s in seconds) + " |")
    print("|---|" + "---|" * len(seconds))
    rng = np.random.default_rng(0)
    for name in args.scaling_backends.split(","):
        fn = runners.function(name, 1)
        fn(torch.from_numpy(0.1 * rng.standard_normal((1, FS)).astype(np.float32)))  # warm-up
        rtfs = []
        for s in seconds:
            wave = torch.from_numpy(0.1 * rng.standard_normal((1, int(s * FS))).astype(np.float32))
            repeats = 1 if s > 10 else args.bench_repeats
            rtfs.append(best_time(lambda w=wave, f=fn: f(w), repeats, warmup=False) / s)
        out["rtf"][name] = rtfs
        print(f"| {name} | " + " | ".join(f"{r:.3f} ({r / rtfs[0]:.2f}x)" for r in rtfs) + " |", flush=True)
    return out


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "rtf": ("RTF of ESPnet fp32 vs the fast paths at 1 and 10 s, 1 and 2 threads", run_rtf, add_rtf_args),
    "scaling": ("how the cost grows from 1 s to 60 s of input", run_scaling, add_scaling_args),
}
