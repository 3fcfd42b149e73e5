"""Merging the job parts of ``pyscripts/score_enh.py`` and summarising a metric over utterances."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tfgridnet_pl.scoring.store import FLAGGED, JOURNAL, fmt, parse_score, read_flags, read_scp


def summarize(values: list[float]) -> dict:
    """n, mean, std, 95 % CI half-width (Student t) over the finite values; non-finite ones are counted."""
    from scipy import stats

    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    n = int(finite.size)
    res = {"n": n, "n_flagged": int(arr.size - n), "mean": None, "std": None, "ci95": None}
    if n:
        res["mean"] = float(finite.mean())
    if n > 1:
        std = float(finite.std(ddof=1))
        res["std"] = std
        res["ci95"] = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return res


def merge_parts(parts: list[Path], metrics: list[str]) -> tuple[dict[str, dict[str, float]], dict]:
    """The scores of every part ({metric: {key: value}}) and their flags; SystemExit on an unfinished
    part, a missing metric file, or a key scored twice with different values."""
    merged: dict[str, dict[str, float]] = {m: {} for m in metrics}
    origin: dict[tuple[str, str], str] = {}
    flags: dict[tuple[str, str], str] = {}
    for part in parts:
        if (part / JOURNAL).exists():
            raise SystemExit(f"score_enh.py: {part} has an unfinished {JOURNAL}: that job did not finish")
        for m in metrics:
            if not (part / m).exists():
                raise SystemExit(f"score_enh.py: {part / m} is missing: that job did not score {m}")
            for k, v in read_scp(part / m).items():
                if k in merged[m] and fmt(merged[m][k]) != fmt(parse_score(part / m, k, v)):
                    raise SystemExit(
                        f"score_enh.py: key {k!r} scored twice with different {m} "
                        f"({origin[(k, m)]} and {part})"
                    )
                merged[m][k], origin[(k, m)] = parse_score(part / m, k, v), str(part)
        if (part / FLAGGED).exists():
            flags.update(read_flags(part / FLAGGED))
    return merged, flags
