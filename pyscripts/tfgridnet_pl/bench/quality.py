"""Benchmark section ``int8_quality``: what int8 costs in quality, on trained models and a scored set.

For each packed model (stage 7's archives) and each way of running it (torch fp32, onnxruntime fp32,
onnxruntime int8, torch int8), enhance every utterance of a data dir with references and score PESQ,
STOI and SI-SNR against them; print the means and each path's difference from torch fp32 (the path
the recipe's own decoding takes), with the largest per-utterance PESQ drop.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfgridnet_pl.bench.common import header

PATHS = (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"), ("torch", "int8"))
METRICS = ("PESQ_WB", "STOI", "SI_SNR")


def add_quality_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("int8_quality")
    g.add_argument(
        "--int8-quality-models",
        default=" ".join(f"exp/enh_{t}/packed/{t}.tar.gz" for t in ("dl", "pl", "pl_relative")),
        help="space-separated packed models (stage 7)",
    )
    g.add_argument("--int8-quality-data", default="data/test", help="data dir with wav.scp and spk1.scp")
    g.add_argument("--int8-quality-max-utts", type=int, default=0, help="first N utterances only (0: all)")


def score_path(pack, backend: str, precision: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Per-utterance scores of one way of running ``pack`` on (noisy, reference) pairs."""
    from tfgridnet_pl.deploy.packed_model import Enhancer
    from tfgridnet_pl.scoring.metrics import compute

    enhancer = Enhancer(pack, backend=backend, precision=precision, threads=1)
    scores: dict[str, list[float]] = {m: [] for m in METRICS}
    for noisy, ref in pairs:
        est = enhancer(noisy[None])[0]
        for metric in METRICS:
            scores[metric].append(compute(metric, ref, est, enhancer.fs))
    return scores


def read_pairs(data: Path, max_utts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    import soundfile as sf

    from tfgridnet_pl.fileio import read_list

    noisy, refs = read_list(data / "wav.scp"), read_list(data / "spk1.scp")
    keys = sorted(noisy)[: max_utts or None]
    return [(sf.read(noisy[k], dtype="float32")[0], sf.read(refs[k], dtype="float32")[0]) for k in keys]


def print_model(name: str, results: dict) -> None:
    base = results["torch fp32"]
    print(f"\n{name}")
    print(f"  {'path':<12}" + "".join(f"{m:>10}{'Δ':>9}" for m in METRICS) + f"{'worst ΔPESQ':>13}")
    for path, scores in results.items():
        row = f"  {path:<12}"
        for m in METRICS:
            mean = float(np.mean(scores[m]))
            row += f"{mean:>10.3f}{mean - float(np.mean(base[m])):>+9.3f}"
        worst = float(np.min(np.subtract(scores["PESQ_WB"], base["PESQ_WB"])))
        print(row + f"{worst:>+13.3f}")


def run_int8_quality(args) -> dict:
    from tfgridnet_pl.deploy.packed_model import read_pack

    header("int8 quality: each way of running a trained model, scored against the references")
    pairs = read_pairs(Path(args.int8_quality_data), args.int8_quality_max_utts)
    print(f"{len(pairs)} utterances of {args.int8_quality_data}; 1 thread per path")
    report = {}
    for archive in args.int8_quality_models.split():
        if not Path(archive).is_file():
            print(f"\n{archive}: missing (run stage 7), skipped")
            continue
        pack = read_pack(archive)
        results = {
            f"{b} {p}": score_path(pack, b, p, pairs) for b, p in PATHS if b == "torch" or p in pack.onnx
        }
        print_model(archive, results)
        report[archive] = {
            path: {m: float(np.mean(v)) for m, v in scores.items()} for path, scores in results.items()
        }
    return {"utterances": len(pairs), "models": report}


SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "int8_quality": (
        "PESQ/STOI/SI-SNR of torch and onnxruntime fp32 and int8 on trained packed models",
        run_int8_quality,
        add_quality_args,
    ),
}
