"""TFGridNetPL: sqrt-Hann STFT, DL equivalence with TFGridNetV2, PL heads in training only."""

from __future__ import annotations

import pytest
import torch
from espnet2.enh.separator.tfgridnetv2_separator import TFGridNetV2

from tfgridnet_pl.model.separator import TFGridNetPL, ensure_sqrt_hann_window, sqrt_hann_window

TINY = dict(
    n_srcs=1,
    n_fft=128,
    stride=64,
    n_layers=3,
    lstm_hidden_units=8,
    attn_n_head=2,
    emb_dim=8,
    emb_ks=2,
    emb_hs=1,
)


def tiny(intermediate_heads: bool, seed: int = 0, **kwargs) -> TFGridNetPL:
    torch.manual_seed(seed)
    return TFGridNetPL(None, intermediate_heads=intermediate_heads, **{**TINY, **kwargs})


@pytest.fixture
def batch():
    torch.manual_seed(1)
    return torch.randn(2, 4000) * 0.1, torch.tensor([4000, 4000])


def test_sqrt_hann_window_is_the_root_of_hann():
    w = sqrt_hann_window(512)
    assert torch.allclose(w**2, torch.hann_window(512), atol=1e-7)
    # squared window overlap-adds to a constant at 50 % overlap: perfect reconstruction
    ola = w[:256] ** 2 + w[256:] ** 2
    assert torch.allclose(ola, torch.ones(256), atol=1e-6)


def test_stft_istft_perfect_reconstruction():
    model = TFGridNetPL(
        None, n_srcs=1, n_fft=512, stride=256, n_layers=1, emb_dim=4, lstm_hidden_units=4, attn_n_head=1
    )
    assert model.enc.stft.window == "sqrt_hann" and model.dec.stft.window == "sqrt_hann"
    torch.manual_seed(0)
    x = torch.randn(2, 16000)
    ilens = torch.tensor([16000, 16000])
    spec = model.enc(x, ilens)[0]
    y = model.dec(spec, ilens)[0]
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-5


def test_dl_is_tfgridnetv2(batch):
    x, ilens = batch
    dl = tiny(False)
    ensure_sqrt_hann_window()
    ref = TFGridNetV2(None, window="sqrt_hann", **TINY)
    ref.load_state_dict(dl.state_dict())
    assert len(dl.heads) == 0
    assert sum(p.numel() for p in dl.parameters()) == sum(p.numel() for p in ref.parameters())
    for mode in ("train", "eval"):
        getattr(dl, mode)(), getattr(ref, mode)()
        out, _, others = dl(x, ilens)
        want = ref(x, ilens)[0]
        assert torch.equal(out[0], want[0]), mode
        assert others == {}


def test_pl_training_returns_every_block(batch):
    x, ilens = batch
    pl = tiny(True).train()
    assert len(pl.heads) == TINY["n_layers"] - 1
    out, olens, others = pl(x, ilens)
    assert set(others) == {"pl_block1", "pl_block2", "pl_mixture", "pl_lengths"}
    for k in (1, 2):
        assert others[f"pl_block{k}"].shape == x.shape
        assert not torch.allclose(others[f"pl_block{k}"], out[0])
    assert others["pl_mixture"] is x and torch.equal(others["pl_lengths"], ilens)
    # the final output is exactly TFGridNetV2's forward: the heads only add outputs
    assert torch.allclose(out[0], TFGridNetV2.forward(pl, x, ilens)[0][0], atol=1e-6)
    assert torch.equal(olens, ilens)


def test_pl_eval_runs_final_head_only(batch):
    x, ilens = batch
    pl = tiny(True).eval()
    calls = []
    for head in pl.heads:
        head.register_forward_hook(lambda *args: calls.append(1))
    out, _, others = pl(x, ilens)
    assert calls == [] and others == {}
    # a DL model with the same non-head weights gives the same output: decoding costs what DL's does
    dl = tiny(False)
    missing, unexpected = dl.load_state_dict(pl.state_dict(), strict=False)
    assert missing == [] and all(k.startswith("heads.") for k in unexpected) and unexpected
    dl.eval()
    assert torch.equal(out[0], dl(x, ilens)[0][0])
    pl.train()
    pl(x, ilens)
    assert len(calls) == len(pl.heads)


def test_heads_are_training_only_parameters():
    pl, dl = tiny(True), tiny(False)
    head_params = sum(p.numel() for p in pl.training_only_parameters())
    deconv_params = sum(p.numel() for p in pl.deconv.parameters())
    assert head_params == (TINY["n_layers"] - 1) * deconv_params
    assert sum(p.numel() for p in pl.parameters()) - head_params == sum(p.numel() for p in dl.parameters())
    assert sum(1 for _ in dl.training_only_parameters()) == 0


def test_heads_need_one_source_and_two_blocks():
    with pytest.raises(ValueError, match="intermediate_heads.*n_srcs: 1"):
        tiny(True, n_srcs=2)
    with pytest.raises(ValueError, match="intermediate_heads.*n_layers >= 2"):
        tiny(True, n_layers=1)


def test_output_mapping_is_the_default_and_unknown_outputs_fail():
    assert tiny(False).output == "mapping"  # test_dl_is_tfgridnetv2: bit-identical to TFGridNetV2
    with pytest.raises(ValueError, match="separator_conf.output"):
        tiny(False, output="masking")


@pytest.mark.parametrize("heads", [False, True])
def test_mask_output_starts_as_identity(batch, heads):
    x, ilens = batch
    model = tiny(heads, output="mask", n_fft=128, stride=64, window="sqrt_hann")
    for layer in (model.deconv, *model.heads):  # zero-initialised output layers
        assert not layer.weight.any() and not layer.bias.any()
    for mode in ("train", "eval"):
        getattr(model, mode)()
        out, _, others = model(x, ilens)
        assert (out[0] - x).abs().max() < 1e-5, mode  # Y * (1 + 0) = Y -> the input
        for k in range(1, len(model.heads) + 1 if mode == "train" else 1):
            assert (others[f"pl_block{k}"] - x).abs().max() < 1e-5
    # ESPnet's `init` (run after building) re-zeroes them through espnet_initialization_fn
    from espnet2.torch_utils.initialize import initialize

    initialize(model, "xavier_uniform")
    assert not model.deconv.weight.any()


@pytest.mark.parametrize("output", ["mapping", "mask"])
@pytest.mark.parametrize("heads", [False, True])
def test_mix_back_mixes_the_input_into_every_estimate(batch, output, heads):
    x, ilens = batch
    model = tiny(heads, output=output, n_fft=128, stride=64, window="sqrt_hann")
    torch.manual_seed(3)
    for layer in (model.deconv, *model.heads):  # an output that differs from the input
        torch.nn.init.normal_(layer.weight, std=0.1)
    model.train()
    plain, _, plain_others = model(x, ilens)
    model.mix_back = 0.3
    for mode in ("train", "eval"):
        getattr(model, mode)()
        out, _, others = model(x, ilens)
        # (1 - b) * estimate + b * input, the waveforms mixed (the sqrt-Hann STFT reconstructs x)
        assert torch.allclose(out[0], 0.7 * plain[0] + 0.3 * x, atol=1e-5), mode
        assert not torch.allclose(out[0], plain[0], atol=1e-3)
        for k in range(1, len(model.heads) + 1 if mode == "train" else 1):
            want = 0.7 * plain_others[f"pl_block{k}"] + 0.3 * x
            assert torch.allclose(others[f"pl_block{k}"], want, atol=1e-5)
    model.mix_back = 1.0
    assert torch.allclose(model(x, ilens)[0][0], x, atol=1e-5)  # all input: the input itself


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", None, True])
def test_mix_back_out_of_range_fails_naming_the_option(bad):
    with pytest.raises(ValueError, match="separator_conf.mix_back"):
        tiny(False, mix_back=bad)


def test_mask_output_multiplies_the_input_spectrum(batch):
    x, ilens = batch
    model = tiny(True, output="mask")
    torch.manual_seed(2)
    for layer in (model.deconv, *model.heads):
        torch.nn.init.normal_(layer.weight, std=0.1)
    model.train()
    out, _, others = model(x, ilens)
    # every block's estimate is Y * (1 + D_k), built here by hand from the layers
    spec = model.enc(x[..., None] / x.std(dim=1)[:, None, None], ilens)[0].transpose(1, 2)[:, 0]
    feats = model.conv(torch.stack((spec.real, spec.imag), dim=1))
    for k, block in enumerate(model.blocks):
        feats = block(feats)
        layer = model.heads[k] if k < len(model.heads) else model.deconv
        d = layer(feats)
        est = spec * (1 + torch.complex(d[:, 0], d[:, 1]))
        want = model.dec(est, ilens)[0] * x.std(dim=1)[:, None]
        got = others[f"pl_block{k + 1}"] if k < len(model.heads) else out[0]
        assert torch.allclose(got, want, atol=1e-5), k
    model.eval()
    assert torch.allclose(model(x, ilens)[0][0], out[0], atol=1e-6)  # eval: final head, same path
