#!/usr/bin/env python3
"""Stage 2 steps: fixed train/dev/test sets from the stage-1 lists, parameters first, then audio.

plan      split speakers/noises/RIRs into train/dev/test (whole speakers held out), draw every
          utterance's parameters from the seed and write <sim-dir>/<set>/meta.tsv
render    one job's share of a meta.tsv: write noisy/clean/noise wavs (skips finished ones)
finalize  write the ESPnet data dir data/<set>/ (wav.scp spk1.scp noise1.scp utt2spk spk2utt
          utt2dur meta.tsv) and a summary of what the rendering measured and repaired
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from tfgridnet_pl.data.mixing import PEAK, fit_length, mix
from tfgridnet_pl.data.simulation_config import SPLITS, SimulationConfig, load_simulation_config
from tfgridnet_pl.fileio import read_list, write_list, write_text_atomic, write_wav_atomic

log = logging.getLogger("simulate")

META_FIELDS = [
    "key", "speaker", "clean_key", "clean_path", "clean_offset", "num_samples",
    "noise_keys", "noise_paths", "noise_offsets", "rir_key", "rir_path", "snr_db", "level_dbfs",
]  # fmt: skip


def split_by_share(groups: dict[str, float], dev_share: float, test_share: float, rng) -> dict[str, str]:
    """Assign whole groups (speakers, or files) to dev/test/train by their share of the total.

    Groups are visited in a seeded random order; a group joins a held-out set while that set is
    short of its target and would not overshoot it by more than half. A held-out set that is still
    empty afterwards takes the smallest training group, so each set gets at least one group.
    """
    names = sorted(groups)
    if len(names) < 3:
        raise ValueError(f"need at least 3 groups to hold out dev and test, got {len(names)}: {names}")
    order = [names[i] for i in rng.permutation(len(names))]
    total = sum(groups.values())
    targets = {"test": test_share * total, "dev": dev_share * total}
    filled = {"test": 0.0, "dev": 0.0}
    assign = {}
    for name in order:
        assign[name] = "train"
        for split in ("test", "dev"):
            if filled[split] < targets[split] and filled[split] + groups[name] <= 1.5 * targets[split]:
                assign[name] = split
                filled[split] += groups[name]
                break
    for split in ("test", "dev"):
        if split not in assign.values():
            train = sorted((groups[n], n) for n, s in assign.items() if s == "train")
            if len(train) < 2:
                raise ValueError(f"cannot hold out a {split} group: too few groups")
            assign[train[0][1]] = split
    return assign


def _read_kind(list_dir: Path, kind: str):
    wav = read_list(list_dir / kind / "wav.scp")
    dur = {k: float(v) for k, v in read_list(list_dir / kind / "utt2dur").items()}
    spk = read_list(list_dir / kind / "utt2spk")
    if set(wav) != set(dur) or set(wav) != set(spk):
        raise ValueError(f"{list_dir / kind}: wav.scp, utt2dur and utt2spk have different keys")
    return wav, dur, spk


def write_dynamic_mixing_dir(dm_dir: Path, pools: dict, lists: dict) -> None:
    """The training speakers' clean speech, noises and RIRs, for on-the-fly mixing (no audio written).

    ``spk1.scp`` lists whole clean files; ``noise.scp`` and ``rir.scp`` are the training shares.
    There is deliberately no ``wav.scp``: the mixture only exists inside the data loader.
    """
    wav, dur, spk = lists["clean"]
    keys = pools["train"]["clean"]
    write_list(dm_dir / "spk1.scp", {k: wav[k] for k in keys})
    write_list(dm_dir / "utt2spk", {k: spk[k] for k in keys})
    spk2utt = defaultdict(list)
    for key in keys:
        spk2utt[spk[key]].append(key)
    write_list(dm_dir / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    write_list(dm_dir / "utt2dur", {k: f"{dur[k]:.3f}" for k in keys})
    for kind in ("noise", "rir"):
        write_list(dm_dir / f"{kind}.scp", {k: lists[kind][0][k] for k in pools["train"][kind]})
    log.info("%s: %d clean files, %d speakers for on-the-fly mixing", dm_dir, len(keys), len(spk2utt))


def plan(cfg: SimulationConfig, list_dir: Path, sim_dir: Path, dm_dir: Path | None = None) -> None:
    """Split the stage-1 lists into train/dev/test and write every set's meta.tsv (its utterances'
    parameters, drawn from the seed); with ``dm_dir``, also the on-the-fly mixing lists of train."""
    rng = np.random.default_rng([cfg.seed, 0])
    lists = {kind: _read_kind(list_dir, kind) for kind in ("clean", "noise", "rir")}
    pools = split_pools(cfg, lists, rng)
    if dm_dir is not None:
        write_dynamic_mixing_dir(dm_dir, pools, lists)
    for set_index, (name, spec) in enumerate(sorted(cfg.sets.items())):
        rows = plan_set(cfg, name, spec, set_index, pools[name], lists)
        write_meta(sim_dir / name / "meta.tsv", rows)
        log.info("%s: planned %d utterances of %.1f s", name, len(rows), spec.segment_s)


def split_pools(cfg: SimulationConfig, lists: dict, rng) -> dict[str, dict[str, list[str]]]:
    """{split: {kind: keys}}: whole speakers (noise and RIR groups) held out for dev and test."""
    pools: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for kind, prefix in (("clean", ""), ("noise", "noise_"), ("rir", "rir_")):
        wav, dur, spk = lists[kind]
        groups: dict[str, float] = defaultdict(float)
        for key, s in spk.items():
            groups[s] += dur[key]
        assign = split_by_share(
            groups, cfg.split[f"{prefix}dev_share"], cfg.split[f"{prefix}test_share"], rng
        )
        for split in SPLITS:
            pools[split][kind] = sorted(k for k in wav if assign[spk[k]] == split)
            if not pools[split][kind]:
                raise ValueError(f"no {kind} files left for {split}: lower the held-out shares")
        held = {s: sorted(g for g, a in assign.items() if a == s) for s in ("dev", "test")}
        log.info(
            "%s split: %s",
            kind,
            ", ".join(f"{s}={len(pools[s][kind])} files" for s in SPLITS)
            + (f"; dev speakers {held['dev']}, test speakers {held['test']}" if kind == "clean" else ""),
        )
    return pools


def plan_set(cfg: SimulationConfig, name: str, spec, set_index: int, pool: dict, lists: dict) -> list[dict]:
    """The meta.tsv rows of set ``name`` from its share ``pool`` ({kind: keys}), sorted by key."""
    dur = lists["clean"][1]
    n_samples = int(round(spec.segment_s * cfg.fs))
    long_enough = [k for k in pool["clean"] if dur[k] * cfg.fs >= n_samples]
    if not long_enough:
        log.warning("%s: no clean file is %.1f s long; shorter ones are zero-padded", name, spec.segment_s)
    clean = long_enough or pool["clean"]
    rows = []
    for i in range(spec.num_utts):
        r = np.random.default_rng([cfg.seed, 1, set_index, i])
        rows.append(plan_utterance(cfg, r, f"{name}{i:06d}", n_samples, clean, pool, lists))
    return sorted(rows, key=lambda row: row["key"].encode())


def plan_utterance(
    cfg: SimulationConfig, r, tag: str, n_samples: int, clean: list, pool: dict, lists: dict
) -> dict:
    """One utterance's parameters, drawn from ``r``: clean segment, noises, RIR, SNR and level."""
    wav, dur, spk = lists["clean"]
    ckey = clean[r.integers(len(clean))]
    room = max(int(dur[ckey] * cfg.fs) - n_samples, 0)
    n_noise = int(r.integers(cfg.noises_per_mixture[0], cfg.noises_per_mixture[1] + 1))
    nkeys = [pool["noise"][r.integers(len(pool["noise"]))] for _ in range(n_noise)]
    noffs = [int(r.integers(max(int(lists["noise"][1][k] * cfg.fs), 1))) for k in nkeys]
    use_rir = r.random() < cfg.rir_prob
    rkey = pool["rir"][r.integers(len(pool["rir"]))] if use_rir else "-"
    return {
        "key": f"{spk[ckey]}-{tag}",
        "speaker": spk[ckey],
        "clean_key": ckey,
        "clean_path": wav[ckey],
        "clean_offset": int(r.integers(room + 1)),
        "num_samples": n_samples,
        "noise_keys": ",".join(nkeys),
        "noise_paths": "|".join(lists["noise"][0][k] for k in nkeys),
        "noise_offsets": ",".join(map(str, noffs)),
        "rir_key": rkey,
        "rir_path": lists["rir"][0][rkey] if use_rir else "-",
        "snr_db": f"{r.uniform(*cfg.snr_db):.3f}",
        "level_dbfs": f"{r.uniform(*cfg.speech_level_dbfs):.3f}",
    }


def write_meta(path: Path, rows: list[dict]) -> None:
    """Write meta.tsv, leaving an identical existing file untouched (its time stamp marks the plan)."""
    lines = ["\t".join(META_FIELDS)] + ["\t".join(str(row[f]) for f in META_FIELDS) for row in rows]
    text = "\n".join(lines) + "\n"
    if not (path.exists() and path.read_text(encoding="utf-8") == text):
        write_text_atomic(path, text)


def read_meta(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows and list(rows[0]) != META_FIELDS:
        raise ValueError(f"{path}: unexpected columns {list(rows[0])}")
    return rows


def _load(path: str, fs: int) -> np.ndarray:
    if not Path(path).is_file():
        raise ValueError(f"{path} does not exist (listed by stage 1; moved or deleted since? rerun stage 1)")
    audio, sr = sf.read(path, dtype="float32")
    if sr != fs or audio.ndim != 1:
        raise ValueError(f"{path}: expected {fs} Hz mono (run stage 1), got {sr} Hz, shape {audio.shape}")
    return audio


def render(cfg: SimulationConfig, meta: Path, out_dir: Path) -> None:
    stats: Counter = Counter()
    for row in read_meta(meta):
        outs = [out_dir / sub / f"{row['key']}.wav" for sub in ("noisy", "clean", "noise")]
        if all(o.exists() for o in outs):
            stats["cached"] += 1
            continue
        n = int(row["num_samples"])
        try:
            clean = _load(row["clean_path"], cfg.fs)[int(row["clean_offset"]) :][:n]
            if len(clean) < n:
                stats["zero_padded"] += 1
                clean = np.pad(clean, (0, n - len(clean)))
            noises = [
                fit_length(_load(p, cfg.fs), n, int(o))
                for p, o in zip(row["noise_paths"].split("|"), row["noise_offsets"].split(","), strict=True)
            ]
            rir = None if row["rir_key"] == "-" else _load(row["rir_path"], cfg.fs)
            m = mix(clean, noises, rir, float(row["snr_db"]), float(row["level_dbfs"]), cfg.fs,
                    cfg.early_reflection_ms, cfg.clipping)  # fmt: skip
        except (ValueError, sf.SoundFileError) as err:
            raise SystemExit(f"simulate: utterance {row['key']} ({row['clean_path']}): {err}") from err
        stats["scaled_to_avoid_clipping"] += m.scaled
        stats["clipped"] += m.clipped
        stats["reverberant"] += rir is not None
        # The noise file is written last: its presence marks the utterance complete. 16-bit PCM, as
        # DNS5 ships: float WAVs from libsndfile carry a timestamped PEAK chunk (not reproducible).
        for sub, audio in (("noisy", m.noisy), ("clean", m.target), ("noise", m.noise)):
            write_wav_atomic(out_dir / sub / f"{row['key']}.wav", audio, cfg.fs)
        stats["rendered"] += 1
    log.info("%s: %s", meta, dict(stats))


def finalize(cfg: SimulationConfig, meta: Path, audio_dir: Path, data_dir: Path) -> None:
    """Write the data dir; the summary is computed from the files, so it is the same after a resume."""
    rows = read_meta(meta)
    lists: dict[str, dict[str, str]] = {n: {} for n in ("wav.scp", "spk1.scp", "noise1.scp")}
    for row in rows:
        for name, sub in (("wav.scp", "noisy"), ("spk1.scp", "clean"), ("noise1.scp", "noise")):
            path = (audio_dir / sub / f"{row['key']}.wav").resolve()
            if not path.exists():
                raise SystemExit(f"simulate: {path} is missing: rerun the render step of stage 2")
            lists[name][row["key"]] = str(path)
    for name, items in lists.items():
        write_list(data_dir / name, items)
    utt2spk = {r["key"]: r["speaker"] for r in rows}
    write_list(data_dir / "utt2spk", utt2spk)
    spk2utt = defaultdict(list)
    for key in sorted(utt2spk, key=str.encode):
        spk2utt[utt2spk[key]].append(key)
    write_list(data_dir / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    write_list(data_dir / "utt2dur", {r["key"]: f"{int(r['num_samples']) / cfg.fs:.3f}" for r in rows})
    write_text_atomic(data_dir / "meta.tsv", meta.read_text(encoding="utf-8"))
    peak_limited = sum(
        abs(float(np.max(np.abs(sf.read(p, dtype="float32")[0]))) - PEAK) < 1e-4
        for p in lists["wav.scp"].values()
    )
    summary = {
        "utterances": len(rows),
        "speakers": len(spk2utt),
        "reverberant": sum(r["rir_key"] != "-" for r in rows),
        f"peak_limited_by_{cfg.clipping}": peak_limited,
        "hours": round(len(rows) and sum(int(r["num_samples"]) for r in rows) / cfg.fs / 3600, 4),
    }
    write_text_atomic(data_dir / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    log.info("%s: %s", data_dir, summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--list-dir", type=Path, required=True)
    p.add_argument("--sim-dir", type=Path, required=True)
    p.add_argument("--dm-dir", type=Path, help="also write the on-the-fly mixing lists of train here")
    p = sub.add_parser("render")
    p.add_argument("--meta", type=Path, required=True)
    p.add_argument("--audio-dir", type=Path, required=True)
    p = sub.add_parser("finalize")
    p.add_argument("--meta", type=Path, required=True)
    p.add_argument("--audio-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    try:
        cfg = load_simulation_config(args.config)
    except ValueError as err:
        raise SystemExit(f"simulate: config error: {err}") from err
    if args.cmd == "plan":
        plan(cfg, args.list_dir, args.sim_dir, args.dm_dir)
    elif args.cmd == "render":
        render(cfg, args.meta, args.audio_dir)
    else:
        finalize(cfg, args.meta, args.audio_dir, args.data_dir)


if __name__ == "__main__":
    main()
