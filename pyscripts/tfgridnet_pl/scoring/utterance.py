"""Scores of one utterance: which metrics, reading its audio, and PESQ, STOI, SI-SNR and DNSMOS of it.

Used by ``pyscripts/score_enh.py``; a value that cannot be computed is NaN with a reason (a flag).
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger("score_enh")

METRIC_FILES = {
    "pesq": ("PESQ_WB",),
    "stoi": ("STOI",),
    "si_snr": ("SI_SNR",),
    "dnsmos": ("DNSMOS_P808", "DNSMOS_SIG", "DNSMOS_BAK", "DNSMOS_OVRL"),
}
INTRUSIVE = ("PESQ_WB", "STOI", "SI_SNR")
# What summary.json says about each metric (make_results.py reads these).
METRIC_INFO = {
    "PESQ_WB": {"unit": "MOS-LQO (1.04-4.64)", "higher_is_better": True},
    "STOI": {"unit": "0-1", "higher_is_better": True},
    "SI_SNR": {"unit": "dB", "higher_is_better": True},
    "DNSMOS_P808": {"unit": "MOS (1-5)", "higher_is_better": True},
    "DNSMOS_SIG": {"unit": "MOS (1-5)", "higher_is_better": True},
    "DNSMOS_BAK": {"unit": "MOS (1-5)", "higher_is_better": True},
    "DNSMOS_OVRL": {"unit": "MOS (1-5)", "higher_is_better": True},
}


def metric_names(spec: str, has_ref: bool) -> list[str]:
    """Output metric names for ``--metrics pesq,stoi,...``; intrusive ones dropped without references."""
    names = []
    for item in filter(None, (s.strip().lower() for s in spec.split(","))):
        if item not in METRIC_FILES:
            known = ", ".join(METRIC_FILES)
            raise SystemExit(f"score_enh.py: unknown metric {item!r} in --metrics; known: {known}")
        names.extend(m for m in METRIC_FILES[item] if m not in names)
    if not has_ref:
        dropped = [n for n in names if n in INTRUSIVE]
        if dropped:
            log.info("no references (--ref-scp not given): scoring DNSMOS only, not %s", ", ".join(dropped))
        names = [n for n in names if n not in INTRUSIVE]
    if not names:
        raise SystemExit("score_enh.py: nothing to score (no DNSMOS requested and no references)")
    return names


def load_audio(value: str, fs: int, what: str) -> np.ndarray:
    """Read one scp entry (a wav path, or a Kaldi ``ark:offset``/pipe entry) as mono float64."""
    try:
        if value.endswith("|") or ".ark:" in value:
            import kaldiio

            obj = kaldiio.load_mat(value)
            if not isinstance(obj, tuple):
                raise ValueError("not audio (a feature matrix?)")
            rate, audio = obj
            scale = float(np.iinfo(audio.dtype).max) + 1 if np.issubdtype(audio.dtype, np.integer) else 1.0
            audio = np.asarray(audio, dtype=np.float64) / scale
        else:
            import soundfile as sf

            audio, rate = sf.read(value, dtype="float64", always_2d=True)
            if audio.shape[1] != 1:
                raise ValueError(f"expected mono audio, got {audio.shape[1]} channels")
            audio = audio[:, 0]
    except Exception as exc:
        raise SystemExit(f"score_enh.py: cannot read {what} {value!r}: {exc}") from exc
    if rate != fs:
        raise SystemExit(f"score_enh.py: {what} {value!r} is {rate} Hz, expected --fs {fs}")
    if audio.ndim != 1:
        raise SystemExit(f"score_enh.py: {what} {value!r}: expected mono audio, got shape {audio.shape}")
    return audio


def bad_audio_reason(audio: np.ndarray) -> str | None:
    if not np.all(np.isfinite(audio)):
        return f"{int(np.sum(~np.isfinite(audio)))} NaN/Inf samples"
    if not np.any(audio):
        return "all-zero audio"
    return None


def score_key(key, inf_path, ref_path, todo, fs: int, dnsmos, counters) -> tuple[dict, dict]:
    """Scores and flag reasons of the metrics ``todo`` for one key (audio at ``fs`` Hz); ``dnsmos`` is a
    DNSMOS scorer (or None when no DNSMOS metric is in ``todo``), ``counters`` counts trimmed pairs."""
    from tfgridnet_pl.scoring import metrics as M

    est = load_audio(inf_path, fs, f"enhanced audio of key {key!r}")
    scores, flags = {}, {}
    reason = bad_audio_reason(est)
    if reason:
        return {m: float("nan") for m in todo}, {m: f"enhanced: {reason}" for m in todo}
    intrusive = [m for m in todo if m in INTRUSIVE]
    if intrusive:
        ref = load_audio(ref_path, fs, f"reference audio of key {key!r}")
        ref_al, est_al, cut = M.align(ref, est)
        if cut:
            counters["trimmed"] += 1
            counters["max_trim"] = max(counters["max_trim"], cut)
            log.debug("%s: enhanced %d vs reference %d samples: trimmed", key, len(est), len(ref))
        ref_reason = bad_audio_reason(ref_al)
        for m in intrusive:
            if ref_reason:
                scores[m], flags[m] = float("nan"), f"reference: {ref_reason}"
                continue
            try:
                scores[m] = M.compute(m, ref_al, est_al, fs)
            except M.MetricError as exc:
                scores[m], flags[m] = float("nan"), str(exc)
    dns = [m for m in todo if m.startswith("DNSMOS_")]
    if dns:
        res = dnsmos(est, fs)
        for m in dns:
            scores[m] = res[m.removeprefix("DNSMOS_")]
    for m, v in scores.items():
        if not math.isfinite(v) and m not in flags:  # e.g. SI-SNR of an estimate equal to the reference
            flags[m] = f"value is {v}" + (": the estimate equals the reference" if v == math.inf else "")
    return scores, flags
