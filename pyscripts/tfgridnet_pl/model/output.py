"""The output formulations of the separator (``separator_conf.output``), in torch alone.

The separator (:mod:`tfgridnet_pl.model.separator`) and the exportable core
(:mod:`tfgridnet_pl.deploy.onnx_core`, which must not import ESPnet) apply the same one.
"""

from __future__ import annotations

import torch

OUTPUTS = ("mapping", "mask")


def apply_output(output: str, out: torch.Tensor, spec: torch.Tensor, n_srcs: int = 1) -> torch.Tensor:
    """Estimated spectra [B, 2*n_srcs, T, F] (real, imag per source) from an output layer's ``out``.

    ``spec`` [B, 2, T, F] is the normalised input spectrum (real, imag), the input of ``conv``.
    ``mapping``: ``out`` itself; ``mask``: ``spec * (1 + out)`` as complex numbers, per source.
    """
    if output == "mapping":
        return out
    n_batch, _, n_frames, n_freqs = out.shape
    d = out.view(n_batch, n_srcs, 2, n_frames, n_freqs)
    y_re, y_im = spec[:, None, 0], spec[:, None, 1]  # [B, 1, T, F]
    re = y_re + y_re * d[:, :, 0] - y_im * d[:, :, 1]
    im = y_im + y_re * d[:, :, 1] + y_im * d[:, :, 0]
    return torch.stack((re, im), dim=2).view(n_batch, -1, n_frames, n_freqs)
