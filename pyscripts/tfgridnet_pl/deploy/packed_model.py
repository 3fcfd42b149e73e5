"""Packed enhancement models: the archive format, loading it, and running the model (torch or onnxruntime).

Archive (``.tar.gz``, written by ``pyscripts/pack_model.py``)::

    meta.yaml              ESPnet's pack keys (files, yaml_files, timestamp, python, torch, espnet), so
                           ``espnet2.main_funcs.pack_funcs.unpack`` reads it, plus a ``tfgpl`` section:
                           format, format_version, tag, date, git commit, params, fs, sha256 per member
    model/config.yaml      the experiment's config.yaml; paths of packed files are archive-relative
    model/model.pth        weights of the inference graph (state_dict)
    onnx/core.fp32.onnx    optional: the exported core (:mod:`tfgridnet_pl.deploy.onnx_core`), fp32
    onnx/core.int8.onnx    optional: the same, int8 dynamic quantization (onnxruntime)

A PL model is packed as its inference graph: the intermediate heads' weights are dropped and the
config says ``intermediate_heads: false`` (the heads only exist to train the blocks; decoding never
runs them, so keeping them would only mislead about the deployed model's size).

:class:`Enhancer` runs a packed model on waveforms: the STFT glue of :mod:`tfgridnet_pl.deploy.onnx_core`
around the core, run by torch (``fp32``, ``bf16`` autocast, ``int8`` dynamic quantization of the LSTM and
linear layers) or onnxruntime (``fp32``, ``int8``). The onnx backend needs neither ESPnet nor the weights
file: the graph carries the STFT settings in its metadata.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from tfgridnet_pl.deploy.archive import Limits, PackedModelError, extract, read_members, regular_file

# The archive's own section of meta.yaml and its format name. They are data, not module paths: they
# keep the package's first name (tfgpl) so that archives packed before the rename still load.
SECTION = "tfgpl"
FORMAT = "tfgpl-packed-enh"
FORMAT_VERSION = 1
META = "meta.yaml"
CONFIG = "model/config.yaml"
WEIGHTS = "model/model.pth"
ONNX = {"fp32": "onnx/core.fp32.onnx", "int8": "onnx/core.int8.onnx"}
BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "int8")
__all__ = ["Enhancer", "Limits", "Pack", "PackedModelError", "read_pack", "unpack", "write_pack"]


@dataclass
class Pack:
    """A packed model in memory."""

    path: Path
    meta: dict
    config: dict
    weights: bytes
    onnx: dict[str, bytes] = field(default_factory=dict)
    members: dict[str, bytes] = field(default_factory=dict, repr=False)  # raw bytes by member name

    @property
    def info(self) -> dict:
        return self.meta[SECTION]

    def state_dict(self) -> dict[str, torch.Tensor]:
        try:
            state = torch.load(io.BytesIO(self.weights), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise PackedModelError(f"{self.path}: {WEIGHTS} is not a torch state_dict ({exc})") from exc
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise PackedModelError(f"{self.path}: {WEIGHTS} is not a state_dict (name -> tensor)")
        return state


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- writing -------------------------------------------------------------------------------------------
def write_pack(
    path: str | os.PathLike, meta: dict, config: dict, weights: bytes, onnx: dict[str, bytes]
) -> None:
    """Write the archive atomically; fills ``meta['tfgpl']['files']`` with each member's sha256."""
    from tfgridnet_pl.fileio import atomic_path

    members = {CONFIG: yaml.safe_dump(config, sort_keys=False).encode(), WEIGHTS: weights}
    for precision, data in sorted(onnx.items()):
        members[ONNX[precision]] = data
    meta = dict(meta)
    meta["files"] = {"model_file": WEIGHTS}
    meta["yaml_files"] = {"train_config": CONFIG}
    meta[SECTION] = {**meta[SECTION], "files": {name: sha256(data) for name, data in members.items()}}
    members = {META: yaml.safe_dump(meta, sort_keys=False).encode(), **members}
    mtime = int(meta.get("timestamp", 0))
    with atomic_path(path, suffix=".tar.gz") as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))


# -- reading -------------------------------------------------------------------------------------------
def read_pack(path: str | os.PathLike, limits: Limits | None = None) -> Pack:
    """Load and verify a packed model; raises :class:`PackedModelError` saying what is wrong.

    The archive is not trusted: sizes, member kinds and names are checked on the headers before
    anything is read (:mod:`tfgridnet_pl.deploy.archive`, ``limits``), every member's sha256 is
    checked against meta.yaml, and the YAML members must have the expected structure."""
    path = Path(path)
    members, digests = read_members(path, {META, CONFIG, WEIGHTS, *ONNX.values()}, limits or Limits())
    if META not in members:
        raise PackedModelError(
            f"{path}: no {META}: not a packed model (make one with pyscripts/pack_model.py)"
        )
    meta = _load_yaml(path, META, members[META])
    info = meta.get(SECTION) if isinstance(meta, dict) else None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise PackedModelError(
            f"{path}: a foreign archive (its {META} has no '{SECTION}' section of format {FORMAT}); "
            "repack the experiment with pyscripts/pack_model.py"
        )
    _check_info(path, info)
    for name, digest in info["files"].items():
        if name not in digests:
            raise PackedModelError(f"{path}: {name} is listed in {META} but missing from the archive")
        if digests[name] != digest:
            raise PackedModelError(
                f"{path}: {name} does not match its sha256 in {META} (corrupt or modified)"
            )
    config = _load_yaml(path, CONFIG, members[CONFIG])
    if not isinstance(config, dict) or not isinstance(config.get("separator"), str):
        raise PackedModelError(f"{path}: {CONFIG} is not an ESPnet enhancement config (no 'separator' name)")
    onnx = {p: members[name] for p, name in ONNX.items() if name in info["files"]}
    return Pack(path, meta, config, members[WEIGHTS], onnx, members)


def _load_yaml(path: Path, name: str, data: bytes):
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise PackedModelError(f"{path}: {name} is not valid YAML ({exc})") from exc


def _check_info(path: Path, info: dict) -> None:
    """The types and values of meta.yaml's section that the code relies on."""
    version = info.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise PackedModelError(f"{path}: {META}: format_version {version!r} is not a number")
    if version > FORMAT_VERSION:
        raise PackedModelError(
            f"{path}: format version {version} is newer than this code reads ({FORMAT_VERSION})"
        )
    files = info.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise PackedModelError(f"{path}: {META}: 'files' must map member names to sha256 digests")
    for name in (CONFIG, WEIGHTS):
        if name not in files:
            raise PackedModelError(f"{path}: {name} is missing from the archive")
    fs = info.get("fs", 16000)
    if not isinstance(fs, int) or isinstance(fs, bool) or not 1000 <= fs <= 768000:
        raise PackedModelError(f"{path}: {META}: fs {fs!r} is not a sampling rate (1000 to 768000 Hz)")


def unpack(archive: str | os.PathLike, dest: str | os.PathLike, limits: Limits | None = None) -> dict:
    """Verify ``archive`` (:func:`read_pack`) and extract its members under ``dest``, safely
    (:func:`tfgridnet_pl.deploy.archive.extract`). The answer has the keys of ESPnet's ``unpack``
    (``train_config``, ``model_file``), plus ``meta`` and ``onnx_<precision>`` for the graphs.

    Use this, not ESPnet's ``unpack``: that one extracts ``../`` names and symbolic links wherever
    they point."""
    pack = read_pack(archive, limits)
    names = [META, CONFIG, WEIGHTS, *(ONNX[p] for p in sorted(pack.onnx))]
    written = extract({name: pack.members[name] for name in names}, dest)
    answer = {"meta": written[META], "train_config": written[CONFIG], "model_file": written[WEIGHTS]}
    answer.update({f"onnx_{p}": written[ONNX[p]] for p in sorted(pack.onnx)})
    return {key: str(value) for key, value in answer.items()}


# -- building the torch model ---------------------------------------------------------------------------
def build_model(config: dict, state_dict: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The ESPnet enhancement model of ``config`` (an experiment's config.yaml), in eval mode.

    Keys the config leaves out take ESPnet's defaults. ``state_dict`` is loaded strictly.
    """
    from espnet2.tasks.enh import EnhancementTask

    import tfgridnet_pl.register  # noqa: F401  (our separator and losses, for the config's names)

    args = EnhancementTask.get_parser().parse_args([])
    vars(args).update(config)
    model = EnhancementTask.build_model(args)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


def strip_training_only(model: torch.nn.Module, config: dict) -> tuple[dict, dict[str, torch.Tensor], int]:
    """(config, state_dict) of the inference graph: PL's intermediate heads dropped; also their #params."""
    config = yaml.safe_load(yaml.safe_dump(config))  # deep copy
    state = model.state_dict()
    separator = model.separator
    if not getattr(separator, "intermediate_heads", False):
        return config, state, 0
    dropped = [k for k in state if k.startswith("separator.heads.")]
    n_dropped = sum(state[k].numel() for k in dropped)
    for key in dropped:
        del state[key]
    config.setdefault("separator_conf", {})["intermediate_heads"] = False
    return config, state, n_dropped


# -- running --------------------------------------------------------------------------------------------
def native_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels here (AVX512-BF16 or AMX); otherwise bf16 is emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Enhancer:
    """Run a packed model on waveforms: :meth:`__call__` ([C, N] float32 at :attr:`fs`) -> [C, N].

    Args:
        pack: a loaded :class:`Pack` (or a path to one).
        backend: ``torch`` or ``onnx`` (onnxruntime; needs the graph in the pack or ``onnx_file``).
        precision: ``fp32``; ``int8`` (dynamic quantization: torch ``quantize_dynamic`` of the LSTM and
            linear layers, or the pack's int8 graph); ``bf16`` (torch autocast; refused on CPUs
            without native bf16, where it is emulated and ~50x slower, unless ``allow_emulated_bf16``).
        threads: intra-op threads (torch.set_num_threads or onnxruntime's); None leaves the default.
        onnx_file: an ONNX core exported from the same weights (``export_onnx.py``), instead of the pack's.
    """

    def __init__(
        self,
        pack: Pack | str | os.PathLike,
        backend: str = "torch",
        precision: str = "fp32",
        threads: int | None = None,
        onnx_file: str | os.PathLike | None = None,
        allow_emulated_bf16: bool = False,
        limits: Limits | None = None,
    ):
        self.limits = limits or Limits()
        self.pack = pack if isinstance(pack, Pack) else read_pack(pack, self.limits)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.backend, self.precision = backend, precision
        self.fs = int(self.pack.info.get("fs", 16000))
        if backend == "onnx":
            self._init_onnx(precision, threads, onnx_file)
        else:
            if threads:
                torch.set_num_threads(int(threads))
            if precision == "bf16" and not (native_bf16() or allow_emulated_bf16):
                raise ValueError(
                    "--precision bf16: this CPU has no native bf16 arithmetic (AVX512-BF16 or AMX), so bf16 "
                    "would be emulated (~50x slower than fp32) and oneDNN's LSTM refuses it; use fp32 or int8"
                )
            self._init_torch(precision)
        if self.glue.n_srcs != 1:
            raise PackedModelError(
                f"{self.pack.path}: the model has {self.glue.n_srcs} outputs; enhance needs 1"
            )

    def _init_torch(self, precision: str) -> None:
        """The model of the pack's config with its weights; PackedModelError naming what does not match."""
        from tfgridnet_pl.deploy.glue import SpectralGlue
        from tfgridnet_pl.deploy.onnx_core import GridNetCore

        state = self.pack.state_dict()
        separator_name = self.pack.config.get("separator")
        try:
            separator = build_model(self.pack.config, state).separator
        except Exception as exc:
            raise PackedModelError(
                f"{self.pack.path}: its {CONFIG} and {WEIGHTS} do not make a model "
                f"(separator {separator_name!r}): {_short(exc)}"
            ) from exc
        try:
            self.glue = SpectralGlue.from_separator(separator)
            core = GridNetCore(separator).eval()
        except Exception as exc:
            raise PackedModelError(
                f"{self.pack.path}: separator {separator_name!r} is not a TF-GridNet model, which enhance "
                f"runs ({_short(exc)})"
            ) from exc
        if precision == "int8":
            core = torch.ao.quantization.quantize_dynamic(
                core, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8
            )
        self.core = core

    def _onnx_source(self, precision: str, onnx_file) -> tuple[bytes, str]:
        if onnx_file is not None:
            size = regular_file(onnx_file, "--onnx-file").st_size
            if size > self.limits.member_bytes:
                raise PackedModelError(
                    f"{onnx_file}: {size / 2**20:.1f} MiB, over the {self.limits.member_bytes / 2**20:g} MiB "
                    "limit for a model file"
                )
            return Path(onnx_file).read_bytes(), str(onnx_file)
        if precision in self.pack.onnx:
            return self.pack.onnx[precision], f"{self.pack.path}:{ONNX[precision]}"
        raise PackedModelError(
            f"{self.pack.path} has no {precision} ONNX graph; repack with pyscripts/pack_model.py "
            "--onnx true or pass --onnx-file from pyscripts/export_onnx.py"
        )

    def _init_onnx(self, precision: str, threads: int | None, onnx_file) -> None:
        from tfgridnet_pl.deploy.glue import SpectralGlue
        from tfgridnet_pl.deploy.onnx_core import OrtCore

        if precision == "bf16":
            raise ValueError(
                "--precision bf16 is torch only (onnxruntime's CPU provider has no bf16 kernels)"
            )
        source, where = self._onnx_source(precision, onnx_file)
        try:
            core = OrtCore(source, threads=threads)
        except Exception as exc:
            raise PackedModelError(f"{where}: onnxruntime cannot load it ({_short(exc)})") from exc
        meta = core.metadata
        expected = self.pack.info["files"][WEIGHTS]
        if meta.get("weights_sha256") != expected:
            raise PackedModelError(
                f"{where} was exported from other weights (weights_sha256 {meta.get('weights_sha256')}, "
                f"the pack's {WEIGHTS} has {expected})"
            )
        if onnx_file is not None and meta.get("precision", "fp32") != precision:
            raise PackedModelError(f"{where} is a {meta.get('precision', 'fp32')} graph, not {precision}")
        try:
            self.glue = SpectralGlue(
                int(meta["n_fft"]), int(meta["hop"]), meta["window"], int(meta["n_srcs"])
            )
        except (KeyError, ValueError) as exc:
            raise PackedModelError(
                f"{where}: its metadata has no usable STFT settings ({_short(exc)})"
            ) from exc
        self.core = core

    def __call__(self, wave: np.ndarray, std: np.ndarray | None = None) -> np.ndarray:
        """Enhance ``wave`` [C, N], each row independently; ``std`` [C]: scale by these, not each row's std.

        Rows that are digitally silent (std 0) come back as zeros.
        """
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 2:
            raise ValueError(f"expected [channels, samples], got shape {wave.shape}")
        n = wave.shape[1]
        x = torch.from_numpy(wave)
        std_t = torch.std(x, dim=1) if std is None else torch.as_tensor(np.asarray(std, dtype=np.float32))
        silent = ~(std_t > 0) | ~torch.isfinite(std_t)
        std_t = torch.where(silent, torch.ones_like(std_t), std_t)
        n_pad = max(n, self.glue.n_fft)  # the reflect-padded STFT needs more than n_fft / 2 samples
        if n_pad > n:
            x = torch.nn.functional.pad(x, (0, n_pad - n))
        with torch.inference_mode():
            feats, _ = self.glue.analyze(x, std_t)
            out = self._core(feats)
            y = self.glue.synthesize(out, n_pad, std_t)[:, 0, :n]
            y = torch.where(silent[:, None], torch.zeros_like(y), y)
        return y.numpy()

    def _core(self, feats: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch" and self.precision == "bf16":
            with (
                torch.autocast("cpu", dtype=torch.bfloat16),
                torch.backends.mkldnn.flags(enabled=native_bf16()),
            ):
                return self.core(feats).float()
        return self.core(feats)


def _short(exc: BaseException, limit: int = 600) -> str:
    """An exception as one line of at most ``limit`` characters (state-dict mismatches list every key)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(pack: Pack) -> str:
    """One line about a pack for logs."""
    info = pack.info
    graphs = ",".join(sorted(pack.onnx)) or "none"
    return (
        f"{pack.path}: tag {info.get('tag')}, {info.get('params_inference', 0) / 1e6:.3f} M params, "
        f"{info.get('fs')} Hz, ESPnet {pack.meta.get('espnet')}, torch {pack.meta.get('torch')}, "
        f"commit {str(info.get('git_commit'))[:10]}, ONNX graphs: {graphs}"
    )
