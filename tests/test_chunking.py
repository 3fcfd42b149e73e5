"""Chunked overlap-add processing (tfgridnet_pl/deploy/chunking.py) and its use by pyscripts/enhance.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from signals import harmonic_tone
from test_pack_enhance import enhance, tiny_pack
from tfgridnet_pl.deploy import packed_model as pm
from tfgridnet_pl.deploy.chunking import OverlapAdd, RunningStd, fade_in, overlap_add

torch.set_num_threads(1)
FS = 16000
PERIOD = 8192  # 64 STFT frames of the tiny model (hop 128)


def random_blocks(x: np.ndarray, rng: np.random.Generator, largest: int = 5000) -> list[np.ndarray]:
    """``x`` [n, ch] cut into blocks of random sizes (some empty), as soundfile.blocks would deliver them."""
    cuts = np.sort(rng.integers(0, len(x) + 1, size=max(1, len(x) // max(1, largest // 2))))
    return np.split(x, cuts)


def test_fade_ramps_are_complementary():
    for n in (1, 2, 7, 16000):
        ramp = fade_in(n)
        assert np.allclose(ramp + ramp[::-1], 1.0) and np.all(np.diff(ramp) > 0)
    assert len(fade_in(0)) == 0


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 2500, 12345])
@pytest.mark.parametrize("chunk,overlap", [(1000, 250), (1000, 0), (300, 299)])
def test_identity_gives_back_the_input_exactly(n, chunk, overlap):
    rng = np.random.default_rng(n + chunk + overlap)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    seen = []

    def identity(seg: np.ndarray) -> np.ndarray:
        assert 0 < len(seg) <= chunk
        seen.append(len(seg))
        return seg

    out = np.concatenate(list(overlap_add(random_blocks(x, rng), identity, chunk, overlap)))
    assert out.shape == x.shape
    np.testing.assert_allclose(out, x, atol=1e-6)
    hop = chunk - overlap
    expected = 1 if n <= chunk else 1 + int(np.ceil((n - chunk) / hop))  # full chunks, then the shifted last
    assert len(seen) == expected
    assert all(s == min(n, chunk) for s in seen)  # the last chunk is shifted back to a full one


def test_blend_uses_both_chunks_in_the_overlap_only():
    """Each chunk's output marked by its index: the overlap is the ramp between consecutive indices."""
    chunk, overlap = 100, 40
    count = iter(range(100))
    out = np.concatenate(
        list(overlap_add([np.zeros((400, 1))], lambda s: np.full_like(s, next(count)), chunk, overlap))
    )
    out = out[:, 0]
    assert np.all(out[:60] == 0) and np.allclose(out[60:100], fade_in(40))  # chunk 0 -> chunk 1
    assert np.all(out[100:120] == 1) and np.allclose(out[120:160], 1 + fade_in(40))


def test_memory_stays_bounded_on_a_long_stream():
    chunk, overlap, block = 1600, 400, 999
    ola = OverlapAdd(lambda s: s, chunk, overlap)
    largest = emitted = 0
    for _ in range(2000):  # 2 M samples
        for out in ola.push(np.ones((block, 1), np.float32)):
            emitted += len(out)
        largest = max(largest, len(ola.buffer))
    emitted += sum(len(out) for out in ola.finish())
    assert emitted == 2000 * block
    assert largest <= 2 * chunk + block


def test_bad_chunk_settings_are_refused():
    for chunk, overlap in ((100, 100), (0, 0), (100, -1)):
        with pytest.raises(ValueError, match="chunk > overlap"):
            OverlapAdd(lambda s: s, chunk, overlap)
    with pytest.raises(ValueError, match="returned shape"):
        list(overlap_add([np.zeros((10, 1))], lambda s: s[:-1], 8, 2))


def test_running_std_equals_numpy():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20000, 3)) * [1.0, 0.01, 5.0] + [0.0, 3.0, -1.0]
    running = RunningStd()
    for block in random_blocks(x, rng):
        running.update(block)
    np.testing.assert_allclose(running.std(), x.std(axis=0, ddof=1), rtol=1e-10)
    assert running.count == len(x) and np.isnan(RunningStd().std()).all()


@pytest.fixture(scope="module")
def periodic_case(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """The tiny model, a periodic noisy 'speech' signal (24 periods of 64 frames), its whole-file output."""
    packed = tiny_pack(tmp_path_factory)
    rng = np.random.default_rng(0)
    period = harmonic_tone(PERIOD, rng) + 0.03 * rng.standard_normal(PERIOD)
    x = np.tile(period, 24).astype(np.float32)
    return packed, x, pm.Enhancer(packed)(x[None])[0]


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_tiny_model_chunked_equals_whole_away_from_chunk_edges(periodic_case):
    """With a stationary input, chunk statistics match the whole file's (TF-GridNet's GroupNorm and
    attention are utterance-level): chunked output then equals whole-file output away from the edges
    (a few % of the output's RMS: the BLSTMs still see different context)."""
    packed, x, whole = periodic_case
    enhancer = pm.Enhancer(packed)
    std = np.std(x, ddof=1, keepdims=True)
    chunk, overlap = 4 * PERIOD, PERIOD
    rng = np.random.default_rng(1)
    out = np.concatenate(
        list(overlap_add(random_blocks(x[:, None], rng), lambda s: enhancer(s.T, std).T, chunk, overlap))
    )
    err = np.abs(out[:, 0] - whole)
    interior = np.ones(len(x), bool)
    for edge in range(chunk - overlap, len(x), chunk - overlap):  # each chunk's start and end region
        interior[max(0, edge - PERIOD // 2) : edge + overlap + PERIOD // 2] = False
    interior[: PERIOD // 2] = interior[-PERIOD // 2 :] = False
    rms = np.sqrt(np.mean(whole**2))
    inner_rms, inner_max = np.sqrt(np.mean(err[interior] ** 2)) / rms, np.max(err[interior]) / rms
    assert interior.mean() > 0.3
    assert inner_rms < 0.03 and inner_max < 0.2, (inner_rms, inner_max, np.max(err[~interior]) / rms)


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_cli_streaming_equals_in_memory_chunking(periodic_case, tmp_path, caplog):
    """enhance.py reads blocks, scales by the file's std and overlap-adds: the same numbers as in memory."""
    packed, x, _ = periodic_case
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "p.wav", x, FS, subtype="FLOAT")
    chunking = ["--chunk-seconds", str(4 * PERIOD / FS), "--overlap-seconds", str(PERIOD / FS)]
    code, log = enhance(
        caplog, "--model", str(packed), *chunking, str(tmp_path / "in"), "--out-dir", str(tmp_path / "o")
    )
    assert code == 0, log
    out, fs = sf.read(tmp_path / "o" / "p.wav", dtype="float32")
    enhancer = pm.Enhancer(packed)
    std = np.std(x.astype(np.float64), ddof=1, keepdims=True)
    ref = np.concatenate(list(overlap_add([x[:, None]], lambda s: enhancer(s.T, std).T, 4 * PERIOD, PERIOD)))
    assert fs == FS and out.shape == (len(x),)
    assert np.max(np.abs(out - ref[:, 0])) < 1e-5
