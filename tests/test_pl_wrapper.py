"""Progressive loss wrapper: intermediate targets, DL equivalence, gradients, validation, bad configs."""

from __future__ import annotations

import pytest
import torch
from espnet2.enh.decoder.null_decoder import NullDecoder
from espnet2.enh.encoder.null_encoder import NullEncoder
from espnet2.enh.espnet_model import ESPnetEnhancementModel
from espnet2.enh.loss.wrappers.fixed_order import FixedOrderSolver

from tfgridnet_pl.model.hybrid_loss import HybridLoss
from tfgridnet_pl.model.pl_wrapper import ProgressiveLossWrapper, intermediate_targets, snr_db, target_snrs
from tfgridnet_pl.model.separator import TFGridNetPL

TINY = dict(
    n_srcs=1,
    n_fft=128,
    stride=64,
    n_layers=5,
    lstm_hidden_units=8,
    attn_n_head=2,
    emb_dim=8,
    emb_ks=2,
    emb_hs=1,
)


def signals(input_snrs, n=8000, seed=0):
    """Reference s and mixture y = s + n with the given input SNRs (dB), [B, N] each."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(len(input_snrs), n, generator=g) * 0.1
    noise = torch.randn(len(input_snrs), n, generator=g)
    for b, snr in enumerate(input_snrs):
        noise[b] *= torch.sqrt(s[b].pow(2).sum() / noise[b].pow(2).sum() / 10 ** (snr / 10))
    return s, s + noise


def test_absolute_targets_have_the_asked_snr():
    s, y = signals([-5.0, 3.0, 12.0, 20.0])
    snrs = target_snrs(snr_db(s, y - s), 4, "absolute", [0, 5, 10, 15])
    targets = intermediate_targets(y, s, snrs)
    assert targets.shape == (4, 4, 8000)
    for k, want in enumerate([0, 5, 10, 15]):
        got = snr_db(s, targets[:, k] - s)
        assert torch.allclose(got, torch.full_like(got, want), atol=0.1), (k, got)
    # the noise in every target is a scaled copy of the input's noise
    for b in range(4):
        noise, scaled = y[b] - s[b], targets[b, 0] - s[b]
        gain = (scaled @ noise) / (noise @ noise)
        assert (scaled - gain * noise).norm() < 1e-5 * scaled.norm()


def test_relative_targets_never_below_the_input():
    inputs = torch.tensor([-5.0, 3.0, 12.0, 20.0, 28.0, 40.0])
    s, y = signals(inputs.tolist())
    input_snr = snr_db(s, y - s)
    assert torch.allclose(input_snr, inputs, atol=0.01)
    snrs = target_snrs(input_snr, 4, "relative", step_db=5.0, max_db=30.0)
    targets = intermediate_targets(y, s, snrs)
    for k in range(4):
        got = snr_db(s, targets[:, k] - s)
        assert torch.allclose(got, snrs[:, k], atol=0.1)
        assert (got >= input_snr - 0.1).all()
    assert torch.allclose(snrs[0], torch.tensor([0.0, 5.0, 10.0, 15.0]), atol=0.01)  # -5 dB + 5k
    assert torch.allclose(snrs[3], torch.tensor([25.0, 30.0, 30.0, 30.0]), atol=0.01)  # capped at 30
    assert torch.allclose(snrs[5], torch.full((4,), 40.0), atol=0.01)  # above the cap: the input itself
    assert (snrs[:, 1:] >= snrs[:, :-1]).all()  # non-decreasing over blocks


def test_padding_is_ignored_with_lengths():
    s, y = signals([0.0, 0.0])
    s[1, 6000:] = 0.0
    y[1, 6000:] = 5.0  # garbage past the end of utterance 2
    lengths = torch.tensor([8000, 6000])
    targets = intermediate_targets(y, s, torch.full((2, 1), 10.0), lengths)
    got = snr_db(s, targets[:, 0] - s, lengths)
    assert torch.allclose(got, torch.full((2,), 10.0), atol=0.1)


def tiny_model(heads: bool, wrapper, seed=0) -> ESPnetEnhancementModel:
    torch.manual_seed(seed)
    separator = TFGridNetPL(None, intermediate_heads=heads, **TINY)
    return ESPnetEnhancementModel(
        encoder=NullEncoder(),
        separator=separator,
        decoder=NullDecoder(),
        mask_module=None,
        loss_wrappers=[wrapper],
    )


@pytest.fixture
def batch():
    s, y = signals([-3.0, 8.0], n=4000, seed=1)
    return {"speech_mix": y, "speech_mix_lengths": torch.tensor([4000, 4000]), "speech_ref1": s}


def test_last_block_only_equals_dl(batch):
    pl = tiny_model(True, ProgressiveLossWrapper(HybridLoss(), weights=[0, 0, 0, 0, 1]))
    dl = tiny_model(False, FixedOrderSolver(HybridLoss()))
    dl.load_state_dict(pl.state_dict(), strict=False)
    loss_pl, stats_pl, _ = pl(**batch)
    loss_dl, stats_dl, _ = dl(**batch)
    assert loss_pl.item() == pytest.approx(loss_dl.item(), rel=1e-5)
    assert stats_pl["hybrid"].item() == pytest.approx(stats_dl["hybrid"].item(), rel=1e-5)
    assert {f"pl_block{k}" for k in range(1, 5)} <= set(stats_pl)


def test_weighted_mean_and_stats(batch):
    weights = [1.0, 2.0, 0.0, 1.0, 4.0]
    model = tiny_model(True, ProgressiveLossWrapper(HybridLoss(), weights=weights))
    loss, stats, _ = model(**batch)
    per_block = [stats[f"pl_block{k}"].item() for k in range(1, 5)] + [stats["hybrid"].item()]
    want = sum(w * v for w, v in zip(weights, per_block, strict=True)) / sum(weights)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    assert stats["pl_input_snr_db"].item() == pytest.approx(2.5, abs=0.05)
    # absolute targets 0/5/10/15 dB for inputs of -3 and 8 dB: mean gain 7.5 - 2.5 = 5 dB
    assert stats["pl_snr_gain_db"].item() == pytest.approx(5.0, abs=0.05)
    assert {"hybrid_mag", "hybrid_ri", "hybrid_si_snr_db"} <= set(stats)


def test_gradients_reach_every_head(batch):
    model = tiny_model(True, ProgressiveLossWrapper(HybridLoss()))
    loss, _, _ = model(**batch)
    loss.backward()
    separator = model.separator
    for k, head in enumerate(list(separator.heads) + [separator.deconv]):
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0, k
    for k, block in enumerate(separator.blocks):
        grads = [p.grad for p in block.parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, k


def test_validation_uses_the_final_block_only(batch):
    pl = tiny_model(True, ProgressiveLossWrapper(HybridLoss()))
    dl = tiny_model(False, FixedOrderSolver(HybridLoss()))
    dl.load_state_dict(pl.state_dict(), strict=False)
    pl.eval(), dl.eval()
    with torch.no_grad():
        loss_pl, stats_pl, _ = pl(**batch)
        loss_dl, _, _ = dl(**batch)
    assert loss_pl.item() == pytest.approx(loss_dl.item(), rel=1e-5)
    assert not any(k.startswith("pl_") for k in stats_pl)


def test_relative_mode_trains(batch):
    model = tiny_model(True, ProgressiveLossWrapper(HybridLoss(), mode="relative", step_db=5, max_db=30))
    loss, stats, _ = model(**batch)
    assert torch.isfinite(loss)
    # relative targets: -3 dB input -> 2, 7, 12, 17; 8 dB -> 13, 18, 23, 28: the gain is 12.5 dB
    assert stats["pl_snr_gain_db"].item() == pytest.approx(12.5, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"mode": "progressive"}, "wrapper_conf.mode"),
        ({"weights": [1, 1, -1, 1, 1]}, "wrapper_conf.weights"),
        ({"weights": [1, 1, 1]}, "wrapper_conf.weights"),
        ({"weights": [0, 0, 0, 0, 0]}, "wrapper_conf.weights"),
        ({"step_db": 0}, "wrapper_conf.step_db"),
        ({"snrs": [0, float("nan")]}, "wrapper_conf.snrs"),
    ],
)
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        ProgressiveLossWrapper(HybridLoss(), **kwargs)


def test_mismatch_with_the_separator_names_the_key(batch):
    model = tiny_model(True, ProgressiveLossWrapper(HybridLoss(), snrs=[0, 10]))
    with pytest.raises(ValueError, match="wrapper_conf.snrs has 2 values but the separator has 4"):
        model(**batch)
    model = tiny_model(True, ProgressiveLossWrapper(HybridLoss(), mode="relative", weights=[1, 1]))
    with pytest.raises(ValueError, match="wrapper_conf.weights has 2 values but the separator has 5 blocks"):
        model(**batch)


def test_missing_mixture_or_reference():
    wrapper = ProgressiveLossWrapper(HybridLoss())
    est = [torch.zeros(1, 1000)]
    blocks = {f"pl_block{k}": torch.zeros(1, 1000) for k in range(1, 5)}
    with pytest.raises(ValueError, match="pl_mixture"):
        wrapper([torch.zeros(1, 1000)], est, blocks)
    with pytest.raises(ValueError, match="no reference"):
        wrapper([], est, {**blocks, "pl_mixture": torch.zeros(1, 1000)})
