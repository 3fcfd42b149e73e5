"""The hybrid criterion against a direct NumPy computation of SEtrain's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfgridnet_pl.model.hybrid_loss import HybridLoss


def numpy_stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """Centred (reflect-padded) one-sided STFT [F, T], as torch.stft(center=True)."""
    pad = n_fft // 2
    x = np.pad(x, pad, mode="reflect")
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.stack([x[i * hop : i * hop + n_fft] * window for i in range(n_frames)], axis=1)
    return np.fft.rfft(frames, axis=0)


def numpy_hybrid(ref, est, n_fft=512, hop=256, c=0.3, w_mag=70.0, w_ri=30.0, w_sisnr=1.0, eps=1e-12):
    """SEtrain's loss_hybrid for one utterance, written out from its formula in float64."""
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))  # periodic sqrt-Hann
    spec_r, spec_e = numpy_stft(ref, n_fft, hop, window), numpy_stft(est, n_fft, hop, window)
    mag_r = np.sqrt(spec_r.real**2 + spec_r.imag**2 + eps)
    mag_e = np.sqrt(spec_e.real**2 + spec_e.imag**2 + eps)
    comp_r, comp_e = spec_r / mag_r ** (1 - c), spec_e / mag_e ** (1 - c)
    mag = np.mean((mag_e**c - mag_r**c) ** 2)
    ri = np.mean((comp_e.real - comp_r.real) ** 2) + np.mean((comp_e.imag - comp_r.imag) ** 2)
    s_t = np.dot(est, ref) / (np.dot(ref, ref) + 1e-8) * ref
    sisnr = -np.log10(np.sum(s_t**2) / np.sum((est - s_t) ** 2) + 1e-8)
    return w_ri * ri + w_mag * mag + w_sisnr * sisnr, {"mag": mag, "ri": ri, "sisnr": sisnr}


@pytest.fixture
def signals():
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    ref = 0.1 * np.sin(2 * np.pi * 440 * t) * (
        1 + 0.5 * np.sin(2 * np.pi * 3 * t)
    ) + 0.01 * rng.standard_normal(8000)
    est = ref + 0.03 * rng.standard_normal(8000)
    return ref, est


def test_matches_numpy_formula(signals):
    ref, est = signals
    crit = HybridLoss()
    got = crit(torch.tensor(ref[None], dtype=torch.float32), torch.tensor(est[None], dtype=torch.float32))
    want, terms = numpy_hybrid(ref, est)
    assert got.shape == (1,)
    assert got.item() == pytest.approx(want, rel=1e-4)
    got_terms = crit.terms(torch.tensor(ref[None]).float(), torch.tensor(est[None]).float())
    for key in ("mag", "ri", "sisnr"):
        assert got_terms[key].item() == pytest.approx(terms[key], rel=1e-4), key
    # each term carries weight: the spectral terms are not negligible next to SI-SNR here
    assert 70 * terms["mag"] > 0.01 and 30 * terms["ri"] > 0.01


def test_custom_weights_and_stft(signals):
    ref, est = signals
    crit = HybridLoss(
        n_fft=256, hop_length=128, compress_exp=0.5, mag_weight=1.0, ri_weight=2.0, sisnr_weight=0.5
    )
    got = crit(torch.tensor(ref[None]).float(), torch.tensor(est[None]).float()).item()
    want, _ = numpy_hybrid(ref, est, n_fft=256, hop=128, c=0.5, w_mag=1.0, w_ri=2.0, w_sisnr=0.5)
    assert got == pytest.approx(want, rel=1e-4)


def test_per_utterance_values_and_stats(signals):
    ref, est = signals
    refs = torch.tensor(np.stack([ref, 2 * ref])).float()
    ests = torch.tensor(np.stack([est, ref + 0.3 * (est - ref)])).float()
    crit = HybridLoss()
    loss = crit(refs, ests)
    assert loss.shape == (2,)
    for b in range(2):
        assert loss[b].item() == pytest.approx(
            numpy_hybrid(refs[b].double().numpy(), ests[b].double().numpy())[0], rel=1e-4
        )
    assert set(crit.stats) == {"hybrid_mag", "hybrid_ri", "hybrid_si_snr_db"}
    # the second estimate has 10 dB less error than the first relative to the reference... roughly
    assert crit.stats["hybrid_si_snr_db"][1] > crit.stats["hybrid_si_snr_db"][0]


def test_minimal_at_reference(signals):
    ref, est = signals
    crit = HybridLoss()
    r = torch.tensor(ref[None]).float()
    at_ref = crit.terms(r, r.clone())
    assert at_ref["mag"].item() == pytest.approx(0.0, abs=1e-10)
    assert at_ref["ri"].item() == pytest.approx(0.0, abs=1e-10)
    assert torch.isfinite(at_ref["sisnr"]).all()
    for scale in (0.01, 0.1, 0.3):
        off = crit.terms(r, r + scale * torch.tensor(est[None] - ref[None]).float())
        for key in ("mag", "ri", "sisnr"):
            assert off[key].item() > at_ref[key].item(), (key, scale)
    # and the total decreases monotonically as the estimate approaches the reference
    totals = [
        crit(r, r + s * torch.tensor(est[None] - ref[None]).float()).item() for s in (1.0, 0.5, 0.1, 0.0)
    ]
    assert totals == sorted(totals, reverse=True)


def test_gradient_flows(signals):
    ref, est = signals
    e = torch.tensor(est[None]).float().requires_grad_(True)
    HybridLoss()(torch.tensor(ref[None]).float(), e).sum().backward()
    assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"window": "nope"}, "criterion_conf.window"),
        ({"compress_exp": 0.0}, "criterion_conf.compress_exp"),
        ({"mag_weight": -1.0}, "criterion_conf.mag_weight"),
        ({"n_fft": 256, "win_length": 512}, "win_length"),
    ],
)
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        HybridLoss(**kwargs)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="waveforms"):
        HybridLoss()(torch.zeros(1, 1000), torch.zeros(1, 999))
