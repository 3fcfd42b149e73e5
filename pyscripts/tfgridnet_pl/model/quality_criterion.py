"""Validation-only quality metrics (PESQ, optionally DNSMOS OVRL) as an ESPnet enhancement criterion.

ESPnet reports every criterion of ``criterions`` under its name and skips those with
``only_for_test`` while training (``ESPnetEnhancementModel.forward_loss``), so this criterion is
computed on validation batches only. Used with weight 0 it never changes the loss (ESPnet even runs
it under ``no_grad``), and ``best_model_criterion`` can select checkpoints by it::

    criterions:
      - name: si_snr                  # the training loss, as before
        conf: {eps: 1.0e-7}
        wrapper: fixed_order
        wrapper_conf: {weight: 1.0}
      - name: pesq                    # this class (registered as "pesq" in tfgridnet_pl/register.py)
        conf: {fs: 16000}             # add dnsmos: true for DNSMOS OVRL as well (slower)
        wrapper: fixed_order
        wrapper_conf: {weight: 0.0}
    best_model_criterion:
      - [valid, pesq, max]
      - [valid, loss, min]

The reporter keys are ``valid/pesq`` (the batch mean of wide-band PESQ, 1.04-4.64; narrow-band at
8 kHz) and, with ``dnsmos: true``, ``valid/pesq_dnsmos_ovrl``. Each utterance is scored on the whole
padded batch row, as ESPnet's own criteria are (no lengths reach a criterion); padding is silence
in both signals. An utterance that PESQ cannot score (no speech found) must not make the loss NaN
(0 * NaN is NaN): it gets the mean of the batch's other utterances, so the batch mean is theirs,
and it is counted in ``failed`` and logged.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss

log = logging.getLogger(__name__)
PESQ_FLOOR = 1.0  # used only when no utterance of a batch can be scored


class QualityCriterion(TimeDomainLoss):
    """Per-utterance PESQ (and DNSMOS OVRL) of ``inf`` against ``ref``: (batch,) tensors, higher is better."""

    def __init__(self, fs: int = 16000, dnsmos: bool = False, name: str = "pesq"):
        super().__init__(name, only_for_test=True)
        if fs not in (8000, 16000):
            raise ValueError(f"criterion {name}: PESQ needs fs 8000 or 16000, got {fs}")
        if dnsmos and fs != 16000:
            raise ValueError(f"criterion {name}: DNSMOS needs fs 16000, got {fs}")
        self.fs = fs
        self.mode = "wb" if fs == 16000 else "nb"
        self.use_dnsmos = dnsmos
        self._dnsmos = None
        self.failed = 0
        self.stats: dict[str, torch.Tensor] = {}

    def forward(self, ref: torch.Tensor, inf: torch.Tensor) -> torch.Tensor:
        """PESQ of each row of ``inf`` (batch, samples) against ``ref``; no gradient."""
        from pesq import PesqError, pesq

        if ref.shape != inf.shape or ref.dim() != 2:
            raise ValueError(
                f"criterion {self.name}: expected two (batch, samples) tensors, got "
                f"{tuple(ref.shape)} and {tuple(inf.shape)}"
            )
        r = ref.detach().to("cpu", torch.float64).numpy()
        e = inf.detach().to("cpu", torch.float64).numpy()
        scores = np.full(len(r), np.nan)
        for i in range(len(r)):
            try:
                with np.errstate(invalid="ignore", divide="ignore"):
                    scores[i] = pesq(self.fs, r[i], e[i], self.mode)
            except PesqError as exc:
                self.failed += 1
                log.warning("criterion %s: PESQ failed on batch row %d (%s); not counted", self.name, i, exc)
        scores = _fill_failed(scores, PESQ_FLOOR)
        self.stats = {}
        if self.use_dnsmos:
            ovrl = np.array([self._dnsmos_scorer()(row)["OVRL"] if np.any(row) else np.nan for row in e])
            self.stats[f"{self.name}_dnsmos_ovrl"] = torch.as_tensor(
                _fill_failed(ovrl, 1.0), dtype=inf.dtype, device=inf.device
            )
        return torch.as_tensor(scores, dtype=inf.dtype, device=inf.device)

    def _dnsmos_scorer(self):
        if self._dnsmos is None:
            from tfgridnet_pl.scoring.dnsmos import DNSMOS

            self._dnsmos = DNSMOS(num_threads=1)
        return self._dnsmos


def _fill_failed(values: np.ndarray, floor: float) -> np.ndarray:
    """Replace NaN entries by the mean of the others (``floor`` if all are NaN)."""
    ok = np.isfinite(values)
    if ok.all():
        return values
    return np.where(ok, values, values[ok].mean() if ok.any() else floor)
