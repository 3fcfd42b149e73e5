"""Speed benchmarks of the model: size, roofline, real-time factor, scaling, training step, fast paths.

Each section is ``run_<name>(args) -> dict`` (prints a Markdown table, returns the numbers) with an
``add_<name>_args(parser)`` for its options; :data:`SECTIONS` lists them for ``pyscripts/benchmark.py``.
Heavy imports happen inside the functions. Timings are the best of ``--bench-repeats`` runs after
one warm-up, in the same process, each backend and thread count measured back to back; every table
notes the 1-minute load average at its start, because other processes on a shared machine change
the numbers (OpenMP threads spinning against a busy core can make 2 threads slower than 1).

Definitions. RTF = processing seconds / audio seconds (the core plus STFT glue, at 16 kHz). Model FLOP
per audio second = 2 x the inference graph's MACs (``tfgridnet_pl.model.complexity``). Roofline = this
machine's measured fp32 matrix-product throughput at the shapes the model's products have (LSTM input and
recurrent products, the projections after the LSTMs, the 1x1 convolutions), weighted by their share of
the MACs. Efficiency = model FLOP per audio second / RTF / roofline.
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


# -- helpers ----------------------------------------------------------------------------------------------
def machine() -> dict:
    """CPU model, cores, SIMD level and library versions, for the tables' headers."""
    import onnxruntime
    import torch

    cpu = platform.processor() or "unknown"
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
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


def _threads(args) -> list[int]:
    return [int(t) for t in str(args.bench_threads).split(",") if t]


# -- size ---------------------------------------------------------------------------------------------------
def add_size_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)


def run_size(args) -> dict:
    """Parameters and GMAC per audio second of the paper and small, DL and PL configs."""
    from tfgridnet_pl.model.complexity import config_complexity

    print("| config | params (training) | params (inference) | GMAC/s training graph | GMAC/s inference |")
    print("|---|---|---|---|---|")
    out = {}
    for config in (PAPER_DL, PAPER_PL, SMALL_DL, SMALL_PL):
        c = config_complexity(config)
        out[config] = {
            k: c[k] for k in ("params", "params_inference", "gmacs_per_s_train", "gmacs_per_s_inference")
        }
        print(
            f"| {os.path.basename(config)} | {c['params']:,} | {c['params_inference']:,} | "
            f"{c['gmacs_per_s_train']:.2f} | {c['gmacs_per_s_inference']:.2f} |",
            flush=True,
        )
    return out


# -- roofline -------------------------------------------------------------------------------------------
def model_gemms(separator, seconds: float = 1.0) -> list[tuple[str, int, int, int, float]]:
    """The fp32 matrix products one forward pass over ``seconds`` of audio runs: (name, m, k, n, count).

    From the separator's sizes (TFGridNetV2 layout): per block, intra- and inter-frame BLSTMs (input
    and recurrent products for both directions), the projection after each, and the attention's
    1x1 convolutions.
    """
    block = separator.blocks[0]
    frames = int(seconds * FS) // separator.enc.stft.hop_length + 1
    freqs = separator.enc.stft.n_fft // 2 + 1
    c, ks, hs = block.emb_dim, block.emb_ks, block.emb_hs
    hidden = block.intra_rnn.hidden_size
    pad = ks - hs

    def steps(length):  # LSTM sequence length after the block's padding and unfold
        padded = length + 2 * pad if hs == 1 else -(-length // ks) * ks
        return padded - ks + 1 if hs == 1 else padded // ks

    def padded(length):
        return length + 2 * pad if hs == 1 else -(-length // ks) * ks

    n_blocks = len(separator.blocks)
    out = []
    for name, seq, batch in (
        ("intra", steps(freqs), padded(frames)),
        ("inter", steps(frames), padded(freqs)),
    ):
        out.append((f"{name} LSTM input", seq * batch, c * ks, 4 * hidden, 2.0 * n_blocks))
        out.append((f"{name} LSTM recurrent", batch, hidden, 4 * hidden, 2.0 * seq * n_blocks))
        out.append((f"{name} projection", seq * batch, 2 * hidden, c * ks, 1.0 * n_blocks))
    e_qk = block.attn_conv_Q.out_channels
    out.append(("attention 1x1 convs", frames * freqs, c, 2 * e_qk + 2 * c, 1.0 * n_blocks))
    return out


def matmul_gflops(m: int, k: int, n: int, threads: int, repeats: int, dtype=None) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    with torch.inference_mode():
        seconds = best_time(lambda: torch.matmul(a, b), repeats)
    return 2.0 * m * k * n / seconds / 1e9


def add_roofline_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)


def roofline(separator, threads: int, repeats: int) -> tuple[float, list[dict]]:
    """MAC-weighted fp32 GFLOP/s at the model's product shapes (the harmonic mean: total time)."""
    rows, total_flop, total_s = [], 0.0, 0.0
    for name, m, k, n, count in model_gemms(separator):
        rate = matmul_gflops(m, k, n, threads, repeats)
        flop = 2.0 * m * k * n * count
        total_flop += flop
        total_s += flop / (rate * 1e9)
        rows.append(
            {"product": name, "m": m, "k": k, "n": n, "gflop_per_s_audio": flop / 1e9, "gflops": rate}
        )
    return total_flop / total_s / 1e9, rows


def run_roofline(args) -> dict:
    """Measured fp32 matmul throughput at the model's shapes, 1 and 2 threads (and a 1024^3 reference)."""
    import torch

    header(f"fp32 matrix-product throughput (GFLOP/s) at the shapes of {args.bench_config}")
    _, separator = build(args.bench_config)
    out = {"config": args.bench_config, "machine": machine(), "threads": {}}
    for threads in _threads(args):
        weighted, rows = roofline(separator, threads, args.bench_repeats)
        square = matmul_gflops(1024, 1024, 1024, threads, args.bench_repeats)
        bf16 = matmul_gflops(512, 512, 512, threads, 1, dtype=torch.bfloat16)
        out["threads"][threads] = {
            "weighted": weighted,
            "square_1024": square,
            "bf16_512": bf16,
            "products": rows,
        }
    print(
        "| product | m x k x n | GFLOP per audio s | " + " | ".join(f"{t} thr" for t in out["threads"]) + " |"
    )
    print("|---|---|---|" + "---|" * len(out["threads"]))
    for i, row in enumerate(next(iter(out["threads"].values()))["products"]):
        rates = " | ".join(f"{v['products'][i]['gflops']:.1f}" for v in out["threads"].values())
        shape = f"{row['m']} x {row['k']} x {row['n']}"
        print(f"| {row['product']} | {shape} | {row['gflop_per_s_audio']:.2f} | {rates} |")
    per_thread = out["threads"].values()
    print(
        "| **MAC-weighted (roofline)** | | | "
        + " | ".join(f"**{v['weighted']:.1f}**" for v in per_thread)
        + " |"
    )
    print("| 1024 x 1024 x 1024 | | | " + " | ".join(f"{v['square_1024']:.1f}" for v in per_thread) + " |")
    print("| 512 x 512 x 512, bf16 | | | " + " | ".join(f"{v['bf16_512']:.1f}" for v in per_thread) + " |")
    return out


# -- RTF --------------------------------------------------------------------------------------------------
class Runners:
    """Ways to run one separator on a waveform [1, N]: stock ESPnet, and the fast paths."""

    def __init__(self, separator, workdir: str, onnx: bool = True):
        import torch

        from tfgridnet_pl.deploy.onnx_core import GridNetCore, SpectralGlue, export_core, quantize_int8

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
    import torch

    from tfgridnet_pl.model.complexity import model_complexity

    header(f"Real-time factor (lower is better) of {args.bench_config}")
    model, separator = build(args.bench_config)
    gflop = 2 * model_complexity(model)["gmacs_per_s_inference"]
    runners = Runners(separator, args.rtf_workdir, onnx="onnx" in args.rtf_backends)
    seconds = [float(s) for s in str(args.bench_seconds).split(",") if s]
    rng = np.random.default_rng(0)
    waves = {
        s: torch.from_numpy(0.1 * rng.standard_normal((1, int(s * FS))).astype(np.float32)) for s in seconds
    }
    out = {
        "config": args.bench_config,
        "gflop_per_audio_s": gflop,
        "export_seconds": runners.export_s,
        "cells": [],
    }
    roofs = {t: roofline(separator, t, args.bench_repeats)[0] for t in _threads(args)}
    out["roofline"] = roofs
    print(f"model: {gflop:.1f} GFLOP per audio second; ONNX export {runners.export_s:.0f} s")
    print(
        "| backend | threads | "
        + " | ".join(f"RTF {s:g} s" for s in seconds)
        + " | speed-up vs ESPnet | efficiency |"
    )
    print("|---|---|" + "---|" * len(seconds) + "---|---|")
    base = {}
    for threads in _threads(args):
        for name in args.rtf_backends.split(","):
            fn = runners.function(name, threads)
            fn(waves[min(seconds)])  # warm-up on the shortest input only: long ones cost minutes each
            rtfs = [
                best_time(lambda w=waves[s], f=fn: f(w), args.bench_repeats, warmup=False) / s
                for s in seconds
            ]
            if name == "espnet_fp32":
                base[threads] = rtfs
            speed = [b / r for b, r in zip(base.get(threads, [np.nan] * len(rtfs)), rtfs, strict=True)]
            eff = [gflop / r / roofs[threads] for r in rtfs]
            cell = {
                "backend": name,
                "threads": threads,
                "seconds": seconds,
                "rtf": rtfs,
                "speedup": speed,
                "efficiency": eff,
                "load": load(),
            }
            out["cells"].append(cell)
            print(
                f"| {name} | {threads} | "
                + " | ".join(f"{r:.3f}" for r in rtfs)
                + " | "
                + " / ".join(f"{x:.2f}x" for x in speed)
                + " | "
                + " / ".join(f"{e:.0%}" for e in eff)
                + f" |  (load {cell['load']:.1f})",
                flush=True,
            )
    print(f"roofline (MAC-weighted fp32 GFLOP/s): {', '.join(f'{t} thr {r:.1f}' for t, r in roofs.items())}")
    return out


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


# -- training step ---------------------------------------------------------------------------------------
def add_train_step_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)
    p.add_argument("--train-configs", default=f"{SMALL_DL},{SMALL_PL},{PAPER_DL},{PAPER_PL}")
    p.add_argument("--train-batch", type=int, default=2, help="utterances per step")
    p.add_argument("--train-seconds", type=float, default=2.0, help="seconds per utterance")
    p.add_argument("--train-threads", type=int, default=1)


def stock_config(config: dict) -> dict:
    """The same config with ESPnet's own TFGridNetV2 (Hann window, no heads) and the fixed_order wrapper."""
    stock = dict(config)
    conf = {k: v for k, v in config["separator_conf"].items() if k not in ("intermediate_heads", "window")}
    stock["separator"], stock["separator_conf"] = "tfgridnetv2", conf
    stock["criterions"] = [
        {
            **c,
            "wrapper": "fixed_order",
            "wrapper_conf": {"weight": c.get("wrapper_conf", {}).get("weight", 1.0)},
        }
        for c in config["criterions"]
    ]
    return stock


def train_step_time(config: dict, batch: int, seconds: float, repeats: int) -> float:
    """Seconds per optimizer step (forward with losses, backward, Adam) on random audio."""
    import torch

    from tfgridnet_pl.deploy.packed_model import build_model

    torch.manual_seed(0)
    model = build_model(config).train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)
    n = int(seconds * FS)
    speech = 0.1 * torch.randn(batch, n)
    noise = 0.05 * torch.randn(batch, n)
    lengths = torch.full((batch,), n)

    def step():
        optim.zero_grad()
        loss = model(
            speech_mix=speech + noise, speech_mix_lengths=lengths, speech_ref1=speech, noise_ref1=noise
        )[0]
        loss.backward()
        optim.step()

    return best_time(step, repeats)


def run_train_step(args) -> dict:
    """Training step time of our DL and PL models (small and paper) against stock ESPnet TFGridNetV2."""
    import torch
    import yaml

    torch.set_num_threads(args.train_threads)
    header(
        f"Training step (batch {args.train_batch} x {args.train_seconds:g} s, {args.train_threads} thread)"
    )
    print("| config | ours (s/step) | stock ESPnet TFGridNetV2 (s/step) | ours / stock |")
    print("|---|---|---|---|")
    out = {}
    for config_path in args.train_configs.split(","):
        config = yaml.safe_load(open(config_path, encoding="utf-8"))
        ours = train_step_time(config, args.train_batch, args.train_seconds, args.bench_repeats)
        stock = train_step_time(
            stock_config(config), args.train_batch, args.train_seconds, args.bench_repeats
        )
        out[config_path] = {"ours": ours, "stock": stock, "load": load()}
        print(
            f"| {os.path.basename(config_path)} | {ours:.2f} | {stock:.2f} | {ours / stock:.2f} |", flush=True
        )
    return out


# -- fast-path quality ---------------------------------------------------------------------------------------
def add_fastpath_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)
    p.add_argument(
        "--fastpath-pack", default=None, help="packed model (pack_model.py) to compare precisions of"
    )
    p.add_argument("--fastpath-data", default="data/test", help="data dir with wav.scp and spk1.scp")
    p.add_argument("--fastpath-max-utts", type=int, default=40)


def run_fastpath(args) -> dict:
    """PESQ, DNSMOS OVRL and speed of each backend/precision against torch fp32, on real speech mixtures."""
    import soundfile as sf

    from tfgridnet_pl.deploy.packed_model import Enhancer, read_pack
    from tfgridnet_pl.fileio import read_list
    from tfgridnet_pl.scoring import metrics
    from tfgridnet_pl.scoring.dnsmos import DNSMOS

    if not args.fastpath_pack:
        print("skipped: give --fastpath-pack (a packed model, e.g. exp/enh_dl/packed/dl.tar.gz)")
        return {"skipped": "no --fastpath-pack"}
    header(f"Fast paths of {args.fastpath_pack} on {args.fastpath_data}, 1 thread")
    pack = read_pack(args.fastpath_pack)
    noisy, clean = read_list(f"{args.fastpath_data}/wav.scp"), read_list(f"{args.fastpath_data}/spk1.scp")
    keys = sorted(noisy)[: args.fastpath_max_utts]
    dnsmos = DNSMOS(num_threads=1)
    variants = [("torch", "fp32"), ("torch", "int8"), ("onnx", "fp32"), ("onnx", "int8")]
    enhancers = {v: Enhancer(pack, v[0], v[1], threads=1) for v in variants}
    scores = {v: {"PESQ_WB": [], "OVRL": [], "busy": 0.0} for v in variants}
    audio_s = 0.0
    for key in keys:
        mix, fs = sf.read(noisy[key], dtype="float32")
        ref, _ = sf.read(clean[key], dtype="float32")
        audio_s += len(mix) / fs
        for v, enhancer in enhancers.items():
            start = time.perf_counter()
            est = enhancer(mix[None])[0]
            scores[v]["busy"] += time.perf_counter() - start
            scores[v]["PESQ_WB"].append(metrics.pesq_wb(ref, est, fs))
            scores[v]["OVRL"].append(dnsmos(est)["OVRL"])
    base = scores[("torch", "fp32")]
    print("| backend | precision | PESQ_WB | delta | DNSMOS OVRL | delta | RTF | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    out = {"pack": args.fastpath_pack, "utterances": len(keys), "variants": {}}
    for v in variants:
        s = scores[v]
        pesq, ovrl = float(np.mean(s["PESQ_WB"])), float(np.mean(s["OVRL"]))
        d_pesq, d_ovrl = pesq - float(np.mean(base["PESQ_WB"])), ovrl - float(np.mean(base["OVRL"]))
        rtf = s["busy"] / audio_s
        out["variants"][f"{v[0]}_{v[1]}"] = {
            "PESQ_WB": pesq,
            "OVRL": ovrl,
            "d_PESQ_WB": d_pesq,
            "d_OVRL": d_ovrl,
            "rtf": rtf,
        }
        print(
            f"| {v[0]} | {v[1]} | {pesq:.3f} | {d_pesq:+.3f} | {ovrl:.3f} | {d_ovrl:+.3f} | {rtf:.3f} | "
            f"{base['busy'] / s['busy']:.2f}x |"
        )
    return out


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "model_size": ("parameters and GMAC/s of the paper and small DL/PL configs", run_size, add_size_args),
    "roofline": ("fp32 matmul GFLOP/s at the model's product shapes", run_roofline, add_roofline_args),
    "rtf": ("RTF of ESPnet fp32 vs the fast paths at 1 and 10 s, 1 and 2 threads", run_rtf, add_rtf_args),
    "scaling": ("how the cost grows from 1 s to 60 s of input", run_scaling, add_scaling_args),
    "train_step": (
        "training step time, ours vs stock ESPnet TFGridNetV2",
        run_train_step,
        add_train_step_args,
    ),
    "fastpath": (
        "PESQ, DNSMOS OVRL and speed of fp32 vs int8, torch vs onnx",
        run_fastpath,
        add_fastpath_args,
    ),
}
