#!/usr/bin/env python3
"""Log-magnitude spectrograms of labelled wav files on one shared colour scale, plus 16 kHz copies.

    plot_spectrograms.py --wav clean=data/test/... --wav noisy=... --wav DL=... --wav PL=... \\
        --title "test: utt_0001" --out-dir egs --name spectrograms

writes ``egs/spectrograms.png`` (one panel per wav, top to bottom, shared time and frequency axes, one
colour bar in dB) and ``egs/spectrograms_<label>.wav`` (each input as 16 kHz 16-bit PCM, for the README).
The colour scale runs from the loudest bin of all panels down ``--dynamic-range`` dB, so the panels
compare directly. STFT: Hann window of 32 ms, 8 ms hop.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import numpy as np

from tfgridnet_pl.fileio import atomic_path, write_wav_atomic

log = logging.getLogger("plot_spectrograms")


def parse_wav(spec: str) -> tuple[str, Path]:
    label, sep, path = spec.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"--wav expects LABEL=PATH, got {spec!r}")
    return label, Path(path)


def load(path: Path, fs: int) -> np.ndarray:
    """Mono float audio at ``fs`` (resampled with soxr when the file has another rate)."""
    import soundfile as sf

    try:
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as exc:
        raise SystemExit(f"plot_spectrograms.py: cannot read {path}: {exc}") from exc
    if audio.shape[0] == 0:
        raise SystemExit(f"plot_spectrograms.py: {path} has no samples")
    audio = audio.mean(axis=1)
    if rate != fs:
        import soxr

        log.info("%s: resampling %d Hz -> %d Hz", path, rate, fs)
        audio = soxr.resample(audio, rate, fs)
    return audio


def log_spectrogram(audio: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies in Hz, times in s, magnitude in dB) of a 32 ms / 8 ms Hann STFT."""
    from scipy.signal import stft

    nperseg = int(0.032 * fs)
    freqs, times, spec = stft(audio, fs=fs, window="hann", nperseg=nperseg, noverlap=nperseg - nperseg // 4)
    return freqs, times, 20 * np.log10(np.abs(spec) + 1e-10)


def figure(items: list[tuple[str, np.ndarray]], fs: int, title: str, dynamic_range: float):
    """The matplotlib figure: one panel per item, top to bottom, one colour scale and colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    specs = [(label, *log_spectrogram(audio, fs)) for label, audio in items]
    vmax = max(float(s.max()) for *_, s in specs)
    vmin = vmax - dynamic_range
    fig, axes = plt.subplots(
        len(specs),
        1,
        figsize=(10, 2.1 * len(specs) + 0.8),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, (label, freqs, times, spec) in zip(axes[:, 0], specs, strict=True):
        image = ax.pcolormesh(
            times, freqs / 1000, spec, vmin=vmin, vmax=vmax, cmap="magma", shading="auto", rasterized=True
        )
        ax.set_ylabel("frequency (kHz)")
        ax.set_title(label, loc="left", fontsize=11)
    axes[-1, 0].set_xlabel("time (s)")
    fig.colorbar(image, ax=axes[:, 0], label="magnitude (dB)", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


def plot(items: list[tuple[str, np.ndarray]], fs: int, title: str, out: Path, dynamic_range: float) -> None:
    import matplotlib.pyplot as plt

    fig = figure(items, fs, title, dynamic_range)
    save_png(fig, out)
    plt.close(fig)


def save_png(fig, out: Path, dpi: int = 100) -> None:
    """Save atomically as a 256-colour PNG (a noisy spectrogram in 24-bit colour is ~3x larger)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    image = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    with atomic_path(out, suffix=".png") as tmp:
        image.save(tmp, format="PNG", optimize=True)


def safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_").lower() or "audio"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav", type=parse_wav, action="append", required=True, help="LABEL=PATH, repeatable")
    p.add_argument("--title", default="")
    p.add_argument("--out-dir", default="egs")
    p.add_argument("--name", default="spectrograms", help="base name of the PNG and the wav copies")
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--dynamic-range", type=float, default=80.0, help="dB below the loudest bin")
    p.add_argument("--no-copy", action="store_true", help="do not copy the wavs to --out-dir")
    return p


def main(argv=None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    args = get_parser().parse_args(argv)
    labels = [safe_label(label) for label, _ in args.wav]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"plot_spectrograms.py: labels must differ (as file names: {labels})")
    items = [(label, load(path, args.fs)) for label, path in args.wav]
    out_dir = Path(args.out_dir)
    png = out_dir / f"{args.name}.png"
    plot(items, args.fs, args.title, png, args.dynamic_range)
    log.info("wrote %s", png)
    if not args.no_copy:
        for name, (_, audio) in zip(labels, items, strict=True):
            peak = np.max(np.abs(audio))
            if peak > 1.0:
                log.warning("%s: peak %.2f > 1, scaled down for the 16-bit copy", name, peak)
                audio = audio / peak
            write_wav_atomic(out_dir / f"{args.name}_{name}.wav", audio, args.fs)
        log.info("copied %d wavs to %s/%s_<label>.wav", len(items), out_dir, args.name)


if __name__ == "__main__":
    main()
