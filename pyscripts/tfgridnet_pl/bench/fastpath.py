"""Benchmark section ``fastpath``: quality and speed of each backend and precision of a packed model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from tfgridnet_pl.bench.common import add_common_args, header


def add_fastpath_args(p: argparse.ArgumentParser) -> None:
    add_common_args(p)
    p.add_argument(
        "--fastpath-pack", default=None, help="packed model (pack_model.py) to compare precisions of"
    )
    p.add_argument("--fastpath-data", default="data/test", help="data dir with wav.scp and spk1.scp")
    p.add_argument("--fastpath-max-utts", type=int, default=40)


def run_fastpath(args) -> dict:
    """PESQ, SI-SNR, DNSMOS OVRL and speed of each backend/precision against torch fp32, on real mixtures."""
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
    scores = {v: {**{m: [] for m in METRICS}, "busy": 0.0} for v in variants}
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
            scores[v]["SI_SNR"].append(metrics.si_snr(ref, est))
            scores[v]["OVRL"].append(dnsmos(est)["OVRL"])
    return report(args.fastpath_pack, len(keys), variants, scores, audio_s)


METRICS = ("PESQ_WB", "SI_SNR", "OVRL")


def report(pack: str, n_utts: int, variants, scores: dict, audio_s: float) -> dict:
    """Print the table (each metric and its difference from torch fp32, RTF) and return its numbers."""
    base = scores[("torch", "fp32")]
    print("| backend | precision | " + " | ".join(f"{m} | delta" for m in METRICS) + " | RTF | speed-up |")
    print("|---|---|" + "---|---|" * len(METRICS) + "---|---|")
    out = {"pack": pack, "utterances": n_utts, "variants": {}}
    for v in variants:
        s = scores[v]
        row = {m: float(np.mean(s[m])) for m in METRICS}
        row.update({f"d_{m}": row[m] - float(np.mean(base[m])) for m in METRICS})
        row["rtf"] = s["busy"] / audio_s
        out["variants"][f"{v[0]}_{v[1]}"] = row
        cells = " | ".join(f"{row[m]:.3f} | {row[f'd_{m}']:+.3f}" for m in METRICS)
        print(f"| {v[0]} | {v[1]} | {cells} | {row['rtf']:.3f} | {base['busy'] / s['busy']:.2f}x |")
    return out


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "fastpath": (
        "PESQ, SI-SNR, DNSMOS OVRL and speed of fp32 vs int8, torch vs onnx",
        run_fastpath,
        add_fastpath_args,
    ),
}
