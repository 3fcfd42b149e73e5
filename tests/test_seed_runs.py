"""local/seed_runs.sh: which runs RESULTS.md's spread over seeds combines."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_dir(root: Path, run: str, config: str, decode_opts: str, scored: bool = True) -> None:
    """exp/enh_<run> with the markers a trained, decoded (with ``decode_opts``) and scored run has."""
    exp = root / "exp" / f"enh_{run}"
    (exp / "decode_test" / "scoring").mkdir(parents=True)
    sha = hashlib.sha1((root / config).read_bytes()).hexdigest()
    (exp / ".done").write_text(f"{config} {sha}\nseed=0\n")
    (exp / "decode_test" / ".done").write_text(
        f"exp/enh_{run}/valid.loss.best.pth 1\nexp/enh_{run}/config.yaml 2\n{decode_opts}fs=16000\n"
    )
    if scored:
        (exp / "decode_test" / "scoring" / ".done").write_text("scored\n")


def test_the_spread_combines_runs_trained_and_decoded_alike(tmp_path):
    for name in ("local", "utils"):
        (tmp_path / name).symlink_to(ROOT / name)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "train_dl.yaml").write_text("lr: 1\n")
    (conf / "train_pl.yaml").write_text("lr: 1\n")
    mixed = "conf/decode.yaml a\nconf/decode_model.yaml b\n"
    run_dir(tmp_path, "dl", "conf/train_dl.yaml", mixed)
    run_dir(tmp_path, "dl_seed1", "conf/train_dl.yaml", mixed)
    run_dir(tmp_path, "dl_seed2", "conf/train_dl.yaml", "conf/decode.yaml a\n")  # decoded without overrides
    run_dir(tmp_path, "dl_seed3", "conf/train_dl.yaml", mixed, scored=False)  # not scored yet
    run_dir(tmp_path, "pl", "conf/train_pl.yaml", mixed)  # one seed only: no spread
    (conf / "train_pl.yaml").write_text("lr: 2\n")  # ... and now trained from another config
    run_dir(tmp_path, "pl_seed1", "conf/train_pl.yaml", mixed)
    proc = subprocess.run(
        ["local/seed_runs.sh", "--set", "test", "dl pl dl_seed1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "dl dl_seed1\n"
    assert "exp/enh_dl_seed2 is left out of the spread over seeds: decoded with other options" in proc.stderr
    assert (
        "exp/enh_pl is left out of the spread over seeds: trained from another conf/train_pl.yaml"
        in proc.stderr
    )
    assert "dl_seed3" not in proc.stderr  # unfinished runs are simply not there yet
