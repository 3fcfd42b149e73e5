"""Offline DNSMOS: P.835 (SIG, BAK, OVRL) and P.808 MOS with the ONNX models that ``speechmos`` ships.

The scores follow Microsoft's reference script (``DNSMOS/dnsmos_local.py`` in microsoft/DNS-Challenge):

* audio at 16 kHz; a clip shorter than one window (9.01 s) is repeated (doubled) until it is not;
* windows of 9.01 s (144160 samples) every 1 s; the number of windows is
  ``int(floor(len / 16000) - 9.01) + 1`` and window ``i`` is
  ``audio[int(i * 16000):int((i + 9.01) * 16000)]``.
  The float arithmetic makes some windows one sample short (i = 7..23, 119..122, ...); the reference skips
  those and so do we, so the per-clip means match it;
* P.835: the raw SIG/BAK/OVRL outputs of ``sig_bak_ovr.onnx`` go through Microsoft's polynomial
  calibration (``P835_POLY``) and are averaged over windows;
* P.808: ``model_v8.onnx`` on a 120-band log-mel spectrogram of the window minus its last 160 samples
  (n_fft 321, hop 160, ``(power_to_db(ref=max) + 40) / 40``), averaged over windows.

Speed. Consecutive windows overlap by 8.01 s, and the costly part of the P.835 model (the STFT, log
power and four 3x3 convolutions before the first 2x2 pooling, about 97 % of its time) is
shift-equivariant in frames (160-sample hop; a window starts every 100 frames). With
``shared_frontend=True`` (the default when the ``onnx`` package is importable) the model is split at that
pooling (``_split_primary``): the front part runs once over the whole clip in chunks with a 4-frame
halo, the 2 pooled frames at each window edge (where the window's own zero padding matters) are
recomputed from 8-frame edge chunks, and the small head runs on each window's assembled features. A
clip shorter than a window is tiled, hence periodic: when its length is a multiple of 320 samples, only
one period of front-end features is computed, and windows that start a whole number of periods apart
(hence hold the same audio) are scored once. A clip whose sharing would save nothing (a single window
of an untiled clip) runs the whole model. The result equals the per-window computation up to float
rounding (see ``tests/test_dnsmos.py``); ``shared_frontend=False`` runs the untouched model per window.
One onnxruntime session per model and process, windows batched, ``num_threads`` intra-op threads.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000
WINDOW_SECONDS = 9.01
WINDOW_SAMPLES = int(WINDOW_SECONDS * SR)  # 144160
HOP_SAMPLES = SR
FRAME_LEN = 320  # the P.835 model's STFT frame and hop, in samples
FRAME_HOP = 160
FRAMES_PER_WINDOW = 900
FRAMES_PER_HOP = HOP_SAMPLES // FRAME_HOP  # 100
HALO = 4  # 3x3 convolutions before the first pooling: each output frame sees +-4 input frames
POOLED_EDGE = HALO // 2  # pooled frames at each window edge that depend on the window's zero padding
METRICS = ("P808", "SIG", "BAK", "OVRL")

# Microsoft's calibration of the raw P.835 outputs (non-personalised model), highest degree first,
# as published in DNSMOS/dnsmos_local.py.
P835_POLY = {
    "SIG": (-0.08397278, 1.22083953, 0.0052439),
    "BAK": (-0.13166888, 1.60915514, -0.39604546),
    "OVRL": (-0.06766283, 1.11546468, 0.04602535),
}

# Tensor names inside sig_bak_ovr.onnx where the model is split (checked in DNSMOS.__init__).
_FRAMES_TENSOR = "mos_estimator_logpow/concat:0"
_POOLED_TENSOR = "mos_estimator_logpow/conv2d_3/Relu:0_pooling0"

log = logging.getLogger(__name__)


def model_dir() -> Path:
    """Folder of the DNSMOS ONNX files inside the installed ``speechmos`` package (no download)."""
    import speechmos

    return Path(speechmos.__file__).resolve().parent / "dnsmos_models"


def tile_short(audio: np.ndarray) -> np.ndarray:
    """Repeat a clip shorter than one window by doubling it, as the reference script does."""
    if len(audio) == 0:
        raise ValueError("empty audio")
    while len(audio) < WINDOW_SAMPLES:
        audio = np.concatenate([audio, audio])
    return audio


def window_starts(n_samples: int) -> list[int]:
    """Start samples of the windows the reference scores for a (tiled) clip of ``n_samples``."""
    num_hops = int(np.floor(n_samples / SR) - WINDOW_SECONDS) + 1
    starts = []
    for idx in range(num_hops):
        start, end = int(idx * HOP_SAMPLES), int((idx + WINDOW_SECONDS) * HOP_SAMPLES)
        if min(end, n_samples) - start >= WINDOW_SAMPLES:  # the reference skips short windows
            starts.append(start)
    return starts


def calibrate(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Apply ``P835_POLY`` to raw model outputs of shape (windows, 3) in SIG, BAK, OVRL order."""
    return {name: np.polyval(P835_POLY[name], raw[:, i]) for i, name in enumerate(("SIG", "BAK", "OVRL"))}


def p808_features(segment: np.ndarray) -> np.ndarray:
    """Log-mel input of the P.808 model for one window: (900, 120) float32."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(segment[:-FRAME_HOP], dtype=np.float64),
        sr=SR,
        n_fft=FRAME_LEN + 1,
        hop_length=FRAME_HOP,
        n_mels=120,
    )
    return ((librosa.power_to_db(mel, ref=np.max) + 40) / 40).T.astype(np.float32)


def frames_of(audio: np.ndarray, first: int, count: int) -> np.ndarray:
    """STFT frames ``first .. first+count-1`` of the P.835 model (320 samples, hop 160): (count, 320)."""
    view = np.lib.stride_tricks.sliding_window_view(audio, FRAME_LEN)[::FRAME_HOP]
    return view[first : first + count]


@dataclass
class _Sessions:
    primary: object  # the whole P.835 model
    p808: object
    front: object | None
    head: object | None


class DNSMOS:
    """DNSMOS scorer; build one per process and call it on 1-D float arrays at 16 kHz.

    ``primary_model``/``p808_model``: the ONNX files (default: speechmos's ``sig_bak_ovr.onnx`` and
    ``model_v8.onnx``); ``num_threads``: onnxruntime intra-op threads; ``shared_frontend``: split the
    P.835 model and share its front end between windows (default: when ``onnx`` is importable);
    ``batch_windows``: windows per onnxruntime call; ``chunk_frames``: frames per front-end chunk
    (memory: about 0.25 MB per frame and chunk, two chunks per call).
    """

    def __init__(
        self,
        primary_model: str | Path | None = None,
        p808_model: str | Path | None = None,
        num_threads: int = 1,
        shared_frontend: bool | None = None,
        batch_windows: int = 8,
        chunk_frames: int = 1000,
    ):
        import onnxruntime as ort

        primary_model = Path(primary_model or model_dir() / "sig_bak_ovr.onnx")
        p808_model = Path(p808_model or model_dir() / "model_v8.onnx")
        for path in (primary_model, p808_model):
            if not path.is_file():
                raise FileNotFoundError(f"DNSMOS model not found: {path} (is speechmos installed?)")
        if chunk_frames % 2 or chunk_frames < 2 * HALO:
            raise ValueError(f"chunk_frames must be even and >= {2 * HALO}, got {chunk_frames}")
        self.batch_windows = max(1, batch_windows)
        self.chunk_frames = chunk_frames
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3

        def session(model):
            return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

        front = head = None
        if shared_frontend is None:
            try:
                import onnx  # noqa: F401

                shared_frontend = True
            except ImportError:
                log.info("onnx is not installed: DNSMOS runs the P.835 model once per window (slower)")
                shared_frontend = False
        if shared_frontend:
            front_proto, head_proto = _split_primary(primary_model)
            front, head = session(front_proto), session(head_proto)
        self.shared_frontend = bool(shared_frontend)
        try:  # the mel spectrogram's small matrix products are slower with several BLAS threads
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        except ImportError:
            self._blas = None
        self._s = _Sessions(session(str(primary_model)), session(str(p808_model)), front, head)

    # -- public API ---------------------------------------------------------------------------------------
    def __call__(self, audio: np.ndarray, fs: int = SR) -> dict[str, float]:
        """Scores of one clip: ``{"P808", "SIG", "BAK", "OVRL"}`` (floats, MOS scale 1-5)."""
        if fs != SR:
            raise ValueError(f"DNSMOS needs {SR} Hz audio, got {fs} Hz")
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise ValueError(f"DNSMOS expects mono 1-D audio, got shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise ValueError("audio contains NaN or Inf")
        with self._blas.limit(limits=1, user_api="blas") if self._blas else contextlib.nullcontext():
            return self._score(audio)

    def _score(self, audio: np.ndarray) -> dict[str, float]:
        n = len(audio)
        audio = tile_short(audio.astype(np.float64, copy=False))
        # A tiled clip is periodic; with a whole, even number of frames per period the front-end
        # features are too, and only one period of them is computed.
        tiled = len(audio) > n
        period = n // FRAME_HOP if tiled and n % (2 * FRAME_HOP) == 0 else None
        starts = window_starts(len(audio))
        # Windows of a tiled clip whose starts differ by a multiple of its length hold the same audio:
        # score each once (at the earliest such start) and count it as often as the reference does.
        if tiled:
            starts = [s % n for s in starts]
        unique = sorted(set(starts))
        index = [unique.index(s) for s in starts]
        raw = self._primary_raw(audio.astype(np.float32), unique, period)[index]
        p808 = self._p808(audio, unique)[index]
        scores = {name: float(np.mean(v)) for name, v in calibrate(raw).items()}
        return {"P808": float(np.mean(p808)), **scores}

    # -- P.835 ----------------------------------------------------------------------------------------------
    def _primary_raw(self, audio: np.ndarray, starts: list[int], period: int | None) -> np.ndarray:
        if self.shared_frontend:
            # front-end frames computed with sharing (interior, or one period of it, plus edge chunks)
            interior = starts[-1] // FRAME_HOP - starts[0] // FRAME_HOP + FRAMES_PER_WINDOW - 2 * HALO
            shared = min(interior, period or interior) + 4 * HALO * len(starts)
            if shared < FRAMES_PER_WINDOW * len(starts):  # e.g. not for a single window of an untiled clip
                pooled = self._pooled_windows(audio, starts, period)
                return self._batched(self._s.head, pooled, _POOLED_TENSOR)
        return self._batched(self._s.primary, [audio[s : s + WINDOW_SAMPLES] for s in starts], "input_1")

    def _pooled_windows(self, audio: np.ndarray, starts: list[int], period: int | None) -> list[np.ndarray]:
        """Pooled front-end features of every window, (32, 450, 80) each, from one pass over the clip."""
        first = [s // FRAME_HOP for s in starts]  # window start in frames (a multiple of 100)
        # Interior frames [f + HALO, f + 900 - HALO) of all windows, computed once for the clip.
        lo, hi = first[0] + HALO, first[-1] + FRAMES_PER_WINDOW - HALO
        if period and hi - lo > period:  # features of frame f equal those of f - period (f - period >= lo)
            base = self._front_range(audio, lo, lo + period)
            interior = np.take(base, np.arange((hi - lo) // 2) % (period // 2), axis=1)
        else:
            interior = self._front_range(audio, lo, hi)  # pooled frames for frames [lo, hi)
        # Edge chunks: 2*HALO frames at each end of each window, with the window's own zero padding.
        edges = []
        for f in first:
            edges.append(frames_of(audio, f, 2 * HALO))
            edges.append(frames_of(audio, f + FRAMES_PER_WINDOW - 2 * HALO, 2 * HALO))
        edge_out = self._run_front(np.stack(edges))
        out = []
        for i, f in enumerate(first):
            a = (f + HALO - lo) // 2
            middle = interior[:, a : a + FRAMES_PER_WINDOW // 2 - 2 * POOLED_EDGE]
            left = edge_out[2 * i][:, :POOLED_EDGE]
            right = edge_out[2 * i + 1][:, -POOLED_EDGE:]
            out.append(np.concatenate([left, middle, right], axis=1))
        return out

    def _front_range(self, audio: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Pooled features of frames [lo, hi) (lo, hi even), from chunks with a HALO-frame margin."""
        total = hi - lo
        size = min(self.chunk_frames, total)
        begins = list(range(lo, hi - size + 1, size))
        if begins[-1] + size < hi:  # last chunk aligned to the end, overlapping the previous one
            begins.append(hi - size)
        chunks = [frames_of(audio, b - HALO, size + 2 * HALO) for b in begins]
        pooled = []
        for i in range(0, len(chunks), 2):
            res = self._run_front(np.stack(chunks[i : i + 2]))
            pooled.extend(r[:, HALO // 2 : HALO // 2 + size // 2] for r in res)
        out = np.empty((pooled[0].shape[0], total // 2, pooled[0].shape[2]), dtype=np.float32)
        for b, p in zip(begins, pooled, strict=True):
            out[:, (b - lo) // 2 : (b - lo) // 2 + size // 2] = p
        return out

    def _run_front(self, frames: np.ndarray) -> np.ndarray:
        return self._s.front.run(None, {_FRAMES_TENSOR: frames.astype(np.float32, copy=False)})[0]

    # -- P.808 ----------------------------------------------------------------------------------------------
    def _p808(self, audio: np.ndarray, starts: list[int]) -> np.ndarray:
        feats = [p808_features(audio[s : s + WINDOW_SAMPLES]) for s in starts]
        return self._batched(self._s.p808, feats, "input_1")[:, 0]

    def _batched(self, sess, items: list[np.ndarray], name: str) -> np.ndarray:
        outs = []
        for i in range(0, len(items), self.batch_windows):
            batch = np.stack(items[i : i + self.batch_windows]).astype(np.float32, copy=False)
            outs.append(sess.run(None, {name: batch})[0])
        return np.concatenate(outs)


def _split_primary(primary_model: Path) -> tuple[bytes, bytes]:
    """Split sig_bak_ovr.onnx at the first pooling into a front part (frames in) and a head (pooled in).

    The graph is a plain chain (checked): the front part is the nodes after the framing ``Concat`` up to
    the first ``MaxPool``, with a free frame axis; the head is the rest, with the model's fixed window size.
    """
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(primary_model))
    nodes = list(model.graph.node)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    missing = {_FRAMES_TENSOR, _POOLED_TENSOR} - producer.keys()
    if missing:
        raise ValueError(f"{primary_model}: not the expected DNSMOS P.835 graph (no {sorted(missing)})")
    cut_in, cut_out = producer[_FRAMES_TENSOR] + 1, producer[_POOLED_TENSOR] + 1
    inits = {t.name: t for t in model.graph.initializer}

    def build(part, inp, inp_shape, out, out_shape):
        used = {i for n in part for i in n.input}
        outside = used - inits.keys() - {o for n in part for o in n.output} - {inp}
        if outside:
            raise ValueError(f"{primary_model}: cannot split the graph, part needs {sorted(outside)}")
        graph = helper.make_graph(
            part,
            "dnsmos_part",
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, inp_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            [inits[name] for name in sorted(used & inits.keys())],
        )
        proto = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
        return proto.SerializeToString()

    front = build(
        nodes[cut_in:cut_out],
        _FRAMES_TENSOR,
        ["batch", "frames", FRAME_LEN],
        _POOLED_TENSOR,
        ["batch", 32, "pooled", 80],
    )
    head = build(
        nodes[cut_out:],
        _POOLED_TENSOR,
        ["batch", 32, FRAMES_PER_WINDOW // 2, 80],
        model.graph.output[0].name,
        ["batch", 3],
    )
    return front, head
