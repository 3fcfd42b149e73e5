"""utils/run.pl: local array jobs with Kaldi's interface (JOB=1:N, per-job logs, failure report)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_PL = str(ROOT / "utils" / "run.pl")


def run_pl(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([RUN_PL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_job_index_replaces_job_in_log_name_and_command(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "JOB=1:3", "exp/log/echo.JOB.log", "echo", "job JOB of 3")
    assert r.returncode == 0, r.stderr
    for i in (1, 2, 3):
        lines = (tmp_path / f"exp/log/echo.{i}.log").read_text().splitlines()
        assert lines[0] == f"# echo 'job {i} of 3'"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"job {i} of 3"
        assert re.fullmatch(r"# Accounting: time=\d+ threads=1", lines[3])
        assert re.fullmatch(r"# Ended \(code 0\) at .+", lines[4])


def test_one_string_command_keeps_its_shell_syntax(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "JOB=2:3", "log/p.JOB.log", "printf 'a\\nb\\nJOB\\n' | wc -l > out.JOB")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.2").read_text().strip() == "3"
    assert (tmp_path / "out.3").exists() and not (tmp_path / "out.1").exists()


def test_escaped_pipe_between_words_is_a_pipe_and_pipefail_is_on(tmp_path: Path) -> None:
    assert run_pl(tmp_path, "a.log", "echo", "x y", "|", "tr", "x", "z").returncode == 0
    assert "z y" in (tmp_path / "a.log").read_text()
    r = run_pl(tmp_path, "b.log", "false", "|", "cat")
    assert r.returncode == 1  # the failure on the left of the pipe is not hidden


def _intervals(folder: Path, name: str, n: int) -> list[tuple[float, float]]:
    stamp = lambda j, e: float((folder / f"{name}.{j}.{e}").read_text())  # noqa: E731
    return [(stamp(j, "start"), stamp(j, "end")) for j in range(1, n + 1)]


def test_jobs_run_in_parallel_up_to_max_jobs_run(tmp_path: Path) -> None:
    """Each job stamps its start and end; concurrency is read from the stamps, not from a stopwatch."""
    job = "date +%s.%N > {0}.JOB.start; sleep 1; date +%s.%N > {0}.JOB.end"
    r = run_pl(tmp_path, "--max-jobs-run", "4", "JOB=1:4", "log/s.JOB.log", job.format("s"))
    assert r.returncode == 0, r.stderr
    spans = _intervals(tmp_path, "s", 4)
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # all four were running at one moment
    r = run_pl(tmp_path, "--max-jobs-run", "1", "JOB=1:3", "log/t.JOB.log", job.format("t"))
    assert r.returncode == 0, r.stderr
    spans = sorted(_intervals(tmp_path, "t", 3))
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))  # one at a time


def test_a_failing_job_fails_the_run_and_names_its_log(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "JOB=1:4", "exp/log/f.JOB.log", "echo start JOB; [ JOB -ne 3 ]")
    assert r.returncode == 1
    assert r.stderr.strip() == "run.pl: 1 / 4 failed, log is in exp/log/f.3.log"
    log = (tmp_path / "exp/log/f.3.log").read_text()
    assert "start 3" in log and "# Ended (code 1)" in log
    assert "# Ended (code 0)" in (tmp_path / "exp/log/f.4.log").read_text()  # the others still ran


def test_exit_code_and_stderr_go_to_the_log(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "x.log", "echo oops >&2; exit 7")
    assert r.returncode == 1
    log = (tmp_path / "x.log").read_text()
    assert "oops" in log and "# Ended (code 7)" in log


def test_generic_options_are_accepted_and_threads_recorded(tmp_path: Path) -> None:
    r = run_pl(
        tmp_path,
        "--mem",
        "4G",
        "--gpu",
        "1",
        "--time",
        "1:00:00",
        "--config",
        "conf/none.conf",
        "--num-threads",
        "3",
        "--name",
        "x",
        "--max-jobs-run=2",
        "JOB=1:2",
        "l/JOB.log",
        "true",
    )
    assert r.returncode == 0, r.stderr
    assert "# Accounting: time=0 threads=3" in (tmp_path / "l/1.log").read_text()


def test_usage_errors(tmp_path: Path) -> None:
    cases = {
        ("--bogus", "1", "x.log", "true"): "unknown option --bogus",
        ("JOB=1:2", "x.log", "true"): "has no JOB in it",
        ("JOB=0:2", "x.JOB.log", "true"): "bad job range",
        ("JOB=3:2", "x.JOB.log", "true"): "bad job range",
        ("JOB=1-2", "x.JOB.log", "true"): "cannot parse the job range",
        ("--max-jobs-run", "0", "x.log", "true"): "--max-jobs-run must be an integer >= 1",
        ("x.log",): "missing LOGFILE and COMMAND",
    }
    for args, message in cases.items():
        r = run_pl(tmp_path, *args)
        assert r.returncode == 1, args
        assert message in r.stderr, (args, r.stderr)


def test_other_variable_names_work(tmp_path: Path) -> None:
    assert run_pl(tmp_path, "SPLIT=1:2", "log/SPLIT.log", "echo part SPLIT").returncode == 0
    assert "part 2" in (tmp_path / "log/2.log").read_text()


def test_sigterm_stops_the_jobs_and_their_logs_get_a_footer(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [RUN_PL, "JOB=1:2", "log/k.JOB.log", "sleep 30"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all((tmp_path / f"log/k.{i}.log").exists() for i in (1, 2)):
        time.sleep(0.1)
    time.sleep(0.3)
    start = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - start < 5
    assert proc.returncode == 1
    assert "stopped by SIGTERM" in err
    for i in (1, 2):
        assert "# Ended (code 143)" in (tmp_path / f"log/k.{i}.log").read_text()
