#!/usr/bin/env python3
"""Training and validation curves per epoch of several ESPnet experiments, on shared axes.

    plot_training_curves.py --exp DL=exp/enh_dl --exp PL=exp/enh_pl --out egs/training_curves.png

Reads ESPnet's per-epoch summary lines from ``<exp>/train.log`` (and the logs of earlier, interrupted
runs that local/train.sh keeps as ``train.1.log``, ``train.2.log``, ...; a later log wins for an
epoch it repeats)::

    ... (trainer:394) INFO: 3epoch results: [train] ..., loss=-3.941, ..., [valid] si_snr_loss=-5.960,
        pesq=1.024, loss=-5.960, time=2.16 seconds, total_count=6

The first panel is the loss (train solid, valid dashed); every other panel is one validation
statistic (``--keys``, default: all except timings and counters), one colour per experiment.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

log = logging.getLogger("plot_training_curves")
RESULTS = re.compile(r"(\d+)epoch results: (.*)$")
SECTION = re.compile(r"\[(\w+)\] ")
SKIP = {
    "time",
    "total_count",
    "iter_time",
    "forward_time",
    "backward_time",
    "optim_step_time",
    "train_time",
    "clip",
    "loss_scale",
    "grad_norm",
    "gpu_max_cached_mem_GB",
}
HIGHER_IS_BETTER = ("pesq", "stoi", "dnsmos", "si_snr", "sdr", "snr")


def parse_results(line: str) -> tuple[int, dict[str, dict[str, float]]] | None:
    """Epoch and {section: {key: value}} of one 'Nepoch results:' line; None for other lines."""
    m = RESULTS.search(line)
    if not m:
        return None
    parts = SECTION.split(m.group(2))  # ['', 'train', 'k=v, ...', 'valid', 'k=v, ...']
    sections = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        values = {}
        for item in body.split(", "):
            key, sep, value = item.strip().rstrip(",").partition("=")
            if not sep:
                continue
            try:
                values[key] = float(value)
            except ValueError:
                continue  # "6.83 seconds" and the like
        sections[name] = values
    return int(m.group(1)), sections


def read_curves(exp_dir: Path) -> dict[int, dict[str, dict[str, float]]]:
    """{epoch: {section: {key: value}}} from train.1.log, train.2.log, ..., train.log (in that order)."""
    logs = sorted(exp_dir.glob("train.*.log"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    logs = [p for p in logs if re.fullmatch(r"train\.\d+\.log", p.name)]
    if (exp_dir / "train.log").is_file():
        logs.append(exp_dir / "train.log")
    if not logs:
        raise SystemExit(f"plot_training_curves.py: no train.log in {exp_dir}")
    epochs: dict[int, dict] = {}
    for path in logs:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parsed = parse_results(line)
            if parsed:
                epochs[parsed[0]] = parsed[1]
    return dict(sorted(epochs.items()))


def sense(key: str) -> str:
    if key.endswith("loss"):
        return "lower is better"
    return "higher is better" if any(h in key for h in HIGHER_IS_BETTER) else ""


def plot(curves: dict[str, dict], keys: list[str], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfgridnet_pl.fileio import atomic_path

    panels = ["loss", *keys]
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False, layout="constrained"
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, panels, strict=False):
        for i, (label, epochs) in enumerate(curves.items()):
            colour = colours[i % len(colours)]
            for section, style in (("train", "-"), ("valid", "--")) if key == "loss" else (("valid", "-"),):
                points = [(e, s[section][key]) for e, s in epochs.items() if key in s.get(section, {})]
                if points:
                    x, y = zip(*points, strict=True)
                    ax.plot(
                        x,
                        y,
                        style,
                        color=colour,
                        marker="o",
                        markersize=3,
                        label=f"{label} {section}" if key == "loss" else label,
                    )
        ax.set_title(
            f"{'train / valid' if key == 'loss' else 'valid'} {key}"
            + (f" ({sense(key)})" if sense(key) else ""),
            fontsize=10,
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def parse_exp(spec: str) -> tuple[str, Path]:
    label, sep, path = spec.partition("=")
    if not sep:
        label, path = Path(spec).name, spec
    return label, Path(path)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=parse_exp, action="append", required=True, help="LABEL=EXP_DIR, repeatable")
    p.add_argument("--keys", default="", help="validation keys to plot besides loss (default: all)")
    p.add_argument("--max-panels", type=int, default=6, help="at most this many panels besides loss")
    p.add_argument("--title", default="")
    p.add_argument("--out", default="egs/training_curves.png")
    return p


def main(argv=None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    args = get_parser().parse_args(argv)
    curves = {}
    for label, exp_dir in args.exp:
        epochs = read_curves(exp_dir)
        if not epochs:
            log.warning("%s: no 'Nepoch results' lines in its train logs yet; left out", exp_dir)
            continue
        curves[label] = epochs
        log.info("%s: %d epochs from %s", label, len(epochs), exp_dir)
    if not curves:
        raise SystemExit("plot_training_curves.py: no experiment has a finished epoch to plot")
    found = {k for ep in curves.values() for s in ep.values() for k in s.get("valid", {})} - SKIP - {"loss"}
    if args.keys:
        keys = [k.strip() for k in args.keys.split(",") if k.strip()]
        for k in set(keys) - found:
            log.warning("key %s is in no experiment's validation results", k)
    else:
        keys = sorted(found)
    if len(keys) > args.max_panels:
        log.warning(
            "plotting %d of %d validation keys (--keys to choose): left out %s",
            args.max_panels,
            len(keys),
            ", ".join(keys[args.max_panels :]),
        )
        keys = keys[: args.max_panels]
    plot(curves, keys, Path(args.out), args.title)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
