"""ONNX export of the TF-GridNet core (tfgridnet_pl/deploy/onnx_core.py, pyscripts/export_onnx.py), ORT.

Parity is checked on 10 s of real speech (the Asterisk prompts, as in test_dnsmos.py) with the tiny model
that test_pack_enhance.py trains; the exportable rewrite of ESPnet's GridNet block is checked against
ESPnet's own block for every layout it supports.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from espnet2.enh.separator.tfgridnetv2_separator import TFGridNetV2

from test_dnsmos import ALLISON, ASTERISK, debian_package, load_g722
from test_pack_enhance import enhance, tiny_pack
from tfgridnet_pl.deploy import packed_model as pm
from tfgridnet_pl.deploy.glue import SpectralGlue
from tfgridnet_pl.deploy.onnx_core import (
    ExportableBlock,
    GridNetCore,
    blstm,
    export_core,
    onnx_lstm_weights,
)
from tfgridnet_pl.model.separator import TFGridNetPL

torch.set_num_threads(1)
FS = 16000


def real_speech(seconds: float = 10.0, snr_db: float = 5.0) -> np.ndarray:
    """Consecutive Allison prompts (G.722, 16 kHz) cut to ``seconds``, with pink-ish noise at ``snr_db``."""
    files = sorted((debian_package(ASTERISK) / ALLISON).glob("*.g722"))
    parts, total = [], 0
    for path in files[40:]:
        parts.append(load_g722(path))
        total += len(parts[-1])
        if total >= seconds * FS:
            break
    speech = np.concatenate(parts)[: int(seconds * FS)]
    rng = np.random.default_rng(0)
    noise = np.convolve(rng.standard_normal(len(speech)), np.ones(5) / 5, mode="same")
    noise *= np.sqrt(np.sum(speech**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return (speech + noise).astype(np.float32)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    return tiny_pack(tmp_path_factory)


@pytest.mark.parametrize("ks,hs,heads", [(2, 1, 1), (4, 1, 2), (4, 4, 4), (1, 1, 1), (3, 3, 2)])
def test_exportable_block_equals_espnet_block(ks, hs, heads):
    torch.manual_seed(ks * 10 + hs)
    sizes = dict(
        emb_dim=8, emb_ks=ks, emb_hs=hs, lstm_hidden_units=6, attn_n_head=heads, attn_approx_qk_dim=40
    )
    sep = TFGridNetV2(None, n_srcs=1, n_fft=64, stride=32, n_layers=1, **sizes).eval()
    block = sep.blocks[0]
    with torch.no_grad():
        for p in block.parameters():  # away from the init (gamma 1, beta 0) so every weight matters
            p.add_(0.1 * torch.randn_like(p))
    exportable = ExportableBlock(block)
    for frames in (2, 7, 30):
        x = torch.randn(2, 8, frames, 33)
        with torch.no_grad():
            assert torch.allclose(exportable(x), block(x), atol=1e-5), (ks, hs, frames)


def test_blstm_op_equals_torch_lstm():
    lstm = torch.nn.LSTM(5, 7, batch_first=True, bidirectional=True)
    x = torch.randn(3, 11, 5)
    with torch.no_grad():
        assert torch.allclose(
            blstm(x.transpose(0, 1), *onnx_lstm_weights(lstm)).transpose(0, 1), lstm(x)[0], atol=1e-6
        )
    with pytest.raises(ValueError, match="1-layer bidirectional LSTMs"):
        onnx_lstm_weights(torch.nn.LSTM(5, 7, batch_first=True, num_layers=2, bidirectional=True))


@pytest.mark.parametrize(
    "window,output,mix_back",
    [("sqrt_hann", "mapping", 0.0), ("hann", "mapping", 0.0), ("sqrt_hann", "mask", 0.0)]
    + [("sqrt_hann", "mapping", 0.2), ("sqrt_hann", "mask", 0.2)],
)
def test_glue_and_core_equal_the_separator(window, output, mix_back):
    torch.manual_seed(0)
    sep = TFGridNetPL(
        None,
        n_srcs=1,
        n_fft=128,
        stride=64,
        window=window,
        emb_dim=8,
        emb_ks=2,
        emb_hs=1,
        lstm_hidden_units=6,
        n_layers=2,
        attn_n_head=1,
        attn_approx_qk_dim=64,
        intermediate_heads=True,
        output=output,
        mix_back=mix_back,
    ).eval()
    if output == "mask":  # zero-initialised: give it a mask that does something
        torch.nn.init.normal_(sep.deconv.weight, std=0.1)
    glue, core = SpectralGlue.from_separator(sep), GridNetCore(sep)
    for n in (200, 5000, 16001):
        wave = 0.1 * torch.randn(2, n)
        with torch.no_grad():
            ref = sep(wave, torch.tensor([n, n]))[0][0]
            feats, std = glue.analyze(wave)
            out = glue.synthesize(core(feats), n, std)[:, 0]
        assert torch.allclose(out, ref, atol=1e-6), n


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_onnx_matches_torch_on_real_speech_at_any_length(packed):
    """The pack's fp32 graph: within 1e-4 of torch on 10 s of real noisy speech and on other lengths."""
    pack = pm.read_pack(packed)
    torch_fp32, ort_fp32 = pm.Enhancer(pack), pm.Enhancer(pack, backend="onnx", threads=1)
    speech = real_speech(10.0)[None]
    ref = torch_fp32(speech)
    assert np.std(ref) > 0.01 * np.std(speech)
    assert np.max(np.abs(ort_fp32(speech) - ref)) < 1e-4
    for n in (300, 4321, 2 * FS + 17):  # 3 to 251 frames: nothing about the length is baked in
        assert np.max(np.abs(ort_fp32(speech[:, :n]) - torch_fp32(speech[:, :n]))) < 1e-4, n
    graph = onnx.load_from_string(pack.onnx["fp32"])
    ops = {node.op_type for node in graph.graph.node}
    assert "LSTM" in ops and "Loop" not in ops and "Scan" not in ops
    frames = graph.graph.input[0].type.tensor_type.shape.dim[2]
    assert frames.dim_param and not frames.dim_value  # a symbolic frame axis
    int8_ops = {node.op_type for node in onnx.load_from_string(pack.onnx["int8"]).graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} & int8_ops


def test_grouped_layout_exports_with_a_dynamic_frame_axis(tmp_path):
    """emb_ks == emb_hs (the small configs): frames are padded to a multiple of emb_ks inside the graph."""
    from tfgridnet_pl.deploy.onnx_core import OrtCore

    torch.manual_seed(3)
    sizes = dict(emb_dim=8, emb_ks=4, emb_hs=4, lstm_hidden_units=6, attn_n_head=2, attn_approx_qk_dim=64)
    sep = TFGridNetV2(None, n_srcs=1, n_fft=128, stride=64, n_layers=1, **sizes).eval()
    export_core(sep, tmp_path / "g.onnx")
    session, core = OrtCore(tmp_path / "g.onnx", threads=1), GridNetCore(sep)
    for frames in (2, 5, 8, 33):
        x = torch.randn(1, 2, frames, 65)
        with torch.no_grad():
            assert torch.allclose(session(x), core(x), atol=1e-4), frames


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_export_cli_and_mismatched_graph(packed, tmp_path, caplog):
    import export_onnx

    out = tmp_path / "tiny.onnx"
    with caplog.at_level(logging.INFO):
        assert export_onnx.main(["--model", str(packed), "--out", str(out), "--check-seconds", "2"]) == 0
    diff = float(caplog.text.split("max |torch - onnx| on 2 s of noise: ")[1].split()[0])
    assert diff < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    pack = pm.read_pack(packed)
    assert meta["weights_sha256"] == pack.info["files"][pm.WEIGHTS] and meta["window"] == "sqrt_hann"
    assert meta["n_fft"] == "256" and meta["hop"] == "128"
    wave = real_speech(3.0)[None]
    from_file = pm.Enhancer(pack, backend="onnx", onnx_file=out)(wave)
    assert np.max(np.abs(from_file - pm.Enhancer(pack)(wave))) < 1e-4
    # A graph exported from other weights is refused, by the API and by the CLI.
    other = tmp_path / "other.onnx"
    sep = pm.build_model(pack.config).separator  # same architecture, fresh weights
    export_core(sep, other, metadata={"weights_sha256": "0" * 64})
    with pytest.raises(pm.PackedModelError, match="exported from other weights"):
        pm.Enhancer(pack, backend="onnx", onnx_file=other)
    (tmp_path / "in").mkdir()
    import soundfile as sf

    sf.write(tmp_path / "in" / "a.wav", wave[0], FS)
    code, log = enhance(
        caplog,
        "--model",
        str(packed),
        "--backend",
        "onnx",
        "--onnx-file",
        str(other),
        str(tmp_path / "in"),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert code == 2 and "exported from other weights" in log
