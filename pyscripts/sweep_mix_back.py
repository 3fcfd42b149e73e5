#!/usr/bin/env python3
"""Choose ``separator_conf.mix_back`` (conf/decode_model.yaml) on a development set.

Mixing ``beta`` of the noisy input ``y`` back into an estimate ``x`` gives ``(1 - beta) * x + beta * y``
(what the separator computes with ``mix_back: beta``, the STFT being linear), so one decoding per model
*without* the overrides is enough to score every ``beta``:

    ./run.sh --stage 5 --stop-stage 5 --test-sets dev --peers "" --decode-model-config ""
    python3 pyscripts/sweep_mix_back.py --data data/dev --models "dl pl pl_relative"

Prints a Markdown table of PESQ, STOI and SI-SNR (means over the set) for each model and ``beta``,
with the models' mean, and the ``beta`` with the highest mean SI-SNR over the models (the rule that
chose the shipped value; docs/progressive-learning.md, "Mixing the input back"). Refuses decodings
that already mixed the input back (their ``decode_model.yaml`` sets ``mix_back``).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from tfgridnet_pl.scoring.metrics import align, compute
from tfgridnet_pl.scoring.store import read_scp
from tfgridnet_pl.scoring.utterance import load_audio

METRICS = (("PESQ_WB", "PESQ", 3), ("STOI", "STOI", 4), ("SI_SNR", "SI-SNR", 3))  # name, label, digits


def parse_betas(text: str) -> list[float]:
    try:
        betas = [float(b) for b in text.split(",") if b.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--betas: expected numbers separated by commas, got {text!r}"
        ) from exc
    if not betas or not all(0.0 <= b <= 1.0 for b in betas):
        raise argparse.ArgumentTypeError(f"--betas: expected numbers in [0, 1], got {text!r}")
    return betas


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="data dir with wav.scp (noisy) and spk1.scp (clean)")
    p.add_argument("--models", required=True, help="space-separated tags: exp/enh_<tag>/decode_<set>/")
    p.add_argument("--exp", default="exp")
    p.add_argument("--betas", type=parse_betas, default=parse_betas("0,0.05,0.1,0.15,0.2,0.25,0.3"))
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--jobs", type=int, default=2, help="processes scoring utterances")
    return p


def decoded_list(exp: Path, tag: str, dset: str) -> Path:
    """exp/enh_<tag>/decode_<set>/spk1.scp, checked to be a decoding without mix_back."""
    decode = exp / f"enh_{tag}" / f"decode_{dset}"
    scp = decode / "spk1.scp"
    if not scp.is_file():
        raise SystemExit(f"{scp} is missing: decode {dset} first (see this script's help)")
    overrides = decode / "decode_model.yaml"
    if overrides.is_file():
        mix_back = ((yaml.safe_load(overrides.read_text()) or {}).get("separator_conf") or {}).get("mix_back")
        if mix_back:
            raise SystemExit(
                f"{scp} was decoded with mix_back {mix_back} ({overrides}): decode again with "
                '--decode-model-config ""'
            )
    return scp


def score_utterance(job: tuple) -> np.ndarray:
    """[beta, metric] scores of one utterance: (estimate, noisy, clean, betas, fs)."""
    est_path, noisy_path, ref_path, betas, fs = job
    est = load_audio(est_path, fs, "estimate")
    noisy = load_audio(noisy_path, fs, "noisy input")
    ref = load_audio(ref_path, fs, "reference")
    n = min(len(est), len(noisy), len(ref))
    est, noisy, ref = est[:n], noisy[:n], ref[:n]
    out = np.empty((len(betas), len(METRICS)))
    for i, beta in enumerate(betas):
        mixed = (1.0 - beta) * est + beta * noisy
        for j, (metric, _, _) in enumerate(METRICS):
            out[i, j] = compute(metric, *align(ref, mixed)[:2], fs)
    return out


def sweep(scp: Path, noisy: dict, clean: dict, betas: list[float], fs: int, jobs: int) -> np.ndarray:
    """Means over the set, [beta, metric]."""
    est = read_scp(scp)
    if sorted(est) != sorted(noisy):
        raise SystemExit(f"{scp} and the data dir's wav.scp have different keys")
    work = [(est[k], noisy[k], clean[k], betas, fs) for k in sorted(est)]
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        return np.mean(list(pool.map(score_utterance, work)), axis=0)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    data = Path(args.data)
    noisy, clean = read_scp(data / "wav.scp"), read_scp(data / "spk1.scp")
    tags = args.models.split()
    results = {
        tag: sweep(decoded_list(Path(args.exp), tag, data.name), noisy, clean, args.betas, args.fs, args.jobs)
        for tag in tags
    }
    mean = np.mean([results[t] for t in tags], axis=0)
    header = ["mix_back", *(f"{tag} {name}" for tag in [*tags, "mean"] for _, name, _ in METRICS)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for i, beta in enumerate(args.betas):
        cells = [
            f"{value:.{digits}f}"
            for row in [*(results[t][i] for t in tags), mean[i]]
            for value, (_, _, digits) in zip(row, METRICS, strict=True)
        ]
        print(f"| {beta:g} | " + " | ".join(cells) + " |")
    best = args.betas[int(np.argmax(mean[:, 2]))]
    print(f"\nhighest mean SI-SNR over {', '.join(tags)} on {data}: mix_back {best:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
