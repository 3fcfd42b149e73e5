"""Models trained at several seeds (``run.sh --seeds "0 1 2"``): the mean and spread over seeds.

A model tag ``<tag>`` trained at seed ``s`` > 0 is the system ``<tag>_seed<s>``; at seed 0 (the default
run) it is ``<tag>`` itself. Each seed's
score of a metric is the mean over the test set's utterances (``summary.json``); over the seeds this
module reports their mean, their standard deviation (n - 1) and their range, and for each pair of
models whether the difference of their means lies inside that spread: it does when it is no larger
than the sum of the two standard deviations (the two mean ± sd bands overlap), which with a handful of
seeds is the most that can be said.
"""

from __future__ import annotations

import math
import re
from itertools import combinations

SEED = re.compile(r"^(?P<tag>.+)_seed(?P<seed>\d+)$")


def split_seed(system: str) -> tuple[str, int]:
    """``dl_seed2`` -> ("dl", 2); ``dl`` -> ("dl", 0)."""
    match = SEED.match(system)
    return (match["tag"], int(match["seed"])) if match else (system, 0)


def seed_groups(systems: list[str]) -> dict[str, list[str]]:
    """Model tag -> its systems, for the tags with two or more seeds, in the given order."""
    groups: dict[str, list[str]] = {}
    for system in systems:
        groups.setdefault(split_seed(system)[0], []).append(system)
    return {tag: members for tag, members in groups.items() if len(members) > 1}


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation (n - 1), minimum and maximum of per-seed scores."""
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(values), "max": max(values), "n": len(values)}


def group_spreads(groups: dict[str, list[str]], means: dict[str, dict[str, float]], metrics) -> dict:
    """{tag: {metric: spread}} from {system: {metric: mean over utterances}}; missing metrics left out."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for tag, members in groups.items():
        for metric in metrics:
            values = [means[s][metric] for s in members if means.get(s, {}).get(metric) is not None]
            if len(values) > 1:
                out.setdefault(tag, {})[metric] = spread(values)
    return out


def comparisons(spreads: dict, metrics, label) -> list[str]:
    """One line per pair of models and metric: the difference and whether it lies inside the spread."""
    lines = []
    for a, b in combinations(spreads, 2):
        for metric, name in metrics:
            sa, sb = spreads[a].get(metric), spreads[b].get(metric)
            if sa is None or sb is None:
                continue
            diff = sb["mean"] - sa["mean"]
            inside = abs(diff) <= sa["sd"] + sb["sd"]
            verdict = "inside the spread over seeds" if inside else "larger than the spread over seeds"
            sds = f"sd {sa['sd']:.3f} and {sb['sd']:.3f}"
            lines.append(f"- {label(b)} − {label(a)}, {name}: {diff:+.3f} ({verdict}: {sds})")
    return lines


def seeds_section(title: str, rows, metrics, label) -> list[str]:
    """Markdown: the table of mean ± sd (min–max) over seeds per model, then the pairwise verdicts.

    ``rows`` are (system, summary.json or None, ...) as make_results reads them; ``metrics`` are
    (metric, column name) pairs; ``label`` names a model tag. Empty when no model has two seeds.
    """
    groups = seed_groups([row[0] for row in rows])
    if not groups:
        return []
    means = {
        row[0]: {m: s["mean"] for m, s in row[1]["metrics"].items() if s.get("mean") is not None}
        for row in rows
        if row[1]
    }
    spreads = group_spreads(groups, means, [m for m, _ in metrics])
    header = ["model", "seeds", *(name for _, name in metrics)]
    body = []
    for tag in groups:
        cells = []
        for metric, _ in metrics:
            s = spreads.get(tag, {}).get(metric)
            cells.append(f"{s['mean']:.3f} ± {s['sd']:.3f} ({s['min']:.3f}–{s['max']:.3f})" if s else "–")
        seeds = ", ".join(str(split_seed(s)[1]) for s in groups[tag])
        body.append([label(tag), seeds, *cells])
    return [
        f"### {title}",
        "",
        "|" + "|".join(header) + "|",
        "|" + "---|" * len(header),
        *("|" + "|".join(r) + "|" for r in body),
        "",
        "Each cell: the mean over seeds of each seed's mean over the test utterances ± their standard "
        "deviation (min–max). A difference between two models lies *inside the spread* when it is no "
        "larger than the sum of their standard deviations over seeds; only a difference larger than "
        "that says more than the choice of seed:",
        "",
        *comparisons(spreads, metrics, label),
        "",
    ]
