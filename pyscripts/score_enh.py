#!/usr/bin/env python3
"""Score enhanced speech per utterance (PESQ, STOI, SI-SNR, DNSMOS), resumably; merge job parts.

Score one job's share (``local/score.sh`` runs one of these per job):

    score_enh.py --inf-scp exp/enh_pl/decode_test/spk1.scp --ref-scp data/test/spk1.scp \\
        --key-file keys.1.scp --output-dir scoring/logdir/part.1 --metrics pesq,stoi,si_snr,dnsmos

writes ``<output-dir>/<METRIC>`` (``key value`` lines, sorted) for METRIC in PESQ_WB, STOI, SI_SNR,
DNSMOS_P808, DNSMOS_SIG, DNSMOS_BAK, DNSMOS_OVRL, and ``flagged.tsv`` (key, metric, reason) for every
value written as ``nan``. Each scored utterance is appended to ``<output-dir>/.journal.jsonl`` at once, so
a killed job loses at most the utterance in progress; a rerun scores only the (key, metric) pairs that
are missing. Without ``--ref-scp`` (DNS5 dev and blind sets ship no clean speech) only DNSMOS is scored.

Merge the parts and summarise (mean, 95 % t-interval half-width, flagged count per metric):

    score_enh.py --merge --inf-scp ... [--ref-scp ...] --metrics ... --output-dir scoring \\
        scoring/logdir/part.1 scoring/logdir/part.2

writes ``scoring/<METRIC>``, ``scoring/flagged.tsv`` and ``scoring/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tfgridnet_pl.fileio import write_list, write_text_atomic
from tfgridnet_pl.scoring.store import FLAGGED, Store, fmt, read_keys, read_scp, stamp, write_flags
from tfgridnet_pl.scoring.summary import merge_parts, summarize
from tfgridnet_pl.scoring.utterance import INTRUSIVE, METRIC_INFO, metric_names, score_key

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"

log = logging.getLogger("score_enh")


# -- one job's share ----------------------------------------------------------------------------------------
def run_score(args) -> None:
    has_ref = args.ref_scp is not None
    metrics = metric_names(args.metrics, has_ref)
    inf = read_scp(args.inf_scp)
    ref = read_scp(args.ref_scp) if has_ref else {}
    keys = read_keys(args.key_file) if args.key_file else list(inf)
    for k in keys:
        if k not in inf:
            raise SystemExit(f"score_enh.py: key {k!r} has no enhanced audio in {args.inf_scp}")
        if has_ref and any(m in INTRUSIVE for m in metrics) and k not in ref:
            raise SystemExit(f"score_enh.py: key {k!r} has no reference in {args.ref_scp}")
    out = Path(args.output_dir)
    store = Store(out, metrics)
    # the stamp covers the reference whenever one is given
    stamps = {k: stamp(inf[k]) + (f"|{stamp(ref[k])}" if has_ref else "") for k in keys}
    changed = store.invalidate(stamps)
    if changed:
        log.warning("%d keys were scored before but their audio changed since: scoring them again", changed)
    todo = [(k, store.missing(k)) for k in keys]
    todo = [(k, ms) for k, ms in todo if ms]
    log.info(
        "%d keys, %d already fully scored, %d to score (metrics: %s)",
        len(keys),
        len(keys) - len(todo),
        len(todo),
        ", ".join(metrics),
    )
    counters = score_all(todo, inf, ref, stamps, store, args.fs, args.num_threads)
    store.finish(keys)
    log_done(counters, len(todo), len(keys), out)


def score_all(
    todo: list[tuple[str, list[str]]], inf: dict, ref: dict, stamps: dict, store: Store, fs: int, threads: int
) -> dict:
    """Score the (key, metrics) pairs of ``todo`` into ``store`` (DNSMOS with ``threads`` threads); return
    the counters."""
    dnsmos = None
    if any(m.startswith("DNSMOS_") for _, ms in todo for m in ms):
        from tfgridnet_pl.scoring.dnsmos import DNSMOS

        dnsmos = DNSMOS(num_threads=threads)
    from tqdm import tqdm

    counters = {"trimmed": 0, "max_trim": 0, "flagged": 0}
    bar = tqdm(
        todo,
        desc=f"scoring {store.dir}",
        unit="utt",
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
    for key, ms in bar:
        scores, flags = score_key(key, inf[key], ref.get(key), ms, fs, dnsmos, counters)
        for m, reason in flags.items():
            log.warning("%s %s: flagged, %s (%s)", key, m, fmt(scores[m]), reason)
        counters["flagged"] += len(flags)
        store.add(key, stamps[key], scores, flags)
    return counters


def log_done(counters: dict, n_scored: int, n_keys: int, out: Path) -> None:
    if counters["trimmed"]:
        log.warning(
            "%d enhanced/reference pairs differed in length and were trimmed to the shorter "
            "(largest difference %d samples)",
            counters["trimmed"],
            counters["max_trim"],
        )
    log.info(
        "done: scored %d keys, skipped %d already scored, trimmed %d pairs, %d values flagged (nan or inf) "
        "(this run); outputs in %s",
        n_scored,
        n_keys - n_scored,
        counters["trimmed"],
        counters["flagged"],
        out,
    )


# -- merging the parts --------------------------------------------------------------------------------------
def run_merge(args) -> None:
    has_ref = args.ref_scp is not None
    metrics = metric_names(args.metrics, has_ref)
    keys = read_keys(args.key_file) if args.key_file else list(read_scp(args.inf_scp))
    merged, flags = merge_parts([Path(p) for p in args.parts], metrics)
    for m in metrics:
        lost = [k for k in keys if k not in merged[m]]
        if lost:
            raise SystemExit(f"score_enh.py: {len(lost)} keys have no {m} score in any part, e.g. {lost[:3]}")
    out = Path(args.output_dir)
    summary = {
        "n_utts": len(keys),
        "has_reference": has_ref,
        "inf_scp": args.inf_scp,
        "ref_scp": args.ref_scp,
        "metrics": {},
    }
    for m in metrics:
        write_list(out / m, {k: fmt(merged[m][k]) for k in keys})
        summary["metrics"][m] = s = {**summarize([merged[m][k] for k in keys]), **METRIC_INFO[m]}
        if s["n_flagged"]:
            log.warning(
                "%s: %d of %d utterances flagged (nan/inf), excluded from the mean; see %s",
                m,
                s["n_flagged"],
                len(keys),
                out / FLAGGED,
            )
        log.info("%s: mean %s +- %s (n=%d)", m, s["mean"], s["ci95"], s["n"])
    keyset = set(keys)
    write_flags(out / FLAGGED, {km: r for km, r in flags.items() if km[0] in keyset})
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("merged %d parts into %s", len(args.parts), out / "summary.json")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inf-scp", required=True, help="enhanced (or noisy) audio list, key -> wav")
    p.add_argument("--ref-scp", default=None, help="clean reference list; omit for a set without references")
    p.add_argument("--key-file", default=None, help="keys to score (first column); default: all of --inf-scp")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--metrics", default="pesq,stoi,si_snr,dnsmos", help="comma list: pesq,stoi,si_snr,dnsmos")
    p.add_argument("--fs", type=int, default=16000, help="sampling rate every file must have")
    p.add_argument("--num-threads", type=int, default=1, help="onnxruntime intra-op threads for DNSMOS")
    p.add_argument("--merge", action="store_true", help="merge the part dirs given as arguments")
    p.add_argument("parts", nargs="*", help="(with --merge) the part output dirs")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    if args.merge:
        if not args.parts:
            raise SystemExit("score_enh.py: --merge needs the part dirs as arguments")
        run_merge(args)
    else:
        if args.parts:
            raise SystemExit(f"score_enh.py: unexpected arguments {args.parts} (did you mean --merge?)")
        run_score(args)


if __name__ == "__main__":
    main()
