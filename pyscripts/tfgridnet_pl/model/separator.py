"""TF-GridNet with an output head per GridNet block, for progressive learning (PL).

``TFGridNetPL`` is ESPnet's ``TFGridNetV2`` with two additions:

* ``window: sqrt_hann``: the square root of a periodic Hann window for the model's STFT and iSTFT
  (512/256 in the paper configs; perfect reconstruction at 50 % overlap). ESPnet's ``Stft`` looks a
  window up by name as ``torch.<name>_window``, so :func:`ensure_sqrt_hann_window` adds
  ``torch.sqrt_hann_window`` (once, only if torch has no such function) before the encoder is built.
* ``intermediate_heads: true``: every GridNet block but the last gets its own output head, a
  transposed convolution shaped like the final ``deconv``. In training mode, block ``k``'s head output
  goes through the same iSTFT and output scaling as the final one and is returned in the ``others``
  dict as ``pl_block{k}`` (``k = 1 .. n_layers - 1``), together with the input mixture
  (``pl_mixture``) and its lengths (``pl_lengths``), which the ``progressive`` loss wrapper
  (:mod:`tfgridnet_pl.model.pl_wrapper`) needs to build the intermediate targets.

* ``output: mapping | mask``: ``mapping`` (default) is TFGridNetV2's output, the ``deconv`` output
  taken as the complex spectrum of the estimate. ``mask`` multiplies the (normalised) input spectrum
  ``Y`` by the complex mask ``1 + D`` (``D``: the ``deconv`` or head output), so the estimate is
  ``Y + Y * D``. The output layers start at zero, so an untrained model returns its input, and every
  step that lowers the loss improves on the noisy input (the small CPU configs use it:
  docs/progressive-learning.md, "Tuning the CPU configs"). The PL heads go through the same path.

* ``mix_back: beta`` (default 0): mixes ``beta`` of the input back into every estimate,
  ``(1 - beta) * estimate + beta * input``. Meant for decoding, through ESPnet's ``--inference_config``
  (conf/decode_model.yaml): briefly trained models lose quality on near-clean inputs, and a little of
  the input restores it (docs/progressive-learning.md, "Mixing the input back").

In eval mode (validation, decoding) and with ``intermediate_heads: false``, ``output: mapping``'s
forward pass is ``TFGridNetV2.forward`` itself: the heads are not run, so a PL checkpoint decodes at
DL's cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import torch
from espnet2.enh.layers.complex_utils import new_complex_like
from espnet2.enh.separator.tfgridnetv2_separator import TFGridNetV2
from torch import nn

from tfgridnet_pl.model.output import OUTPUTS, apply_output, check_mix_back

SQRT_HANN = "sqrt_hann"
BLOCK_KEY = "pl_block{}"
MIXTURE_KEY = "pl_mixture"
LENGTHS_KEY = "pl_lengths"


def sqrt_hann_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype: torch.dtype | None = None,
    layout: torch.layout = torch.strided,
    device: torch.device | str | None = None,
    requires_grad: bool = False,
) -> torch.Tensor:
    """Square-root Hann window, with the signature of ``torch.hann_window``."""
    window = torch.hann_window(window_length, periodic=periodic, dtype=dtype, layout=layout, device=device)
    return window.sqrt().requires_grad_(requires_grad)


def ensure_sqrt_hann_window() -> None:
    """Make ``torch.sqrt_hann_window`` resolvable, as ESPnet's ``Stft`` needs for ``window: sqrt_hann``."""
    if not hasattr(torch, f"{SQRT_HANN}_window"):
        setattr(torch, f"{SQRT_HANN}_window", sqrt_hann_window)


class TFGridNetPL(TFGridNetV2):
    """TFGridNetV2 with optional per-block output heads (progressive learning).

    Args:
        input_dim: unused (ESPnet passes the encoder's output dimension).
        intermediate_heads: add an output head after each of the first ``n_layers - 1`` blocks and
            return their waveform estimates in training mode (PL). False gives plain TFGridNetV2 (DL).
        window: STFT window: ``sqrt_hann`` or any name ``torch.<name>_window`` resolves.
        output: ``mapping`` (TFGridNetV2: the output layer gives the complex spectrum) or ``mask``
            (the estimate is ``Y * (1 + D)``, ``Y`` the normalised input spectrum, ``D`` the output
            layer's complex output; output layers zero-initialised, so the model starts as identity).
        mix_back: fraction ``beta`` in [0, 1] of the input mixed back into each estimate (0: none).
        **kwargs: every other TFGridNetV2 argument (``n_srcs``, ``n_fft``, ``stride``, ``n_layers``,
            ``lstm_hidden_units``, ``attn_n_head``, ``attn_approx_qk_dim``, ``emb_dim``, ``emb_ks``,
            ``emb_hs``, ...). With intermediate heads, ``n_srcs`` and ``n_imics`` must be 1.
    """

    def __init__(
        self,
        input_dim,
        intermediate_heads: bool = False,
        window: str = SQRT_HANN,
        output: str = "mapping",
        mix_back: float = 0.0,
        **kwargs,
    ):
        if output not in OUTPUTS:
            raise ValueError(f"separator_conf.output: unknown output {output!r}; use one of {OUTPUTS}")
        mix_back = check_mix_back(mix_back)
        if window == SQRT_HANN:
            ensure_sqrt_hann_window()
        super().__init__(input_dim, window=window, **kwargs)
        self.intermediate_heads = bool(intermediate_heads)
        if self.intermediate_heads:
            if self.n_srcs != 1 or self.n_imics != 1:
                raise ValueError(
                    "separator_conf.intermediate_heads: true needs n_srcs: 1 and n_imics: 1 "
                    f"(got n_srcs: {self.n_srcs}, n_imics: {self.n_imics})"
                )
            if self.n_layers < 2:
                raise ValueError("separator_conf.intermediate_heads: true needs n_layers >= 2")
        deconv = self.deconv
        n_heads = self.n_layers - 1 if self.intermediate_heads else 0
        self.heads = nn.ModuleList(
            nn.ConvTranspose2d(
                deconv.in_channels, deconv.out_channels, deconv.kernel_size, padding=deconv.padding
            )
            for _ in range(n_heads)
        )
        self.output = output
        self.mix_back = mix_back
        if output == "mask":
            if self.n_imics != 1:
                raise ValueError("separator_conf.output: mask needs n_imics: 1")
            self.espnet_initialization_fn()

    def espnet_initialization_fn(self) -> None:
        """Zero the output layers of ``output: mask`` (start as identity); also after ESPnet's ``init``."""
        if self.output == "mask":
            for layer in (self.deconv, *self.heads):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def training_only_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters used in training only (the intermediate heads), not at inference."""
        return self.heads.parameters()

    def forward(self, input: torch.Tensor, ilens: torch.Tensor, additional: dict | None = None):
        """Enhance ``input`` [B, N] (or [B, N, M]); see ``TFGridNetV2.forward``.

        Returns ``(estimates, ilens, others)``: in training mode with intermediate heads, ``others``
        holds ``pl_block1 .. pl_block{n_layers-1}`` ([B, N] waveforms), ``pl_mixture`` and
        ``pl_lengths``; otherwise it is empty and the heads are not run.
        """
        with_heads = self.training and self.intermediate_heads
        if not with_heads and self.output == "mapping" and not self.mix_back:
            return super().forward(input, ilens, additional)
        return self._forward_with_heads(input, ilens, with_heads)

    def _forward_with_heads(self, input: torch.Tensor, ilens: torch.Tensor, with_heads: bool = True):
        """TFGridNetV2's forward pass through :func:`apply_output`, also decoding every head's output."""
        n_samples = input.shape[1]
        mixture = input
        if input.dim() == 2:
            input = input[..., None]  # [B, N, M]
        mix_std = torch.std(input, dim=(1, 2), keepdim=True)  # [B, 1, 1]
        spec = self.enc(input / mix_std, ilens)[0]  # [B, T, M, F]
        spec = spec.transpose(1, 2)  # [B, M, T, F]
        spec_ri = torch.cat((spec.real, spec.imag), dim=1)  # [B, 2, T, F]
        feats = self.conv(spec_ri)  # [B, C, T, F]
        others = OrderedDict()
        for k, block in enumerate(self.blocks):
            feats = block(feats)
            if with_heads and k < len(self.heads):
                out = apply_output(self.output, self.heads[k](feats), spec_ri, self.n_srcs, self.mix_back)
                wave = self._to_waveform(out, spec, ilens, n_samples, mix_std)
                others[BLOCK_KEY.format(k + 1)] = wave[:, 0]
        out = apply_output(self.output, self.deconv(feats), spec_ri, self.n_srcs, self.mix_back)
        wave = self._to_waveform(out, spec, ilens, n_samples, mix_std)
        if with_heads:
            others[MIXTURE_KEY] = mixture
            others[LENGTHS_KEY] = ilens
        return [wave[:, src] for src in range(self.num_spk)], ilens, others

    def _to_waveform(self, out, spec, ilens, n_samples, mix_std) -> torch.Tensor:
        """Head output [B, 2*n_srcs, T, F] -> waveforms [B, n_srcs, N] at the input's scale."""
        n_batch, _, n_frames, n_freqs = out.shape
        out = out.view([n_batch, self.n_srcs, 2, n_frames, n_freqs])
        out = new_complex_like(spec, (out[:, :, 0], out[:, :, 1]))
        wave = self.dec(out.view(-1, n_frames, n_freqs), ilens)[0]
        wave = self.pad2(wave.view([n_batch, self.num_spk, -1]), n_samples)
        return wave * mix_std
