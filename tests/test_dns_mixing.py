"""On-the-fly mixing (tfgridnet_pl.data.dns_mixing): ranges, reverberant share, seeding, pass-through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from tfgridnet_pl.data.dns_mixing import DNSMixingPreprocessor, read_span
from tfgridnet_pl.data.mixing import db, power

ROOT = Path(__file__).resolve().parents[1]
FS = 16000


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dm")
    rng = np.random.default_rng(0)
    noise_lines, rir_lines = [], []
    for i in range(4):
        path = tmp / f"noise{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(FS // 2 + 123 * i)).astype(np.float32), FS)
        noise_lines.append(f"n{i} {path}\n")
    for i in range(3):
        rir = np.exp(-np.arange(4000) / 800.0) * rng.standard_normal(4000)
        rir[50] = 2.0
        path = tmp / f"rir{i}.wav"
        sf.write(path, (rir / 4).astype(np.float32), FS)
        rir_lines.append(f"r{i} {path}\n")
    (tmp / "noise.scp").write_text("".join(noise_lines))
    (tmp / "rir.scp").write_text("".join(rir_lines))
    cfg = yaml.safe_load((ROOT / "conf" / "simulation.yaml").read_text())
    cfg["snr_db"] = [0.0, 10.0]
    cfg["speech_level_dbfs"] = [-40.0, -30.0]  # quiet enough that nothing is peak-limited
    (tmp / "sim.yaml").write_text(yaml.safe_dump(cfg))
    return tmp


def make(setup, train=True):
    return DNSMixingPreprocessor(
        train, str(setup / "sim.yaml"), str(setup / "noise.scp"), str(setup / "rir.scp")
    )


def speech(seed=1):
    t = np.arange(2 * FS) / FS
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def test_mixtures_follow_the_configured_ranges(setup):
    pre = make(setup)
    np.random.seed(0)
    for i in range(40):
        out = pre(f"u{i}", {"speech_ref1": speech()})
        y, s, n = out["speech_mix"], out["speech_ref1"], out["noise_ref1"]
        assert y.shape == s.shape == n.shape == (2 * FS,)
        np.testing.assert_allclose(y, s + n, atol=1e-6)
        assert -60.0 < db(power(s)) < -25.0  # early-reflection target near the drawn level
    # The draws themselves: reverberation share near rir_prob, SNRs and levels inside their ranges.
    draws = [pre.draw(np.random.default_rng(i), 2 * FS) for i in range(2000)]
    share = np.mean([d["rir"] is not None for d in draws])
    assert abs(share - pre.cfg.rir_prob) < 0.05
    snrs = np.array([d["snr_db"] for d in draws])
    levels = np.array([d["level_dbfs"] for d in draws])
    assert snrs.min() >= 0.0 and snrs.max() <= 10.0 and np.ptp(snrs) > 9.0
    assert levels.min() >= -40.0 and levels.max() <= -30.0


def test_measured_snr_and_level_without_reverberation(setup):
    pre = make(setup)
    np.random.seed(3)
    measured = []
    for i in range(60):
        out = pre(f"u{i}", {"speech_ref1": speech()})
        s, n = out["speech_ref1"], out["noise_ref1"]
        if np.allclose(s / np.max(np.abs(s)), speech() / np.max(np.abs(speech())), atol=1e-5):  # no RIR
            measured.append((db(power(s)) - db(power(n)), db(power(s))))
    assert len(measured) > 10
    for snr, level in measured:
        assert -0.01 <= snr <= 10.01 and -40.01 <= level <= -29.99


def test_same_seed_same_mixtures_new_seed_new_ones(setup):
    pre = make(setup)

    def epoch(seed):
        np.random.seed(seed)
        return [pre(f"u{i}", {"speech_ref1": speech()})["speech_mix"] for i in range(5)]

    a, b, c = epoch(7), epoch(7), epoch(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_validation_and_mixed_data_pass_through(setup):
    data = {"speech_ref1": speech(), "speech_mix": speech() * 2}
    assert make(setup, train=False)("u", dict(data))["speech_mix"] is data["speech_mix"]
    assert make(setup)("u", dict(data))["speech_mix"] is data["speech_mix"]
    assert "speech_mix" not in make(setup, train=False)("u", {"speech_ref1": speech()})


def test_read_span_wraps_and_rejects_stereo(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.arange(10, dtype=np.float32) / 100, FS, subtype="FLOAT")
    np.testing.assert_allclose(read_span(str(path), 7, 6), np.array([7, 8, 9, 0, 1, 2]) / 100, atol=1e-7)
    sf.write(tmp_path / "st.wav", np.zeros((10, 2), np.float32), FS)
    with pytest.raises(ValueError, match="expected mono"):
        read_span(str(tmp_path / "st.wav"), 0, 3)


def test_missing_noise_is_a_clear_error(setup, tmp_path):
    (tmp_path / "empty.scp").write_text("")
    with pytest.raises(ValueError, match="no noise files"):
        DNSMixingPreprocessor(
            True, str(setup / "sim.yaml"), str(tmp_path / "empty.scp"), str(setup / "rir.scp")
        )


def test_registered_into_espnets_task(setup):
    import argparse

    import espnet2.tasks.enh as enh

    import tfgridnet_pl.register  # noqa: F401

    args = argparse.Namespace(
        preprocessor="dns_mixing",
        preprocessor_conf={
            "simulation_config": str(setup / "sim.yaml"),
            "noise_scp": str(setup / "noise.scp"),
            "rir_scp": str(setup / "rir.scp"),
        },
    )
    train_fn = enh.EnhancementTask.build_preprocess_fn(args, train=True)
    assert isinstance(train_fn, DNSMixingPreprocessor) and len(train_fn.noises) == 4
    args.preprocessor_conf["noise_scp"] = "/nonexistent/noise.scp"  # inference needs no lists
    assert not enh.EnhancementTask.build_preprocess_fn(args, train=False).train
    args.preprocessor = None
    assert enh.EnhancementTask.build_preprocess_fn(args, train=True) is None
