"""The build of the embedded corpus: scan the packages, render every file in parallel, write the extras.

Called by :mod:`.cli` (the command line, which also decides whether a build is needed). Everything is
written into a hidden sibling of <out> and renamed onto <out> at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter
from pathlib import Path

import soundfile as sf

from tfgridnet_pl.fileio import atomic_path, write_text_atomic

from . import clean, noise, rirs
from .options import OPTIONS_FILE, BuildOptions
from .readme import readme_text
from .sources import CLEAN_SPEAKERS, PACKAGES, Inventory, check_packages, copyright_file, scan

log = logging.getLogger("make_embedded_corpus")
# What the recipe needs from a full build (checked and reported; small test builds fall below them).
MINIMUMS = {"clean_minutes": 30.0, "clean_speakers": 8, "noise_minutes": 10.0, "rirs": 30}


def _run(task: tuple) -> tuple[str, object]:
    """Worker entry: one speaker, noise file or RIR."""
    kind, args = task
    if kind == "clean":
        return kind, clean.build_speaker(*args)
    if kind == "noise":
        return kind, noise.render(*args)
    return kind, rirs.simulate(*args)


def _execute(tasks: list[tuple], nj: int) -> list[tuple[str, object]]:
    if nj <= 1:
        return [_run(t) for t in tasks]
    with multiprocessing.get_context("fork").Pool(nj) as pool:
        return list(pool.imap_unordered(_run, tasks))


def _manifest(root: Path) -> str:
    """``path<TAB>sha1<TAB>seconds`` for every file of the tree (seconds '-' for non-audio)."""
    rows = ["path\tsha1\tseconds\n"]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("manifest.tsv", ".done"))
    for path in files:
        rel = path.relative_to(root).as_posix()
        sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
        seconds = f"{sf.info(str(path)).duration:.4f}" if path.suffix == ".wav" else "-"
        rows.append(f"{rel}\t{sha1}\t{seconds}\n")
    return "".join(rows)


def _prepare_staging(out: Path) -> Path:
    if out.exists() and not (out / OPTIONS_FILE).is_file() and any(out.iterdir()):
        raise SystemExit(
            f"make_embedded_corpus: {out} exists, is not empty and is not an embedded corpus "
            f"(no {OPTIONS_FILE}); refusing to replace it. Choose another --out or remove it."
        )
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        log.info("removing the unfinished build %s", staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def _swap(staging: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    if old.exists():
        shutil.rmtree(old)


def build(pkgs_dir: Path, out: Path, options: BuildOptions, nj: int) -> dict[str, object]:
    """Build the corpus from the packages in ``pkgs_dir`` into ``out`` with ``nj`` worker processes;
    returns the summary (summary.json)."""
    versions = check_packages(pkgs_dir)
    staging = _prepare_staging(out)
    inv = scan(pkgs_dir)
    log.info(
        "sources: %d clean prompts of %d speakers, %d babble prompts, %d noise samples, %d unreadable",
        sum(len(v) for v in inv.clean.values()),
        len(inv.clean),
        len(inv.babble),
        len(inv.noise),
        len(inv.bad),
    )
    tasks = _tasks(inv, options, pkgs_dir, staging)
    log.info(
        "rendering %d clean speakers, %d RIRs and %d noise files with %d jobs",
        sum(kind == "clean" for kind, _ in tasks),
        options.n_rirs,
        sum(kind == "noise" for kind, _ in tasks),
        nj,
    )
    summary, rir_rows = _summarise(_execute(tasks, nj), inv, options.record(), versions)
    _write_extras(staging, pkgs_dir, summary, rir_rows)
    write_text_atomic(staging / OPTIONS_FILE, json.dumps(options.record(), indent=2) + "\n")
    write_text_atomic(staging / "manifest.tsv", _manifest(staging))
    write_text_atomic(staging / ".done", "")
    _swap(staging, out)
    return summary


def _tasks(inv: Inventory, options: BuildOptions, pkgs_dir: Path, staging: Path) -> list[tuple]:
    """One worker task per clean speaker (longest first, for load balance), RIR and noise file."""
    seed = options.seed
    available = {name: sum(p.seconds for p in prompts) for name, prompts in inv.clean.items()}
    budgets = clean.allocate(
        available, 60.0 * options.max_speaker_minutes, 60.0 * options.max_clean_minutes or None
    )
    speakers = sorted(CLEAN_SPEAKERS, key=lambda s: -budgets[s.name])
    tasks: list[tuple] = [
        ("clean", (s, inv.clean[s.name], budgets[s.name], seed, pkgs_dir, staging)) for s in speakers
    ]
    tasks += [("rir", (spec, seed, staging)) for spec in rirs.plan(options.n_rirs)]
    noise_items = noise.plan(inv.noise, inv.babble, 60.0 * options.max_noise_minutes or None)
    tasks += [("noise", (item, seed, pkgs_dir, staging)) for item in noise_items]
    return tasks


def _summarise(
    results: list[tuple[str, object]], inv: Inventory, options: dict, versions: dict[str, str]
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The build's summary (summary.json) and the RIR rows, from what the tasks returned."""
    stats: Counter = Counter()
    bad = dict(inv.bad)
    speakers, noise_files, rir_rows = {}, [], []
    for kind, res in results:
        if kind == "clean":
            speakers[res.speaker] = res
        elif kind == "noise":
            noise_files.append(res)
        else:
            rir_rows.append(res)
            continue
        stats.update(res.stats)
        bad.update(res.bad)
    for path, why in sorted(bad.items()):
        log.warning("skipped unreadable source %s: %s", path, why)
    rir_rows.sort(key=lambda r: r["path"])
    noise_files.sort(key=lambda r: r.name)
    summary = {
        "options": options,
        "packages": versions,
        "clean": {
            s.name: {
                "reader": f"{s.reader:05d}",
                "package": s.package,
                "description": s.description,
                "clips": len(speakers[s.name].clips),
                "seconds": round(sum(sec for _, sec in speakers[s.name].clips), 3),
            }
            for s in CLEAN_SPEAKERS
        },
        "noise": _noise_kinds(noise_files),
        "rirs": dict(sorted(Counter(r["room"].split("/")[0] for r in rir_rows).items())),
        "rir_rt60_measured_s": [
            min(r["rt60_measured_s"] for r in rir_rows),
            max(r["rt60_measured_s"] for r in rir_rows),
        ]
        if rir_rows
        else [],
        "bad_source_files": [{"path": p, "reason": why} for p, why in sorted(bad.items())],
        "unused_source_files": {
            k: {"files": n, "seconds": round(inv.unused_seconds[k], 1)} for k, n in sorted(inv.unused.items())
        },
        "repairs": {k: round(v, 3) if isinstance(v, float) else v for k, v in sorted(stats.items())},
    }
    summary["totals"] = _totals(summary, len(rir_rows), len(bad))
    summary["below_minimums"] = [k for k, v in MINIMUMS.items() if summary["totals"][k] < v]
    return summary, rir_rows


def _noise_kinds(noise_files: list) -> dict[str, dict]:
    """Files, seconds and the names not made, per noise kind."""
    kinds: dict[str, dict] = {}
    for res in noise_files:
        entry = kinds.setdefault(res.kind, {"files": 0, "seconds": 0.0, "not_made": []})
        if res.path:
            entry["files"] += 1
            entry["seconds"] = round(entry["seconds"] + res.seconds, 3)
        else:
            entry["not_made"].append(res.name)
    return kinds


def _totals(summary: dict, n_rirs: int, n_bad: int) -> dict[str, object]:
    return {
        "clean_minutes": round(sum(v["seconds"] for v in summary["clean"].values()) / 60, 2),
        "clean_speakers": sum(1 for v in summary["clean"].values() if v["clips"]),
        "clean_clips": sum(v["clips"] for v in summary["clean"].values()),
        "noise_minutes": round(sum(v["seconds"] for v in summary["noise"].values()) / 60, 2),
        "noise_files": sum(v["files"] for v in summary["noise"].values()),
        "rirs": n_rirs,
        "bad_source_files": n_bad,
    }


def _write_extras(staging: Path, pkgs_dir: Path, summary: dict, rir_rows: list[dict[str, object]]) -> None:
    """rirs.tsv, LICENSES/, summary.json and README.md."""
    header = list(rir_rows[0]) if rir_rows else ["path"]
    write_text_atomic(
        staging / "rirs.tsv",
        "\t".join(header) + "\n" + "".join("\t".join(str(r[k]) for k in header) + "\n" for r in rir_rows),
    )
    for package in PACKAGES:
        with atomic_path(staging / "LICENSES" / f"{package}.copyright") as tmp:
            shutil.copyfile(copyright_file(pkgs_dir, package), tmp)
    write_text_atomic(staging / "summary.json", json.dumps(summary, indent=2, sort_keys=False) + "\n")
    write_text_atomic(staging / "README.md", readme_text(summary))
