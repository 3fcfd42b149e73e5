"""Benchmark section ``listing``: stage 1's list preparation on a generated DNS5 tree of 1 M empty files.

What it times, each as the recipe runs it (separate processes, the real scripts):

  scan    ``local/prepare_dns5.py scan``: walk the tree, key every file, write the three inventories
  split   ``utils/split_scp.pl``: the clean inventory into ``--listing-nj`` job shares
  merge   ``local/prepare_dns5.py merge``: join converted shares into wav.scp/utt2dur/utt2spk/spk2utt
          (the shares are written here as ``convert`` writes them: decoding audio is not listing)
  validate ``utils/validate_data_dir.sh`` on the merged lists (sorted unique keys, the same keys in
          every list, spk2utt = utt2spk, every listed file exists)

The tree follows DNS5's layout and names: read_speech files named like
``book_00000_chp_0009_reader_06709_0_seg_0.wav`` in one flat folder (as DNS5 ships them), noise and
SLR26/SLR28 impulse responses beside them. Files are empty: listing never opens them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the recipe (this is pyscripts/tfgridnet_pl/bench/)


def add_listing_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("listing")
    g.add_argument("--listing-files", type=int, default=1_000_000, help="files in the generated tree")
    g.add_argument("--listing-nj", type=int, default=2, help="job shares for split/merge")
    g.add_argument("--listing-dir", default=None, help="where to build the tree (default: a temp dir)")


def make_tree(root: Path, n_files: int) -> dict[str, int]:
    """A DNS5-layout tree of ``n_files`` empty files: 90 % read speech, 6 % noise, 4 % RIRs."""
    counts = {"clean": n_files * 90 // 100, "noise": n_files * 6 // 100}
    counts["rir"] = n_files - counts["clean"] - counts["noise"]
    base = root / "datasets_fullband"
    clean = base / "clean_fullband" / "read_speech"
    noise = base / "noise_fullband"
    rirs = [base / "impulse_responses" / "SLR26" / "simulated_rirs_48k" / "smallroom" / "Room001",
            base / "impulse_responses" / "SLR28" / "RIRS_NOISES" / "real_rirs_isotropic_noises"]  # fmt: skip
    for folder in (clean, noise, *rirs):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(counts["clean"]):
        name = f"book_{i // 5000:05d}_chp_{i // 250 % 20:04d}_reader_{i // 100:05d}_{i % 7}_seg_{i % 100}.wav"
        os.close(os.open(clean / name, os.O_CREAT | os.O_WRONLY, 0o644))
    for i in range(counts["noise"]):
        os.close(os.open(noise / f"{i % 997}_noise_fileid_{i}.wav", os.O_CREAT | os.O_WRONLY, 0o644))
    for i in range(counts["rir"]):
        folder = rirs[i % 2]
        os.close(os.open(folder / f"Room001-{i:07d}.wav", os.O_CREAT | os.O_WRONLY, 0o644))
    return counts


def _timed(cmd: list[str], env: dict) -> float:
    start = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return took


def _write_converted_shares(shares: list[Path], audio: Path) -> None:
    """Turn the job shares of the inventory into what ``convert`` writes (a path and a duration);
    every path is ``audio`` (one existing file), so that validation can check existence."""
    for share in shares:
        out = share.with_suffix(".out")
        with open(share, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
            for line in src:
                key, speaker, rel = line.rstrip("\n").split("\t")
                dst.write(f"{key}\t{speaker}\t{audio}\t3.000\n")
        Path(f"{out}.bad").write_text("")
        Path(f"{out}.stats.json").write_text('{"cached": 0}')


def run_listing(args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'utils'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "pyscripts"), env.get("PYTHONPATH")]))
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="bench_listing_", dir=args.listing_dir))
    try:
        start = time.monotonic()
        counts = make_tree(work / "dns5", args.listing_files)
        made = time.monotonic() - start
        print(f"  generated {sum(counts.values()):,} empty files ({counts}) in {made:.1f} s", flush=True)
        inv = work / "inventory"
        times = {}
        times["scan"] = _timed([python, "local/prepare_dns5.py", "scan", "--root", str(work / "dns5"),
                                "--subsets", "read_speech", "--out-dir", str(inv)], env)  # fmt: skip
        shares = [inv / f"clean.{j}.tsv" for j in range(1, args.listing_nj + 1)]
        times["split"] = _timed(["utils/split_scp.pl", str(inv / "clean.tsv"), *map(str, shares)], env)
        (work / "one.wav").touch()
        _write_converted_shares(shares, work / "one.wav")
        lists = work / "lists" / "clean"
        outs = [str(s.with_suffix(".out")) for s in shares]
        times["merge"] = _timed([python, "local/prepare_dns5.py", "merge", "--kind", "clean",
                                 "--list-dir", str(lists), *outs], env)  # fmt: skip
        times["validate"] = _timed(["utils/validate_data_dir.sh", "--no-text", "--no-feats", str(lists)], env)
        rows = sum(1 for _ in open(lists / "wav.scp", encoding="utf-8"))
        if rows != counts["clean"]:
            raise RuntimeError(f"merge listed {rows} clean files, the tree has {counts['clean']}")
        total = sum(times.values())
        for name, took in times.items():
            print(f"  {name:8s} {took:6.1f} s", flush=True)
        n = sum(counts.values())
        print(
            f"  total    {total:6.1f} s for {n:,} files ({n / total:,.0f} files/s); goal < 60 s", flush=True
        )
        return {"files": n, "generate_s": round(made, 1), **{f"{k}_s": round(v, 1) for k, v in times.items()},
                "total_s": round(total, 1)}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


# name: (one-line help, run function, add-arguments function)
SECTIONS: dict[str, tuple[str, Callable, Callable]] = {
    "listing": (
        "stage 1 listing (scan, split, merge) of a generated DNS5 tree of 1 M empty files",
        run_listing,
        add_listing_args,
    ),
}
