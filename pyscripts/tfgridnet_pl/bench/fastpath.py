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
    "fastpath": (
        "PESQ, DNSMOS OVRL and speed of fp32 vs int8, torch vs onnx",
        run_fastpath,
        add_fastpath_args,
    ),
}
