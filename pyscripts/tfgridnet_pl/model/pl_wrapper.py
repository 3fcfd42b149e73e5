"""Progressive-learning (PL) loss wrapper: each GridNet block is trained towards its own target.

With ``K`` blocks, the separator (``tfgridnet_pl`` with ``intermediate_heads: true``) returns the
final estimate and, in training mode, the estimates of blocks ``1 .. K-1`` in ``others``
(``pl_block{k}``) together with the mixture ``y`` (``pl_mixture``). For a reference ``s``
(``speech_ref1``: clean speech, or direct path + early reflections) and ``n = y - s``, block ``k``'s
target is::

    target_k = s + g_k * n,    g_k = 10 ** ((SNR_in - SNR_k) / 20),   SNR_in = 10 log10(|s|^2 / |n|^2)

so that ``target_k`` has an SNR of exactly ``SNR_k`` dB (per utterance). The last block's target is ``s``.

``mode: absolute`` (the reference's setting): ``SNR_k = snrs[k-1]`` (default 0, 5, 10, 15 dB),
whatever the input SNR; with inputs above ``SNR_k`` the target is noisier than the input (g_k > 1).

``mode: relative``: ``SNR_k = max(SNR_in, min(SNR_in + k * step_db, max_db))``: each block removes
``step_db`` more dB of noise, up to ``max_db``, and no target is ever noisier than its input.

Every block uses the same criterion. The training loss is the weighted mean
``sum_k w_k L_k / sum_k w_k`` (``weights``: one non-negative value per block, equal by default),
so it stays on the scale of one criterion value; weights ``[0, ..., 0, 1]`` give DL's loss. In
validation (no ``pl_block*`` in ``others``) the loss is the final block's criterion only, so that
DL's and PL's validation losses compare directly. Logged stats in training: ``pl_block{k}``
(criterion of block ``k < K``), ``<criterion name>`` (final block), ``pl_input_snr_db`` and
``pl_snr_gain_db`` (mean of ``SNR_k - SNR_in`` over the intermediate blocks).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence

import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper

from tfgridnet_pl.model.separator import BLOCK_KEY, LENGTHS_KEY, MIXTURE_KEY

MODES = ("absolute", "relative")
_BLOCK_RE = re.compile(r"^pl_block(\d+)$")


def energy(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of squares per utterance of ``x`` [B, N], over the first ``lengths`` samples."""
    if lengths is not None and bool((lengths < x.shape[1]).any()):
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        x = x * valid
    return x.pow(2).sum(dim=1)


def snr_db(signal: torch.Tensor, noise: torch.Tensor, lengths=None, eps: float = 1e-10) -> torch.Tensor:
    """SNR in dB per utterance [B] of ``signal`` to ``noise`` (both [B, N])."""
    return 10.0 * torch.log10((energy(signal, lengths) + eps) / (energy(noise, lengths) + eps))


def target_snrs(
    input_snr: torch.Tensor,
    n_targets: int,
    mode: str = "absolute",
    snrs: Sequence[float] = (0.0, 5.0, 10.0, 15.0),
    step_db: float = 5.0,
    max_db: float = 30.0,
) -> torch.Tensor:
    """SNR in dB of the intermediate targets, [B, n_targets], for inputs of ``input_snr`` [B] dB."""
    if mode == "absolute":
        if len(snrs) != n_targets:
            raise ValueError(
                f"wrapper_conf.snrs has {len(snrs)} values but the separator has {n_targets} intermediate "
                f"heads (n_layers - 1 = {n_targets}); give one SNR per intermediate block"
            )
        return input_snr.new_tensor(list(snrs)).expand(input_snr.shape[0], n_targets)
    if mode == "relative":
        k = torch.arange(1, n_targets + 1, device=input_snr.device, dtype=input_snr.dtype)
        wanted = (input_snr[:, None] + k * step_db).clamp(max=max_db)
        return torch.maximum(wanted, input_snr[:, None])
    raise ValueError(f"wrapper_conf.mode: unknown mode {mode!r}; use one of {MODES}")


def intermediate_targets(
    mixture: torch.Tensor, reference: torch.Tensor, snrs: torch.Tensor, lengths=None
) -> torch.Tensor:
    """Targets ``s + g_k (y - s)`` with SNR ``snrs[:, k]`` dB: [B, K-1, N] for ``snrs`` [B, K-1]."""
    noise = mixture - reference
    input_snr = snr_db(reference, noise, lengths)
    gains = torch.pow(10.0, (input_snr[:, None] - snrs) / 20.0)  # [B, K-1]
    return reference[:, None, :] + gains[..., None] * noise[:, None, :]


class ProgressiveLossWrapper(AbsLossWrapper):
    """Loss wrapper for progressive learning (see the module docstring for the targets and modes).

    Args:
        criterion: criterion applied to each block (e.g. ``hybrid``).
        weight: weight of this wrapper among the model's criterions (ESPnet's ``wrapper_conf.weight``).
        mode: ``absolute`` or ``relative``.
        snrs: target SNR in dB of blocks ``1 .. K-1`` (``absolute``); its length must be ``K - 1``.
        step_db: SNR improvement per block in dB (``relative``), > 0.
        max_db: cap of the target SNR in dB (``relative``); a target never goes below its input SNR.
        weights: one non-negative weight per block (``K`` values, not all 0); None: all equal.
    """

    def __init__(
        self,
        criterion: AbsEnhLoss,
        weight: float = 1.0,
        mode: str = "absolute",
        snrs: Sequence[float] = (0.0, 5.0, 10.0, 15.0),
        step_db: float = 5.0,
        max_db: float = 30.0,
        weights: Sequence[float] | None = None,
    ):
        super().__init__()
        self.criterion = criterion
        self.weight = float(weight)
        if mode not in MODES:
            raise ValueError(f"wrapper_conf.mode: unknown mode {mode!r}; use one of {MODES}")
        self.mode = mode
        self.snrs = [float(v) for v in snrs]
        if not all(math.isfinite(v) for v in self.snrs):
            raise ValueError(f"wrapper_conf.snrs must be finite numbers, got {list(snrs)}")
        if not step_db > 0:
            raise ValueError(f"wrapper_conf.step_db must be > 0, got {step_db}")
        if not math.isfinite(max_db):
            raise ValueError(f"wrapper_conf.max_db must be a finite number, got {max_db}")
        self.step_db = float(step_db)
        self.max_db = float(max_db)
        self.weights = None if weights is None else [float(w) for w in weights]
        if self.weights is not None:
            if any(w < 0 or not math.isfinite(w) for w in self.weights):
                raise ValueError(f"wrapper_conf.weights must be finite and >= 0, got {list(weights)}")
            if sum(self.weights) == 0:
                raise ValueError("wrapper_conf.weights are all 0; at least one block needs a weight")
            if mode == "absolute" and len(self.weights) != len(self.snrs) + 1:
                raise ValueError(
                    f"wrapper_conf.weights has {len(self.weights)} values; expected one per block, "
                    f"len(wrapper_conf.snrs) + 1 = {len(self.snrs) + 1}"
                )

    def forward(self, ref, inf, others=None):
        """PL loss of the estimates: ``ref`` and ``inf`` are one-element lists of [B, N] waveforms.

        Returns ``(loss, stats, {"perm": ...})`` like ESPnet's ``FixedOrderSolver``.
        """
        others = others or {}
        if not ref or ref[0] is None:
            raise ValueError("progressive loss wrapper: the batch has no reference (speech_ref1)")
        if len(ref) != 1 or len(inf) != 1:
            raise ValueError(
                f"progressive loss wrapper handles one source, got {len(ref)} refs and {len(inf)} estimates"
            )
        reference, estimate = ref[0], inf[0]
        block_ids = sorted(int(m.group(1)) for key in others if (m := _BLOCK_RE.match(str(key))))
        perm = {"perm": torch.zeros(reference.size(0), 1, dtype=torch.long, device=reference.device)}

        if not block_ids:  # validation: the final block only, as DL
            final = self.criterion(reference, estimate).mean()
            stats = self._criterion_stats()
            stats[self.criterion.name] = final.detach()
            return final, stats, perm

        n_blocks = len(block_ids) + 1
        if block_ids != list(range(1, n_blocks)):
            raise ValueError(
                f"progressive loss wrapper: intermediate estimates {block_ids} are not 1..{n_blocks - 1}"
            )
        if MIXTURE_KEY not in others:
            raise ValueError(
                f"progressive loss wrapper: the batch has no mixture ('{MIXTURE_KEY}' in others); "
                "use separator: tfgridnet_pl with intermediate_heads: true"
            )
        weights = self.weights or [1.0] * n_blocks
        if len(weights) != n_blocks:
            raise ValueError(
                f"wrapper_conf.weights has {len(weights)} values but the separator has {n_blocks} blocks"
            )
        lengths = others.get(LENGTHS_KEY)
        mixture = others[MIXTURE_KEY]
        with torch.no_grad():
            input_snr = snr_db(reference, mixture - reference, lengths)
            snrs = target_snrs(input_snr, n_blocks - 1, self.mode, self.snrs, self.step_db, self.max_db)
            targets = intermediate_targets(mixture, reference, snrs, lengths)

        stats = {}
        total = reference.new_zeros(())
        for k in range(1, n_blocks):
            with torch.no_grad() if weights[k - 1] == 0 else contextlib.nullcontext():
                loss_k = self.criterion(targets[:, k - 1], others[BLOCK_KEY.format(k)]).mean()
            stats[BLOCK_KEY.format(k)] = loss_k.detach()
            total = total + weights[k - 1] * loss_k
        final = self.criterion(reference, estimate).mean()  # last, so criterion stats are the final block's
        stats.update(self._criterion_stats())
        stats[self.criterion.name] = final.detach()
        stats["pl_input_snr_db"] = input_snr.mean()
        stats["pl_snr_gain_db"] = (snrs - input_snr[:, None]).mean()
        total = (total + weights[-1] * final) / sum(weights)
        return total, stats, perm

    def _criterion_stats(self) -> dict[str, torch.Tensor]:
        return {k: v.mean() for k, v in getattr(self.criterion, "stats", {}).items()}
