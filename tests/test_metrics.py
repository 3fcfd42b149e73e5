"""Intrusive metrics: SI-SNR formula and invariances, PESQ and STOI wrappers, alignment."""

from __future__ import annotations

import numpy as np
import pytest

from signals import speechlike
from tfgridnet_pl.scoring import metrics as M

FS = 16000


def test_si_snr_of_orthogonal_noise_is_the_energy_ratio():
    rng = np.random.default_rng(1)
    ref = speechlike(2.0)
    ref -= ref.mean()
    noise = rng.standard_normal(len(ref))
    noise -= noise.mean()
    noise -= ref * np.dot(noise, ref) / np.dot(ref, ref)  # orthogonal to the reference, still zero-mean
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2) / 10 ** (7.5 / 10))  # 7.5 dB
    assert M.si_snr(ref, ref + noise) == pytest.approx(7.5, abs=1e-9)


def test_si_snr_is_scale_and_offset_invariant_and_matches_espnet():
    import torch
    from espnet2.enh.loss.criterions.time_domain import SISNRLoss

    rng = np.random.default_rng(2)
    ref = speechlike(1.5, seed=3)
    est = ref + 0.01 * rng.standard_normal(len(ref))
    value = M.si_snr(ref, est)
    assert M.si_snr(ref, 3.0 * est + 0.2) == pytest.approx(value, abs=1e-9)
    assert M.si_snr(0.5 * ref - 0.1, est) == pytest.approx(value, abs=1e-9)
    espnet = -SISNRLoss()(torch.from_numpy(ref)[None], torch.from_numpy(est)[None]).item()
    assert value == pytest.approx(espnet, abs=1e-4)
    assert 5 < value < 30


def test_si_snr_undefined_and_perfect_cases():
    ref = speechlike(0.5)
    with pytest.raises(M.MetricError, match="constant"):
        M.si_snr(np.full(100, 0.3), np.ones(100))
    assert M.si_snr(ref, ref) == np.inf
    with pytest.raises(ValueError, match="equal length"):
        M.si_snr(ref, ref[:-1])


def test_pesq_and_stoi_rank_clean_above_noisy():
    rng = np.random.default_rng(4)
    ref = speechlike(3.0, seed=5)
    noisy = ref + 0.03 * rng.standard_normal(len(ref))
    assert M.pesq_wb(ref, ref) > 4.5
    assert 1.0 < M.pesq_wb(ref, noisy) < 3.5
    assert M.stoi(ref, ref) == pytest.approx(1.0, abs=1e-6)
    assert M.stoi(ref, noisy) < 0.99
    assert M.compute("PESQ_WB", ref, noisy, FS) == pytest.approx(M.pesq_wb(ref, noisy))


def test_pesq_errors():
    with pytest.raises(M.MetricError, match="PESQ"):
        M.pesq_wb(np.zeros(FS * 2), np.zeros(FS * 2))
    with pytest.raises(ValueError, match="16 kHz"):
        M.pesq_wb(np.ones(8000), np.ones(8000), fs=8000)
    with pytest.raises(ValueError, match="unknown intrusive metric"):
        M.compute("SDR", np.ones(10), np.ones(10), FS)


def test_align_trims_to_the_shorter_signal():
    ref, est, cut = M.align(np.arange(10.0), np.arange(7.0))
    assert len(ref) == len(est) == 7 and cut == 3
    assert M.align(np.ones(5), np.ones(5))[2] == 0
