"""The output formulations of the separator (``separator_conf.output``), in torch alone.

The separator (:mod:`tfgridnet_pl.model.separator`) and the exportable core
(:mod:`tfgridnet_pl.deploy.onnx_core`, which must not import ESPnet) apply the same one.
"""

from __future__ import annotations

import torch

OUTPUTS = ("mapping", "mask")


def check_mix_back(mix_back: float) -> float:
    """``mix_back`` as a float in [0, 1], or a ValueError naming the option."""
    try:
        value = float("nan") if isinstance(mix_back, bool) else float(mix_back)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"separator_conf.mix_back: expected a number in [0, 1], got {mix_back!r}")
    return value


def apply_output(
    output: str, out: torch.Tensor, spec: torch.Tensor, n_srcs: int = 1, mix_back: float = 0.0
) -> torch.Tensor:
    """Estimated spectra [B, 2*n_srcs, T, F] (real, imag per source) from an output layer's ``out``.

    ``spec`` [B, 2, T, F] is the normalised input spectrum (real, imag), the input of ``conv``.
    ``mapping``: ``out`` itself; ``mask``: ``spec * (1 + out)`` as complex numbers, per source.
    ``mix_back`` (beta): the estimate becomes ``(1 - beta) * estimate + beta * spec``, the input mixed
    back in (the STFT is linear, so this is the same mix of the waveforms). For ``mask`` that is
    ``spec * (1 + (1 - beta) * out)``.
    """
    if output == "mapping":
        if not mix_back:
            return out
        n_batch, _, n_frames, n_freqs = out.shape
        est = out.view(n_batch, n_srcs, 2, n_frames, n_freqs)
        return ((1.0 - mix_back) * est + mix_back * spec[:, None]).view(n_batch, -1, n_frames, n_freqs)
    n_batch, _, n_frames, n_freqs = out.shape
    d = out.view(n_batch, n_srcs, 2, n_frames, n_freqs)
    if mix_back:
        d = (1.0 - mix_back) * d
    y_re, y_im = spec[:, None, 0], spec[:, None, 1]  # [B, 1, T, F]
    re = y_re + y_re * d[:, :, 0] - y_im * d[:, :, 1]
    im = y_im + y_re * d[:, :, 1] + y_im * d[:, :, 0]
    return torch.stack((re, im), dim=2).view(n_batch, -1, n_frames, n_freqs)
