"""Benchmark sections ``model_size`` and ``roofline``: the model's size and this machine's ceiling.

Model FLOP per audio second = 2 x the inference graph's MACs (``tfgridnet_pl.model.complexity``).
Roofline = this machine's measured fp32 matrix-product throughput at the shapes the model's products
have (LSTM input and recurrent products, the projections after the LSTMs, the 1x1 convolutions),
weighted by their share of the MACs; :mod:`.rtf` divides by it for the efficiency.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from tfgridnet_pl.bench.common import (
    FS,
    PAPER_DL,
    PAPER_PL,
    SMALL_DL,
    SMALL_PL,
    add_common_args,
    best_time,
    build,
    header,
    machine,
    threads_of,
)


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
    for threads in threads_of(args):
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


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "model_size": ("parameters and GMAC/s of the paper and small DL/PL configs", run_size, add_size_args),
    "roofline": ("fp32 matmul GFLOP/s at the model's product shapes", run_roofline, add_roofline_args),
}
