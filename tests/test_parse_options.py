"""utils/parse_options.sh: Kaldi-style --option parsing for the recipe's shell scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
nj=4
stop_stage=100
use_gpu=false
out_dir="exp/x"
help_message="Usage: demo.sh [options] <a> <b>"
. {ROOT}/utils/parse_options.sh
echo "nj=$nj stop_stage=$stop_stage use_gpu=$use_gpu out_dir=$out_dir"
echo "nargs=$#"
for a in "$@"; do echo "arg=[$a]"; done
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=script.parent)


@pytest.mark.parametrize("args", [["--stop-stage", "3"], ["--stop_stage", "3"], ["--stop-stage=3"]])
def test_dash_underscore_and_equals_forms(demo: Path, args: list[str]) -> None:
    r = run(demo, *args)
    assert r.returncode == 0, r.stderr
    assert "stop_stage=3 " in r.stdout
    assert "nj=4 " in r.stdout


def test_values_with_spaces_and_equals(demo: Path) -> None:
    r = run(demo, "--out-dir", "a b=c", "--nj=8")
    assert r.returncode == 0, r.stderr
    assert "nj=8 " in r.stdout and "out_dir=a b=c" in r.stdout


def test_unknown_option_prints_usage_and_exits_2(demo: Path) -> None:
    r = run(demo, "--nope", "1")
    assert r.returncode == 2
    assert "unknown option --nope" in r.stderr
    assert "Usage: demo.sh" in r.stderr
    assert r.stdout == ""


def test_option_without_value_exits_2(demo: Path) -> None:
    r = run(demo, "--nj")
    assert r.returncode == 2
    assert "--nj needs a value" in r.stderr


@pytest.mark.parametrize("value, ok", [("true", True), ("false", True), ("yes", False), ("1", False)])
def test_boolean_defaults_take_only_true_or_false(demo: Path, value: str, ok: bool) -> None:
    r = run(demo, "--use-gpu", value)
    if ok:
        assert r.returncode == 0, r.stderr
        assert f"use_gpu={value}" in r.stdout
    else:
        assert r.returncode == 2
        assert f"takes true or false, not '{value}'" in r.stderr


def test_help_lists_options_with_current_values(demo: Path) -> None:
    r = run(demo, "--nj", "7", "--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Usage: demo.sh [options] <a> <b>"
    options = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines if line.startswith("  --")}
    assert options == {"--nj": "7", "--stop-stage": "100", "--use-gpu": "false", "--out-dir": "exp/x"}
    assert "nargs=" not in r.stdout  # --help exits before the script goes on


def test_positional_arguments_are_kept(demo: Path) -> None:
    r = run(demo, "--nj", "2", "data/train", "two words", "--not-an-option")
    assert r.returncode == 0, r.stderr
    assert "nargs=3" in r.stdout
    assert "arg=[data/train]" in r.stdout and "arg=[two words]" in r.stdout
    assert "arg=[--not-an-option]" in r.stdout


def test_double_dash_ends_options(demo: Path) -> None:
    r = run(demo, "--nj", "2", "--", "--nj", "5")
    assert r.returncode == 0, r.stderr
    assert "nj=2 " in r.stdout and "nargs=2" in r.stdout and "arg=[--nj]" in r.stdout


def test_config_file_is_sourced_and_later_options_win(demo: Path, tmp_path: Path) -> None:
    conf = tmp_path / "opts.conf"
    conf.write_text("nj=11\nstop_stage=5\n")
    r = run(demo, "--config", str(conf), "--nj", "12")
    assert r.returncode == 0, r.stderr
    assert "nj=12 stop_stage=5 " in r.stdout
    missing = run(demo, "--config", str(tmp_path / "none.conf"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr
