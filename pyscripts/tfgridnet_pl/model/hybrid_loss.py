"""The hybrid loss of SEtrain (Xiaobin-Rong/SEtrain ``loss_hybrid``) as an ESPnet time-domain criterion.

For an estimate ``y`` and a reference ``s`` (waveforms of one utterance), with STFTs ``Y`` and ``S``
(``n_fft`` 512, hop 256, sqrt-Hann window, centred, as in SEtrain's ``cfg_train.toml``) and the
power-law compression exponent ``c = 0.3``::

    |X|    = sqrt(Re(X)^2 + Im(X)^2 + eps)                     eps = 1e-12
    X_c    = X / |X|^(1 - c)                                   (magnitude |X|^c, phase of X)
    L_mag  = mean_{t,f} (|Y|^c - |S|^c)^2
    L_ri   = mean_{t,f} (Re Y_c - Re S_c)^2 + mean_{t,f} (Im Y_c - Im S_c)^2
    s_t    = (<y, s> / (||s||^2 + 1e-8)) * s                   (projection of y on s)
    L_sisnr = -log10( ||s_t||^2 / max(||y - s_t||^2, eps) + 1e-8 )   = -SI-SNR(y, s) [dB] / 10
    L      = 30 * L_ri + 70 * L_mag + 1 * L_sisnr

The weights (``ri_weight``, ``mag_weight``, ``sisnr_weight``), ``compress_exp`` and the STFT
(``n_fft``, ``hop_length``, ``win_length``, ``window``) are YAML keys (``criterion_conf``). As in
SEtrain, the SI-SNR term is in bels (dB / 10), there is no mean removal, and the means run over
every TF bin. The only change is the ``max(., eps)`` under the SI-SNR fraction, so that an exact
estimate gives a finite loss instead of ``-inf``. ``forward`` returns one value per utterance;
ESPnet's wrappers average them over the batch, which gives SEtrain's batch mean for equal lengths.

After each call, ``stats`` holds the per-utterance terms for the training logs:
``<name>_mag``, ``<name>_ri`` and ``<name>_si_snr_db`` (SI-SNR in dB, higher is better).
"""

from __future__ import annotations

import torch
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss

from tfgridnet_pl.model.separator import SQRT_HANN, sqrt_hann_window


def stft_window(window: str, win_length: int, device=None, dtype=None) -> torch.Tensor:
    """The analysis window by name: ``sqrt_hann`` or any ``torch.<name>_window``."""
    if window == SQRT_HANN:
        return sqrt_hann_window(win_length, device=device, dtype=dtype)
    window_fn = getattr(torch, f"{window}_window", None)
    if window_fn is None:
        raise ValueError(f"criterion_conf.window: unknown window {window!r} (sqrt_hann, hann, hamming, ...)")
    return window_fn(win_length, device=device, dtype=dtype)


class HybridLoss(TimeDomainLoss):
    """Compressed-magnitude MSE + compressed complex MSE - SI-SNR (SEtrain's hybrid loss)."""

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 256,
        win_length: int | None = None,
        window: str = SQRT_HANN,
        compress_exp: float = 0.3,
        mag_weight: float = 70.0,
        ri_weight: float = 30.0,
        sisnr_weight: float = 1.0,
        eps: float = 1.0e-12,
        name: str | None = None,
        only_for_test: bool = False,
        is_noise_loss: bool = False,
        is_dereverb_loss: bool = False,
    ):
        super().__init__(
            name or "hybrid",
            only_for_test=only_for_test,
            is_noise_loss=is_noise_loss,
            is_dereverb_loss=is_dereverb_loss,
        )
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = int(win_length or n_fft)
        if not 0 < self.win_length <= self.n_fft or self.hop_length <= 0:
            raise ValueError(
                f"criterion_conf: need 0 < win_length <= n_fft and hop_length > 0 "
                f"(got n_fft {n_fft}, win_length {win_length}, hop_length {hop_length})"
            )
        stft_window(window, 4)  # fail now on an unknown window name
        self.window = window
        if not 0 < compress_exp <= 1:
            raise ValueError(f"criterion_conf.compress_exp must be in (0, 1], got {compress_exp}")
        weights = {"mag_weight": mag_weight, "ri_weight": ri_weight, "sisnr_weight": sisnr_weight}
        for key, value in weights.items():
            if value < 0:
                raise ValueError(f"criterion_conf.{key} must be >= 0, got {value}")
        self.compress_exp = float(compress_exp)
        self.mag_weight = float(mag_weight)
        self.ri_weight = float(ri_weight)
        self.sisnr_weight = float(sisnr_weight)
        self.eps = float(eps)
        self.stats: dict[str, torch.Tensor] = {}

    def stft(self, wave: torch.Tensor) -> torch.Tensor:
        """Complex STFT [B, F, T] of waveforms [B, N]."""
        window = stft_window(self.window, self.win_length, device=wave.device, dtype=torch.float32)
        return torch.stft(
            wave.float(),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=window,
            center=True,
            return_complex=True,
        )

    def terms(self, ref: torch.Tensor, inf: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three terms per utterance: ``mag``, ``ri`` and ``sisnr`` (each [B])."""
        if ref.shape != inf.shape or ref.dim() != 2:
            raise ValueError(
                f"hybrid loss expects two [batch, samples] waveforms, "
                f"got {tuple(ref.shape)} and {tuple(inf.shape)}"
            )
        c = self.compress_exp
        spec_ref, spec_inf = self.stft(ref), self.stft(inf)
        mag_ref = torch.sqrt(spec_ref.real**2 + spec_ref.imag**2 + self.eps)
        mag_inf = torch.sqrt(spec_inf.real**2 + spec_inf.imag**2 + self.eps)
        comp_ref = spec_ref / mag_ref ** (1 - c)
        comp_inf = spec_inf / mag_inf ** (1 - c)
        mag = ((mag_inf**c - mag_ref**c) ** 2).mean(dim=(1, 2))
        ri = ((comp_inf.real - comp_ref.real) ** 2).mean(dim=(1, 2)) + (
            (comp_inf.imag - comp_ref.imag) ** 2
        ).mean(dim=(1, 2))
        ref, inf = ref.float(), inf.float()
        scale = (inf * ref).sum(dim=1, keepdim=True) / (ref.pow(2).sum(dim=1, keepdim=True) + 1e-8)
        s_target = scale * ref
        ratio = s_target.pow(2).sum(dim=1) / (inf - s_target).pow(2).sum(dim=1).clamp(min=self.eps)
        sisnr = -torch.log10(ratio + 1e-8)
        return {"mag": mag, "ri": ri, "sisnr": sisnr}

    def forward(self, ref: torch.Tensor, inf: torch.Tensor) -> torch.Tensor:
        """Hybrid loss per utterance [B] of estimates ``inf`` against references ``ref`` [B, N]."""
        t = self.terms(ref, inf)
        self.stats = {
            f"{self.name}_mag": t["mag"].detach(),
            f"{self.name}_ri": t["ri"].detach(),
            f"{self.name}_si_snr_db": -10.0 * t["sisnr"].detach(),
        }
        return self.ri_weight * t["ri"] + self.mag_weight * t["mag"] + self.sisnr_weight * t["sisnr"]
