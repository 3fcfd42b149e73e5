"""Scores of one output dir of ``pyscripts/score_enh.py``, kept across kills: metric files, flags, journal.

Each scored utterance is appended to ``<dir>/.journal.jsonl`` at once, so a killed job loses at most the
utterance in progress; :meth:`Store.finish` writes the metric files (``key value`` lines, sorted),
``flagged.tsv`` and ``stamps`` atomically and drops the journal. A stored score counts only while the
key's audio is unchanged (``stamps``: modification time and size of its files when scored).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from tfgridnet_pl.fileio import read_list, write_list, write_text_atomic

JOURNAL = ".journal.jsonl"
STAMPS = "stamps"
FLAGGED = "flagged.tsv"

log = logging.getLogger("score_enh")


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
