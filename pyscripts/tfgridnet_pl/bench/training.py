"""Benchmark section ``train_step``: a training step of our DL and PL models against stock ESPnet."""

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
    header,
    load,
)


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


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "train_step": (
        "training step time, ours vs stock ESPnet TFGridNetV2",
        run_train_step,
        add_train_step_args,
    ),
}
