"""local/lib.sh: the one rule for "done" (keys, markers), job splitting and option checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``script`` in bash with local/lib.sh sourced, from a folder that has local/ and utils/."""
    for name in ("local", "utils"):
        if not (cwd / name).exists():
            (cwd / name).symlink_to(ROOT / name)
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; . local/lib.sh; {script}"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_a_step_is_done_only_for_the_key_it_was_done_with(tmp_path):
    (tmp_path / "in.txt").write_text("one\n")
    script = """
        key=$(key_of opt=1 file:in.txt)
        if step_done out "${key}"; then echo skipped
        else step_begin out "${key}"; echo x > out/o; step_end out; echo made; fi
    """
    assert sh(script, tmp_path).stdout.strip() == "made"
    assert sh(script, tmp_path).stdout.strip() == "skipped"
    (tmp_path / "in.txt").write_text("two\n")  # a changed input: made again, the old outputs removed first
    (tmp_path / "out" / "stale").write_text("from before")
    proc = sh(script, tmp_path)
    assert proc.stdout.strip().endswith("made") and "what changed: < in.txt" in proc.stdout
    assert not (tmp_path / "out" / "stale").exists()
    assert (tmp_path / "out" / ".done").read_text() == (tmp_path / "out" / ".key").read_text()


def test_an_interrupted_step_with_the_same_key_resumes_and_keep_moves_other_outputs_aside(tmp_path):
    proc = sh("step_begin out k1; echo partial > out/p; step_begin out k1; cat out/p", tmp_path)
    assert proc.stdout.strip() == "partial"  # same key: the partial outputs stay (resume)
    assert sh("step_done out k1 || echo not-done", tmp_path).stdout.strip() == "not-done"  # no .done yet
    proc = sh("step_begin out k2 keep; ls -A out", tmp_path)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("out.superseded-")]
    assert "moving it to out.superseded-" in proc.stdout and proc.stdout.splitlines()[-1] == ".key"
    assert len(aside) == 1 and (aside[0] / "p").read_text() == "partial\n"


def test_a_folder_of_unknown_outputs_is_cleared_before_a_step(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("no key")
    proc = sh("step_begin out k1", tmp_path)
    assert "has no out/.key" in proc.stdout and not (tmp_path / "out" / "old").exists()


def test_key_of_names_a_missing_input(tmp_path):
    proc = sh("key=$(key_of file:nowhere.txt); echo reached", tmp_path)
    assert proc.returncode != 0 and "nowhere.txt is missing" in proc.stderr and "reached" not in proc.stdout


def test_jobs_are_capped_by_the_lines_and_split_without_losing_any(tmp_path):
    (tmp_path / "list").write_text("".join(f"u{i} x\n" for i in range(5)))
    proc = sh('n=$(capped_nj 8 list); echo "${n}"; split_list list "${n}" parts/JOB.scp', tmp_path)
    assert proc.stdout.strip() == "5"
    parts = [(tmp_path / "parts" / f"{j}.scp").read_text() for j in range(1, 6)]
    assert "".join(parts) == (tmp_path / "list").read_text()


def test_option_checks_exit_2_naming_the_option(tmp_path):
    proc = sh("check_int nj 0 1", tmp_path)
    assert proc.returncode == 2 and "--nj '0': expected an integer of at least 1" in proc.stderr
    proc = sh("check_names peers 'gtcrn x' gtcrn dfn3", tmp_path)
    assert proc.returncode == 2 and "--peers: unknown 'x' (known: gtcrn dfn3)" in proc.stderr
    assert sh("check_int stage 7 0 7 && check_names models 'dl pl_relative'", tmp_path).returncode == 0


def test_run_batches_runs_n_at_a_time_tries_every_item_and_names_the_failures(tmp_path):
    # "a" waits (up to 10 s) for "b" to start: only jobs that run at once can both end well. "c" and
    # "e" start only after the batch before theirs has ended. "b" and "d" fail.
    script = """
        job() { touch "started.$1"
                case $1 in
                    a) for i in $(seq 100); do [ -e started.b ] && break; sleep 0.1; done
                       [ -e started.b ] || echo "a ran without b" >> notes ;;
                    c) { [ -e ended.a ] && [ -e ended.b ]; } || echo "c before a, b ended" >> notes ;;
                    e) { [ -e ended.c ] && [ -e ended.d ]; } || echo "e before c, d ended" >> notes ;;
                esac
                touch "ended.$1"; [ "$1" != b ] && [ "$1" != d ]; }
        run_batches 2 job a b c d e
    """
    proc = sh(script, tmp_path)
    assert proc.returncode == 1 and "job failed for: b d" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("ended.*")) == [f"ended.{x}" for x in "abcde"]  # all tried
    assert not (tmp_path / "notes").exists(), (tmp_path / "notes").read_text()
    ok = sh('job() { echo "$1" >> tried; }; run_batches 3 job x y; echo done', tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == "done"
