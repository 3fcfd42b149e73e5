#!/usr/bin/env python3
"""Print one console line per finished epoch while ESPnet trains (local/train.sh runs this).

    python3 pyscripts/train_progress.py --log exp/enh_pl/train.log --pid 1234 --since 1764264000 --tag pl

Follows ESPnet's ``train.log`` until process ``--pid`` (the training launcher) ends, and for each
``Nepoch results: [train] ... [valid] ...`` line prints the model, the epoch of ``max_epoch``, the
training loss, the validation SI-SNR and PESQ, the time since this run started and an estimate of the
time left. Only a log written since ``--since`` (seconds since the epoch) is read: ESPnet's launcher
renames the log of an earlier run to ``train.1.log`` and starts a new one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import yaml

EPOCH = re.compile(r"(\d+)epoch results: \[train\] (.*?)(?: \[valid\] (.*))?$")
RESUMED = re.compile(r"The training was resumed using (.*)")


def stats(text: str | None) -> dict[str, str]:
    """``a=1.0, b=2`` -> {"a": "1.0", "b": "2"} (ESPnet's reporter format)."""
    pairs = (item.split("=", 1) for item in (text or "").split(", ") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def epoch_line(
    tag: str, match: re.Match, max_epoch: int | None, first: int, started: float, now: float
) -> str:
    """The console line of one epoch-results log line."""
    epoch = int(match.group(1))
    train, valid = stats(match.group(2)), stats(match.group(3))
    parts = [f"{tag}: epoch {epoch}/{max_epoch or '?'}", f"train loss {train.get('loss', '?')}"]
    sisnr = next((v for k, v in valid.items() if k.endswith("si_snr_db") or k == "si_snr"), None)
    if sisnr is not None:
        parts.append(f"valid SI-SNR {float(sisnr):.2f} dB")
    if "pesq" in valid:
        parts.append(f"PESQ {float(valid['pesq']):.3f}")
    elapsed = now - started
    parts.append(f"elapsed {clock(elapsed)}")
    done = epoch - first + 1
    if max_epoch and done > 0 and epoch < max_epoch:
        parts.append(f"left ~{clock(elapsed / done * (max_epoch - epoch))}")
    return ", ".join(parts)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def max_epoch_of(exp_dir: Path) -> int | None:
    try:
        return int(yaml.safe_load((exp_dir / "config.yaml").read_text())["max_epoch"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def follow(log: Path, pid: int, since: float, tag: str, poll: float = 2.0) -> None:
    """Print epoch lines of ``log`` until ``pid`` ends (then read what is left once more)."""
    offset, inode, first, max_epoch = 0, None, None, None
    while True:
        running = alive(pid)
        try:
            st = log.stat()
        except FileNotFoundError:
            st = None
        if st is not None and st.st_mtime >= since:
            if st.st_ino != inode:
                offset, inode = 0, st.st_ino
            with open(log, "rb") as f:
                f.seek(offset)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]  # whole lines only; the rest is read next time
            offset += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                if RESUMED.search(line):
                    print(f"{tag}: resumed from {RESUMED.search(line).group(1)}", flush=True)
                match = EPOCH.search(line)
                if match:
                    max_epoch = max_epoch or max_epoch_of(log.parent)
                    first = first or int(match.group(1))
                    print(epoch_line(tag, match, max_epoch, first, since, time.time()), flush=True)
        if not running:
            return
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", type=Path, required=True, help="ESPnet's train.log")
    parser.add_argument("--pid", type=int, required=True, help="follow until this process ends")
    parser.add_argument("--since", type=float, required=True, help="start time of this run (epoch seconds)")
    parser.add_argument("--tag", required=True, help="model name on each line")
    args = parser.parse_args(argv)
    follow(args.log, args.pid, args.since, args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
