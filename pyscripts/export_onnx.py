#!/usr/bin/env python3
"""Export a packed model's inference graph to ONNX (the real-valued core, dynamic length).

    python3 pyscripts/export_onnx.py --model exp/enh_dl/packed/dl.tar.gz --out exp/enh_dl/packed/dl.onnx
    python3 pyscripts/export_onnx.py --model dl.tar.gz --out dl.int8.onnx --precision int8

The graph maps the std-normalised STFT of the input, [B, 2, frames, F] (real and imaginary parts), to
[B, 2 * n_srcs, frames, F]; any number of frames >= 2. A PL model exports its final head only. STFT, iSTFT
and std scaling stay outside the graph (``tfgridnet_pl.deploy.onnx_core.SpectralGlue``; the graph's
metadata has n_fft, hop and window). ``pyscripts/enhance.py --backend onnx --onnx-file`` runs it, and so
does any ONNX runtime given that glue. One self-contained file (weights inside), written atomically. With
``--check-seconds S`` (default 4) the export is verified against torch on S s of noise.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from tfgridnet_pl.deploy import packed_model as pm

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="packed model (.tar.gz from pyscripts/pack_model.py)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    p.add_argument("--check-seconds", type=float, default=4.0, help="verify on this much audio (0: skip)")
    return p


def export(model: str | Path, out: str | Path, precision: str = "fp32") -> dict:
    """Export ``model``'s core to ``out``; return export info (seconds, bytes, nodes)."""
    from tfgridnet_pl.deploy.onnx_core import export_core, quantize_int8

    pack = pm.read_pack(model)
    separator = pm.build_model(pack.config, pack.state_dict()).separator
    metadata = {
        "weights_sha256": pack.info["files"][pm.WEIGHTS],
        "tag": pack.info.get("tag", ""),
        "precision": "fp32",
    }
    if precision == "fp32":
        return export_core(separator, out, metadata=metadata)
    with tempfile.TemporaryDirectory() as tmp:
        info = export_core(separator, Path(tmp) / "core.fp32.onnx", metadata=metadata)
        info.update(quantize_int8(Path(tmp) / "core.fp32.onnx", out))
    return info


def check(model: str | Path, onnx_file: str | Path, precision: str, seconds: float) -> float:
    """Max abs difference between torch fp32 and the ONNX file on ``seconds`` of noise at 0.1 std."""
    rng = np.random.default_rng(0)
    pack = pm.read_pack(model)
    wave = (0.1 * rng.standard_normal((1, int(seconds * int(pack.info.get("fs", 16000)))))).astype(np.float32)
    ref = pm.Enhancer(pack, backend="torch")(wave)
    est = pm.Enhancer(pack, backend="onnx", precision=precision, onnx_file=onnx_file)(wave)
    return float(np.max(np.abs(ref - est)))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = get_parser().parse_args(argv)
    try:
        info = export(args.model, args.out, args.precision)
    except pm.PackedModelError as exc:
        logging.error(str(exc))
        return 1
    logging.info(
        f"wrote {args.out}: {args.precision}, {info['bytes'] / 1e6:.1f} MB, "
        f"exported in {info['export_seconds']:.1f} s"
    )
    if args.check_seconds > 0:
        diff = check(args.model, args.out, args.precision, args.check_seconds)
        logging.info(f"max |torch - onnx| on {args.check_seconds:g} s of noise: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
