#!/usr/bin/env python3
"""Pack a trained experiment into one self-contained archive for pyscripts/enhance.py and export_onnx.py.

    python3 pyscripts/pack_model.py --exp exp/enh_dl --model valid.loss.best.pth \\
        --inference-config conf/decode_model.yaml --out exp/enh_dl/packed/dl.tar.gz

The archive (format: ``tfgridnet_pl.deploy.packed_model``) holds the experiment's config.yaml, the
weights of the inference graph, version information (ESPnet, torch, Python, git commit, date, tag, parameters,
GMAC/s) and, with ``--onnx true`` (default), the exported core in fp32 and int8 for the onnxruntime
backend. ``pyscripts/enhance.py --unpack ARCHIVE DIR`` verifies and extracts it safely, giving
``--train_config``/``--model_file`` for ``pyscripts/enh_inference.py`` (``meta.yaml`` keeps ESPnet's keys,
but ESPnet's own ``unpack`` follows ``../`` names and links out of its folder: not for others' archives).

Stats: ESPnet's enhancement task has no feature normalisation, so no statistics file is needed
(TF-GridNet scales its input by the mixture's std itself); exp/enh_stats_16k only holds shape files.
PL: the intermediate heads are dropped (inference graph only); see tfgridnet_pl/deploy/packed_model.py.
``--inference-config``: the overrides of the model's config that decoding applies (ESPnet's
``enh_inference --inference_config``, e.g. ``separator_conf.mix_back``), merged into the packed
config the same way, so the packed model (torch and ONNX) enhances as stage 5 decoded.
The archive is written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import datetime
import io
import logging
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from tfgridnet_pl.deploy import packed_model as pm

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def str2bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, help="experiment dir with config.yaml and the checkpoint")
    p.add_argument("--model", default="valid.loss.best.pth", help="checkpoint file inside --exp")
    p.add_argument("--out", required=True, help="archive to write (.tar.gz)")
    p.add_argument("--tag", default=None, help="model name (default: --exp's name without 'enh_')")
    p.add_argument("--fs", type=int, default=16000, help="sampling rate the model works at")
    p.add_argument("--onnx", type=str2bool, default=True, help="also export the ONNX core (fp32 and int8)")
    p.add_argument(
        "--inference-config",
        default=None,
        help="YAML of model-config overrides applied at decoding (ESPnet's --inference_config)",
    )
    return p


OVERRIDABLE = ("encoder", "encoder_conf", "separator", "separator_conf", "decoder", "decoder_conf")


def apply_inference_config(config: dict, path: Path | None) -> dict:
    """``config`` updated with the overrides in ``path``, as ESPnet's enh_inference does; keys checked."""
    if path is None:
        return config
    from espnet2.bin.enh_inference import recursive_dict_update

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (--inference-config)")
    overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(overrides).__name__}")
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(
            f"{path}: keys {unknown} cannot be overridden at inference; only {list(OVERRIDABLE)}"
        )
    recursive_dict_update(config, overrides)
    return config


def git_commit(root: Path) -> str:
    """HEAD of the recipe's repository, '+dirty' when tracked files changed; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def relative_paths(value, root: Path):
    """``value`` (a parsed YAML tree) with absolute paths under ``root`` made relative to it."""
    if isinstance(value, dict):
        return {k: relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_paths(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            return str(Path(value).resolve().relative_to(root))
        except ValueError:
            return value
    return value


def load_experiment(exp: Path, model_name: str) -> tuple[dict, dict, Path]:
    """(config, checkpoint state_dict, resolved checkpoint path) of an experiment dir, with clear errors."""
    config_path, model_path = exp / "config.yaml", exp / model_name
    for path in (config_path, model_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (is {exp} a trained experiment dir?)")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    if not isinstance(config, dict) or "separator" not in config:
        raise ValueError(f"{config_path}: not an ESPnet enhancement config (no 'separator' key)")
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{model_path}: not a torch checkpoint ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{model_path}: expected a state_dict, got {type(state).__name__}")
    return config, state, model_path.resolve()


def export_graphs(separator: torch.nn.Module, weights_sha: str, tag: str) -> dict[str, bytes]:
    """fp32 and int8 ONNX cores of ``separator``, tagged with the weights' sha256."""
    from tfgridnet_pl.deploy.onnx_core import export_core, quantize_int8

    graphs = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "core.fp32.onnx", Path(tmp) / "core.int8.onnx"
        info = export_core(
            separator, fp32, metadata={"weights_sha256": weights_sha, "tag": tag, "precision": "fp32"}
        )
        logging.info(
            f"exported the ONNX core in {info['export_seconds']:.1f} s ({info['bytes'] / 1e6:.1f} MB)"
        )
        quantize_int8(fp32, int8)
        graphs["fp32"], graphs["int8"] = fp32.read_bytes(), int8.read_bytes()
    return graphs


def pack(
    exp: Path,
    model_name: str,
    out: Path,
    tag: str | None,
    fs: int,
    with_onnx: bool,
    inference_config: Path | None = None,
) -> dict:
    """Write the archive; return its meta.yaml contents."""
    from tfgridnet_pl.model.complexity import model_complexity

    root = Path.cwd().resolve()
    config, state, model_path = load_experiment(exp, model_name)
    config = apply_inference_config(config, inference_config)
    model = pm.build_model(config, state)
    params_total = sum(p.numel() for p in model.parameters())
    config, inference_state, n_dropped = pm.strip_training_only(model, config)
    config = relative_paths(config, root)
    inference_model = pm.build_model(config, inference_state)
    buffer = io.BytesIO()
    torch.save(inference_model.state_dict(), buffer)
    weights = buffer.getvalue()
    complexity = model_complexity(inference_model, fs=fs)
    tag = tag or exp.name.removeprefix("enh_")
    now = datetime.datetime.now(datetime.UTC)
    import espnet

    meta = {
        "timestamp": now.timestamp(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "espnet": str(espnet.__version__),
        pm.SECTION: {
            "format": pm.FORMAT,
            "format_version": pm.FORMAT_VERSION,
            "tag": tag,
            "date": now.isoformat(timespec="seconds"),
            "git_commit": git_commit(root),
            "host": platform.node(),
            "source_exp": str(relative_paths(str(exp.resolve()), root)),
            "source_model": str(relative_paths(str(model_path), root)),
            "inference_config": relative_paths(str(inference_config), root) if inference_config else None,
            "fs": fs,
            "separator": config["separator"],
            "params": int(params_total),
            "params_inference": int(params_total - n_dropped),
            "params_dropped": int(n_dropped),
            "gmacs_per_s_inference": round(float(complexity["gmacs_per_s_inference"]), 4),
            "stats": "none (ESPnet's enh task has no feature normalisation)",
        },
    }
    graphs = {}
    if with_onnx:
        graphs = export_graphs(inference_model.separator, pm.sha256(weights), tag)
    pm.write_pack(out, meta, config, weights, graphs)
    return meta


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = get_parser().parse_args(argv)
    out = Path(args.out)
    if not out.name.endswith(".tar.gz"):
        logging.error(f"--out {out}: the archive name must end in .tar.gz")
        return 2
    try:
        inference_config = Path(args.inference_config) if args.inference_config else None
        meta = pack(Path(args.exp), args.model, out, args.tag, args.fs, args.onnx, inference_config)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        logging.error(str(exc))
        return 1
    info = meta[pm.SECTION]
    dropped = f", {info['params_dropped']} training-only parameters dropped" if info["params_dropped"] else ""
    logging.info(
        f"packed {args.exp}/{args.model} as {out} ({out.stat().st_size / 1e6:.1f} MB): tag {info['tag']}, "
        f"{info['params_inference']} parameters{dropped}, {info['gmacs_per_s_inference']:.2f} GMAC/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
