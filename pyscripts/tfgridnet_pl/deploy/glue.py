"""The STFT / iSTFT around the exportable core (``onnx_core.GridNetCore``), as ESPnet's ``Stft`` does it.

``SpectralGlue.analyze`` normalises a waveform by its std and returns the core's input features (and
the complex spectrum, which ``output: mask`` multiplies); ``synthesize`` turns the core's output back
into waveforms at the input's scale. ``glue + core`` equals the separator (tests/test_onnx_export.py).
"""

from __future__ import annotations

import torch
from torch import nn


class SpectralGlue:
    """STFT, iSTFT and std scaling of a TFGridNetV2-family separator, outside the core graph.

    Args:
        n_fft: FFT size (= window length) of the separator's encoder.
        hop: hop size (``stride``).
        window: window name as ESPnet resolves it (``torch.<name>_window``), e.g. ``hann`` or
            ``sqrt_hann`` (registered by :mod:`tfgridnet_pl.model.separator`).
        n_srcs: number of outputs of the core (``n_srcs``).
    """

    def __init__(self, n_fft: int, hop: int, window: str, n_srcs: int = 1):
        if window == "sqrt_hann":  # tfgridnet_pl.model.separator's window, without importing ESPnet
            self.window = torch.hann_window(int(n_fft), periodic=True, dtype=torch.float32).sqrt()
        else:
            window_fn = getattr(torch, f"{window}_window", None)
            if window_fn is None:
                raise ValueError(f"unknown STFT window {window!r}: torch has no {window}_window")
            self.window = window_fn(int(n_fft), dtype=torch.float32)
        self.n_fft, self.hop, self.n_srcs, self.window_name = int(n_fft), int(hop), int(n_srcs), window
        self.n_freqs = self.n_fft // 2 + 1

    @classmethod
    def from_separator(cls, separator: nn.Module) -> SpectralGlue:
        """The glue of a ``TFGridNetV2`` (or subclass) instance."""
        stft = separator.enc.stft
        if stft.win_length != stft.n_fft or not stft.center or stft.normalized or not stft.onesided:
            raise ValueError("SpectralGlue supports centred, one-sided, unnormalised STFTs with win = n_fft")
        if getattr(separator, "n_imics", 1) != 1:
            raise ValueError(f"SpectralGlue handles one input channel, the separator has {separator.n_imics}")
        return cls(stft.n_fft, stft.hop_length, stft.window, separator.n_srcs)

    def _stft_args(self) -> dict:
        """ESPnet's ``Stft`` as ``from_separator`` checks it; the same for analysis and synthesis."""
        return dict(n_fft=self.n_fft, hop_length=self.hop, win_length=self.n_fft, window=self.window,
                    center=True, normalized=False, onesided=True)  # fmt: skip

    def min_samples(self) -> int:
        """Shortest input the reflect-padded STFT accepts."""
        return self.n_fft // 2 + 1

    def analyze(
        self, wave: torch.Tensor, std: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``wave`` [B, N] -> (core input [B, 2, T, F], the std [B] it was divided by).

        ``std`` defaults to each row's unbiased standard deviation, as in ``TFGridNetV2.forward``;
        passing it lets chunked processing scale every chunk like the whole recording.
        """
        wave = wave.float()
        if std is None:
            std = torch.std(wave, dim=1)
        spec = torch.stft(wave / std[:, None], **self._stft_args(), return_complex=True)  # [B, F, T]
        feats = torch.stack((spec.real, spec.imag), dim=1).transpose(2, 3)  # [B, 2, T, F]
        return feats.contiguous(), std

    def synthesize(self, out: torch.Tensor, n_samples: int, std: torch.Tensor) -> torch.Tensor:
        """Core output [B, 2 * n_srcs, T, F] -> waveforms [B, n_srcs, n_samples] at the input's scale."""
        n_batch, _, n_frames, n_freqs = out.shape
        out = out.float().view(n_batch, self.n_srcs, 2, n_frames, n_freqs)
        spec = torch.complex(out[:, :, 0], out[:, :, 1]).transpose(-1, -2)  # [B, S, F, T]
        wave = torch.istft(
            spec.reshape(n_batch * self.n_srcs, n_freqs, n_frames), **self._stft_args(), length=n_samples
        )
        return wave.view(n_batch, self.n_srcs, n_samples) * std[:, None, None]
