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
import math
import os
import sys
from pathlib import Path

import numpy as np

from tfgridnet_pl.fileio import read_list, write_list, write_text_atomic

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
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
JOURNAL = ".journal.jsonl"
STAMPS = "stamps"
FLAGGED = "flagged.tsv"

log = logging.getLogger("score_enh")


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


def read_scp(path: str | Path) -> dict[str, str]:
    """A ``key value`` list; SystemExit naming the file when it is missing or malformed."""
    try:
        return read_list(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"score_enh.py: {exc}") from exc


def read_keys(path: str | Path) -> list[str]:
    """First column of a key file (extra columns are ignored); SystemExit on a duplicate key."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SystemExit(f"score_enh.py: cannot read key file {path}: {exc.strerror}") from exc
    keys, seen = [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key = line.split()[0]
        if key in seen:
            raise SystemExit(f"score_enh.py: {path}:{n}: duplicate key {key!r}")
        seen.add(key)
        keys.append(key)
    return keys


def parse_score(path: Path, key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SystemExit(
            f"score_enh.py: {path}: key {key!r} has a value that is not a number: {value!r}"
        ) from None


def fmt(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(float(value))


def stamp(value: str) -> str:
    """Modification time and size of the file behind an scp value, to notice audio rewritten in place."""
    if value.endswith("|"):
        return "pipe"
    path = value.rsplit(":", 1)[0] if ".ark:" in value else value
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SystemExit(f"score_enh.py: cannot read {path!r}: {exc.strerror}") from exc
    return f"{st.st_mtime_ns}:{st.st_size}"


class Store:
    """Scores of one output dir: metric files, flagged.tsv, stamps and the append-only journal.

    A stored score counts only while the key's audio is unchanged: ``stamps`` holds, per key, the
    modification time and size of its enhanced (and reference) file when it was scored.
    """

    def __init__(self, out_dir: Path, metrics: list[str]):
        self.dir, self.metrics = out_dir, metrics
        self.scores: dict[str, dict[str, float]] = {m: {} for m in metrics}
        self.flags: dict[tuple[str, str], str] = {}
        self.stamps: dict[str, str] = read_scp(out_dir / STAMPS) if (out_dir / STAMPS).exists() else {}
        for m in metrics:
            if (out_dir / m).exists():
                self.scores[m].update(
                    {k: parse_score(out_dir / m, k, v) for k, v in read_scp(out_dir / m).items()}
                )
        if (out_dir / FLAGGED).exists():
            self.flags.update(read_flags(out_dir / FLAGGED))
        self._replay_journal()
        self._journal = None

    def _replay_journal(self) -> None:
        path = self.dir / JOURNAL
        if not path.exists():
            return
        good = bad = 0
        for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line:
                continue
            try:
                rec = json.loads(line)
                key, key_stamp, scores = rec["key"], rec["stamp"], rec["scores"]
            except (ValueError, KeyError):
                bad += 1  # a line cut short by a kill: that utterance is scored again
                log.warning("%s:%d: unreadable journal line (cut short by a kill?); rescoring it", path, n)
                continue
            good += 1
            if self.stamps.get(key) != key_stamp:  # rescored after its audio changed
                self._forget(key)
            self.stamps[key] = key_stamp
            for m, v in scores.items():
                if m in self.scores:
                    self.scores[m][key] = float("nan") if v is None else float(v)
            for m, reason in rec.get("flags", {}).items():
                self.flags[(key, m)] = reason
        log.info("resumed %d journal entries from %s (%d unreadable)", good, path, bad)

    def _forget(self, key: str) -> None:
        for m in self.metrics:
            self.scores[m].pop(key, None)
        for km in [km for km in self.flags if km[0] == key]:
            del self.flags[km]

    def invalidate(self, current: dict[str, str]) -> int:
        """Forget the scores of keys whose audio changed (or has no stamp); return how many."""
        changed = [
            k
            for k in current
            if self.stamps.get(k) != current[k] and any(k in d for d in self.scores.values())
        ]
        for k in changed:
            self._forget(k)
        return len(changed)

    def missing(self, key: str) -> list[str]:
        return [m for m in self.metrics if key not in self.scores[m]]

    def add(self, key: str, key_stamp: str, scores: dict[str, float], flags: dict[str, str]) -> None:
        self.stamps[key] = key_stamp
        for m, v in scores.items():
            self.scores[m][key] = v
        for m, reason in flags.items():
            self.flags[(key, m)] = reason
        if self._journal is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.dir / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115
        rec = {
            "key": key,
            "stamp": key_stamp,
            "scores": {m: (v if math.isfinite(v) else None) for m, v in scores.items()},
        }
        if flags:
            rec["flags"] = flags
        self._journal.write(json.dumps(rec) + "\n")
        self._journal.flush()

    def finish(self, keys: list[str]) -> None:
        """Write the metric files (only ``keys``), flagged.tsv and stamps atomically; drop the journal.

        Files whose content is unchanged are not rewritten, so a finished part keeps its time stamps."""
        keyset = set(keys)
        for m in self.metrics:
            extra = set(self.scores[m]) - keyset
            if extra:
                log.info("%s: dropping %d scores of keys not in the key file", m, len(extra))
            scores = {k: fmt(self.scores[m][k]) for k in keys if k in self.scores[m]}
            write_list(self.dir / m, scores, keep_identical=True)
        write_flags(self.dir / FLAGGED, {km: r for km, r in self.flags.items() if km[0] in keyset})
        write_list(
            self.dir / STAMPS, {k: self.stamps[k] for k in keys if k in self.stamps}, keep_identical=True
        )
        if self._journal is not None:
            self._journal.close()
        (self.dir / JOURNAL).unlink(missing_ok=True)


def read_flags(path: Path) -> dict[tuple[str, str], str]:
    """flagged.tsv: a header line, then ``key<TAB>metric<TAB>reason`` rows."""
    flags = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise SystemExit(f"score_enh.py: {path}:{n}: expected key, metric and reason separated by tabs")
        flags[(parts[0], parts[1])] = parts[2]
    return flags


def write_flags(path: Path, flags: dict[tuple[str, str], str]) -> None:
    rows = sorted(flags.items(), key=lambda kv: (kv[0][0].encode(), kv[0][1]))
    text = "key\tmetric\treason\n" + "".join(f"{k}\t{m}\t{r}\n" for (k, m), r in rows)
    write_text_atomic(path, text, keep_identical=True)


def bad_audio_reason(audio: np.ndarray) -> str | None:
    if not np.all(np.isfinite(audio)):
        return f"{int(np.sum(~np.isfinite(audio)))} NaN/Inf samples"
    if not np.any(audio):
        return "all-zero audio"
    return None


def score_key(key, inf_path, ref_path, todo, args, dnsmos, counters) -> tuple[dict, dict]:
    """Scores and flag reasons of the metrics ``todo`` for one key."""
    from tfgridnet_pl.scoring import metrics as M

    est = load_audio(inf_path, args.fs, f"enhanced audio of key {key!r}")
    scores, flags = {}, {}
    reason = bad_audio_reason(est)
    if reason:
        return {m: float("nan") for m in todo}, {m: f"enhanced: {reason}" for m in todo}
    intrusive = [m for m in todo if m in INTRUSIVE]
    if intrusive:
        ref = load_audio(ref_path, args.fs, f"reference audio of key {key!r}")
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
                scores[m] = M.compute(m, ref_al, est_al, args.fs)
            except M.MetricError as exc:
                scores[m], flags[m] = float("nan"), str(exc)
    dns = [m for m in todo if m.startswith("DNSMOS_")]
    if dns:
        res = dnsmos(est, args.fs)
        for m in dns:
            scores[m] = res[m.removeprefix("DNSMOS_")]
    for m, v in scores.items():
        if not math.isfinite(v) and m not in flags:  # e.g. SI-SNR of an estimate equal to the reference
            flags[m] = f"value is {v}" + (": the estimate equals the reference" if v == math.inf else "")
    return scores, flags


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
    uses_ref = has_ref  # the stamp covers the reference whenever one is given
    stamps = {k: stamp(inf[k]) + (f"|{stamp(ref[k])}" if uses_ref else "") for k in keys}
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
    dnsmos = None
    if any(m.startswith("DNSMOS_") for _, ms in todo for m in ms):
        from tfgridnet_pl.scoring.dnsmos import DNSMOS

        dnsmos = DNSMOS(num_threads=args.num_threads)
    from tqdm import tqdm

    counters = {"trimmed": 0, "max_trim": 0, "flagged": 0}
    bar = tqdm(
        todo,
        desc=f"scoring {out}",
        unit="utt",
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
    for key, ms in bar:
        scores, flags = score_key(key, inf[key], ref.get(key), ms, args, dnsmos, counters)
        for m, reason in flags.items():
            log.warning("%s %s: flagged, %s (%s)", key, m, fmt(scores[m]), reason)
        counters["flagged"] += len(flags)
        store.add(key, stamps[key], scores, flags)
    store.finish(keys)
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
        len(todo),
        len(keys) - len(todo),
        counters["trimmed"],
        counters["flagged"],
        out,
    )


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


def run_merge(args) -> None:
    has_ref = args.ref_scp is not None
    metrics = metric_names(args.metrics, has_ref)
    keys = read_keys(args.key_file) if args.key_file else list(read_scp(args.inf_scp))
    merged: dict[str, dict[str, float]] = {m: {} for m in metrics}
    origin: dict[tuple[str, str], str] = {}
    flags: dict[tuple[str, str], str] = {}
    for part in map(Path, args.parts):
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
        summary["metrics"][m] = {**summarize([merged[m][k] for k in keys]), **METRIC_INFO[m]}
        s = summary["metrics"][m]
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
