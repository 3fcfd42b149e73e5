"""The real-valued core of TF-GridNet, exportable to ONNX, and the STFT / iSTFT glue around it.

``TFGridNetV2.forward`` (and so ``TFGridNetPL`` in eval mode) is, for one-channel input ``y`` [B, N]::

    s    = std(y)                                   # per utterance, unbiased (torch.std)
    Y    = STFT(y / s)                              # complex [B, T, F], centred, reflect-padded
    out  = deconv(blocks(conv([Re Y, Im Y])))       # real [B, 2 * n_srcs, T, F]   <- the core
                                                    # (output: mask: out = Y * (1 + out), complex)
                                                    # (mix_back b: out = (1 - b) * out + b * Y)
    x_j  = iSTFT(out[2j] + i out[2j+1]) * s         # [B, N] per source j

The whole separator does not export (complex STFT; ``make_pad_mask`` on the lengths is
data-dependent), so the graph is the core only. :class:`SpectralGlue` (``glue.py``) does the rest in
torch, with the same calls ESPnet's ``Stft`` makes, so that ``glue + core`` equals the separator
(checked in ``tests/test_onnx_export.py``).

:class:`GridNetCore` shares the separator's parameters. With ``exportable=True`` its blocks are
:class:`ExportableBlock`: ``GridNetV2Block.forward`` rewritten without ``F.unfold``, without
``math.ceil`` on the frame count, and with each bidirectional LSTM as one opaque op
(``tfgridnet_pl::blstm``, translated to ONNX's ``LSTM``). ``torch.export`` otherwise decomposes
``nn.LSTM`` into a Python loop over the (symbolic) sequence, which either pins the frame count to
the example's (wrong output at other lengths) or, for ESPnet's own block, emits hundreds of guards
(``(1 + ceil(T)) % 51 <= k`` ...): that is what made the dynamo export of the paper-size model take
~7 minutes. The rewrite computes the same numbers (``emb_hs == 1`` or ``emb_ks == emb_hs``, the
layouts ESPnet's block supports) and exports in seconds.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfgridnet_pl.deploy.glue import SpectralGlue
from tfgridnet_pl.model.output import apply_output

OPSET = 18
INPUT_NAME = "spec"
OUTPUT_NAME = "est"


_TORCH_TO_ONNX_GATES = (0, 3, 1, 2)  # torch stacks gates i, f, g, o; ONNX's LSTM wants i, o, f, c


def _onnx_gates(w: torch.Tensor) -> torch.Tensor:
    return torch.cat([w.chunk(4, dim=0)[k] for k in _TORCH_TO_ONNX_GATES], dim=0)


def _torch_gates(w: torch.Tensor) -> torch.Tensor:
    i, o, f, c = w.chunk(4, dim=0)
    return torch.cat([i, f, c, o], dim=0)


def onnx_lstm_weights(rnn: nn.LSTM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ONNX ``LSTM`` inputs (W [2, 4H, I], R [2, 4H, H], B [2, 8H]) of a 1-layer bidirectional LSTM."""
    if not (rnn.bidirectional and rnn.bias and rnn.num_layers == 1 and not rnn.proj_size):
        raise ValueError(f"ExportableBlock needs 1-layer bidirectional LSTMs with bias, got {rnn}")
    with torch.no_grad():
        w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r = (
            t.detach().float() for t in rnn._flat_weights
        )
        w = torch.stack([_onnx_gates(w_ih), _onnx_gates(w_ih_r)])
        r = torch.stack([_onnx_gates(w_hh), _onnx_gates(w_hh_r)])
        b = torch.stack(
            [
                torch.cat([_onnx_gates(b_ih), _onnx_gates(b_hh)]),
                torch.cat([_onnx_gates(b_ih_r), _onnx_gates(b_hh_r)]),
            ]
        )
    return w.contiguous(), r.contiguous(), b.contiguous()


@torch.library.custom_op("tfgridnet_pl::blstm", mutates_args=())
def blstm(x: torch.Tensor, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One-layer bidirectional time-major LSTM from zero state, weights in ONNX layout:
    [L, N, I] -> [L, N, 2H] (forward then backward features, as torch concatenates them)."""
    hidden = r.shape[2]
    h0 = x.new_zeros(2, x.shape[1], hidden)
    weights = []
    for d in range(2):  # forward, backward
        weights += [_torch_gates(w[d]), _torch_gates(r[d])]
        weights += [_torch_gates(b[d, : 4 * hidden]), _torch_gates(b[d, 4 * hidden :])]
    return torch.lstm(x, (h0, h0), weights, True, 1, 0.0, False, True, False)[0]


@blstm.register_fake
def _blstm_fake(x, w, r, b):
    return x.new_empty(x.shape[0], x.shape[1], 2 * r.shape[2])


def _blstm_onnx(x, w, r, b):
    """ONNX translation of ``tfgridnet_pl::blstm``: one ``LSTM`` node."""
    from onnxscript import opset18 as op

    y, _, _ = op.LSTM(x, w, r, b, direction="bidirectional", hidden_size=r.shape[2])
    # y: [L, 2, N, H] -> [L, N, 2, H] -> [L, N, 2H]
    return op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), [0, 0, -1])


class ExportableBlock(nn.Module):
    """``GridNetV2Block.forward`` rewritten for export and speed, with the ESPnet block's parameters.

    The intra- and inter-frame sequences are kept time-major (the sequence axis first), so the LSTMs
    need no transposes; the unfold is a concatenation of shifted slices; the ``ConvTranspose1d``
    after each LSTM (``emb_ks > emb_hs``) is one matrix product followed by ``emb_ks`` shifted adds,
    and the ``Linear`` (``emb_ks == emb_hs``) a matrix product. Same numbers as ESPnet's block.
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        if block.emb_hs != 1 and block.emb_ks != block.emb_hs:
            raise ValueError(
                f"ExportableBlock supports emb_hs == 1 or emb_ks == emb_hs, got emb_ks {block.emb_ks}, "
                f"emb_hs {block.emb_hs}"
            )
        self.block = block
        self.ks, self.hs = int(block.emb_ks), int(block.emb_hs)
        # Snapshots in export layout (buffers: they become the graph's initializers).
        for name in ("intra", "inter"):
            for key, value in zip("wrb", onnx_lstm_weights(getattr(block, f"{name}_rnn")), strict=True):
                self.register_buffer(f"{name}_{key}", value, persistent=False)
            weight, bias = self._projection(getattr(block, f"{name}_linear"))
            self.register_buffer(f"{name}_proj", weight, persistent=False)
            self.register_buffer(f"{name}_bias", bias, persistent=False)

    def _projection(self, linear: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """[2H, ks * C] matrix and [C] (deconv) or [ks * C] (linear) bias of the layer after an LSTM."""
        with torch.no_grad():
            if isinstance(linear, nn.Linear):  # ks == hs: [ks*C, 2H] -> [2H, ks*C], output index i*C + c
                return linear.weight.detach().t().contiguous(), linear.bias.detach().clone()
            # ConvTranspose1d weight [2H, C, ks] -> [2H, ks, C] -> [2H, ks*C]: column i*C + c is tap i
            weight = linear.weight.detach().permute(0, 2, 1).reshape(linear.weight.shape[0], -1)
            return weight.contiguous(), linear.bias.detach().clone()

    def _pads(self, length):
        """(left, right) padding of an axis of ``length`` as ``GridNetV2Block`` computes it."""
        if self.hs == 1:  # olp = ks - 1 both sides: ceil((L + 2 olp - ks) / 1) + ks = L + 2 olp
            return self.ks - 1, self.ks - 1
        return 0, (length + self.ks - 1) // self.ks * self.ks - length  # ks == hs: to a multiple of ks

    def _sequence(self, seq: torch.Tensor, name: str) -> torch.Tensor:
        """[L, N, C] -> [L, N, C]: the block's unfold -> BLSTM -> deconv (or linear) along L."""
        length, n, channels = seq.shape
        lstm = (getattr(self, f"{name}_w"), getattr(self, f"{name}_r"), getattr(self, f"{name}_b"))
        proj, bias = getattr(self, f"{name}_proj"), getattr(self, f"{name}_bias")
        if self.ks == self.hs:  # groups of ks steps: [L/ks, ks, N, C] -> [L/ks, N, ks*C] (index i*C + c)
            groups = seq.reshape(length // self.ks, self.ks, n, channels).transpose(1, 2)
            out = blstm(groups.reshape(length // self.ks, n, self.ks * channels), *lstm)
            out = torch.matmul(out, proj) + bias  # [L/ks, N, ks*C]
            out = out.reshape(length // self.ks, n, self.ks, channels).transpose(1, 2)
            return out.reshape(length, n, channels)
        width = length - self.ks + 1
        # F.unfold orders the unfolded features channel-major: index c * ks + i holds x[l + i, c].
        frames = torch.stack([seq[i : i + width] for i in range(self.ks)], dim=-1)  # [L', N, C, ks]
        out = blstm(frames.reshape(width, n, channels * self.ks), *lstm)  # [L', N, 2H]
        taps = torch.matmul(out, proj)  # [L', N, ks*C]; tap i of step l lands on step l + i
        result = F.pad(taps[..., :channels], (0, 0, 0, 0, 0, self.ks - 1))
        for i in range(1, self.ks):
            tap = taps[..., i * channels : (i + 1) * channels]
            result = result + F.pad(tap, (0, 0, 0, 0, i, self.ks - 1 - i))
        return result + bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        n_batch, channels, old_t, old_q = x.shape
        t_left, t_right = self._pads(old_t)
        q_left, q_right = self._pads(old_q)
        # [B, C, T, Q] -> [Q, B, T, C]: frequency-major for the intra-frame (over Q) LSTM
        x = F.pad(x.permute(3, 0, 2, 1), (0, 0, t_left, t_right, 0, 0, q_left, q_right))
        n_q, n_t = x.shape[0], x.shape[2]
        intra = self._sequence(b.intra_norm(x).reshape(n_q, n_batch * n_t, channels), "intra")
        intra = intra.reshape(n_q, n_batch, n_t, channels) + x
        intra = intra.permute(2, 1, 0, 3)  # [T, B, Q, C]: time-major for the inter-frame LSTM
        inter = self._sequence(b.inter_norm(intra).reshape(n_t, n_batch * n_q, channels), "inter")
        inter = inter.reshape(n_t, n_batch, n_q, channels) + intra
        inter = inter.permute(1, 3, 0, 2)[..., t_left : t_left + old_t, q_left : q_left + old_q]

        # Full-band self-attention over frames, as GridNetV2Block.forward.
        heads = b.n_head
        q = b["attn_norm_Q"](b["attn_conv_Q"](inter))  # [B, H, E, T, Q]
        k = b["attn_norm_K"](b["attn_conv_K"](inter))
        v = b["attn_norm_V"](b["attn_conv_V"](inter))
        q = q.reshape(n_batch * heads, q.shape[2], old_t, old_q).transpose(1, 2).flatten(start_dim=2)
        k = k.reshape(n_batch * heads, k.shape[2], old_t, old_q).transpose(2, 3)
        k = k.reshape(n_batch * heads, -1, old_t)  # [B', E*Q, T]
        v = v.reshape(n_batch * heads, v.shape[2], old_t, old_q).transpose(1, 2)  # [B', T, C', Q]
        v_shape = v.shape
        attn = torch.matmul(q, k) / (q.shape[-1] ** 0.5)
        attn = F.softmax(attn, dim=2)
        v = torch.matmul(attn, v.flatten(start_dim=2)).reshape(v_shape).transpose(1, 2)  # [B', C', T, Q]
        out = v.reshape(n_batch, heads * v_shape[2], old_t, old_q)
        return b["attn_concat_proj"](out) + inter


class GridNetCore(nn.Module):
    """``conv -> blocks -> deconv`` of a TFGridNetV2-family separator: [B, 2, T, F] -> [B, 2*S, T, F].

    ``exportable=False`` runs ESPnet's own blocks (the torch backend: the stock computation);
    ``exportable=True`` runs :class:`ExportableBlock` (same numbers, exports with a dynamic frame axis).
    """

    def __init__(self, separator: nn.Module, exportable: bool = False):
        super().__init__()
        self.conv = separator.conv
        blocks = separator.blocks
        self.blocks = nn.ModuleList(ExportableBlock(b) for b in blocks) if exportable else blocks
        self.deconv = separator.deconv
        self.output = getattr(separator, "output", "mapping")  # TFGridNetPL's separator_conf.output
        self.mix_back = getattr(separator, "mix_back", 0.0)  # and its separator_conf.mix_back
        self.n_srcs = separator.n_srcs

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.conv(spec)
        for block in self.blocks:
            x = block(x)
        return apply_output(self.output, self.deconv(x), spec, self.n_srcs, self.mix_back)


def export_core(
    separator: nn.Module, path: str | os.PathLike, example_frames: int = 63, metadata: dict | None = None
) -> dict:
    """Export the separator's core to ``path`` (one self-contained ONNX file, opset 18).

    The frame axis is dynamic (any length >= 2 frames); the frequency axis is fixed by the model.
    ``metadata`` (string values) goes into the model's metadata_props. Returns timing and size info.
    """
    separator = separator.eval()
    glue = SpectralGlue.from_separator(separator)
    core = GridNetCore(separator, exportable=True).eval()
    example = torch.randn(1, 2, example_frames, glue.n_freqs)
    frames = torch.export.Dim("frames", min=2, max=1_000_000)
    start = time.perf_counter()
    quiet = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript")]  # one INFO line per initializer
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        program = _dynamo_export(core, example, frames)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    export_s = time.perf_counter() - start
    model = program.model_proto
    return _save(model, path, glue, metadata, export_s)


def _dynamo_export(core: nn.Module, example: torch.Tensor, frames):
    """``torch.onnx.export`` (dynamo exporter), a dynamic frame axis and ``tfgridnet_pl::blstm`` as LSTM."""
    with torch.no_grad():
        return torch.onnx.export(
            core,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({2: frames},),
            custom_translation_table={torch.ops.tfgridnet_pl.blstm.default: _blstm_onnx},
            verbose=False,
        )


def _save(model, path, glue: SpectralGlue, metadata: dict | None, export_s: float) -> dict:
    """Write ``model`` atomically with the glue's settings and ``metadata`` in its metadata_props."""
    import onnx

    from tfgridnet_pl.fileio import atomic_path

    props = {
        "producer": "tfgridnet_pl.deploy.onnx_core",
        "n_fft": str(glue.n_fft),
        "hop": str(glue.hop),
        "window": glue.window_name,
        "n_srcs": str(glue.n_srcs),
        **{k: str(v) for k, v in (metadata or {}).items()},
    }
    onnx.helper.set_model_props(model, props)
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save_model(model, str(tmp))
    return {"export_seconds": export_s, "bytes": Path(path).stat().st_size, "nodes": len(model.graph.node)}


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike) -> dict:
    """Dynamic int8 quantization (weights int8, activations quantized per call) with onnxruntime.

    MatMul and LSTM become MatMulInteger / DynamicQuantizeLSTM; convolutions stay fp32
    (ConvInteger is slower than fp32 Conv in onnxruntime's CPU provider).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from tfgridnet_pl.fileio import atomic_path

    props = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    root = logging.getLogger()
    level = root.level
    with atomic_path(dst, suffix=".onnx") as tmp:
        root.setLevel(logging.WARNING)  # the quantizer logs every MatMul it leaves alone at INFO
        try:
            quantize_dynamic(
                str(src),
                str(tmp),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "LSTM", "Gemm"],
            )
        finally:
            root.setLevel(level)
        model = onnx.load(str(tmp))
        props["precision"] = "int8"
        onnx.helper.set_model_props(model, props)
        onnx.save_model(model, str(tmp))
    return {"bytes": Path(dst).stat().st_size}


class OrtCore:
    """An onnxruntime session of an exported core: ``__call__(spec [B, 2, T, F]) -> [B, 2*S, T, F]``."""

    def __init__(self, path: str | os.PathLike | bytes, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = path if isinstance(path, bytes) else str(path)
        self.session = ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, spec: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(spec.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])
