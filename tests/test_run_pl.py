"""utils/run.pl: local array jobs with Kaldi's interface (JOB=1:N, per-job logs, failure report)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_PL = str(ROOT / "utils" / "run.pl")


# Arguments that a shell would read as syntax if they reached it unquoted (issue 18); the launchers
# must hand each one to the job as it is. JOB in them is replaced by the index, as everywhere.
# fmt: off
HOSTILE: list[bytes] = [
    b"a b", b"  lead and trail  ", b"it's", b'say "hi"', b"'", b"'\\''", b'"', b"\\", b"\\n",
    b"$HOME", b"${IFS}", b"$((1+1))", b"$'\\x41'", b"`touch BT`", b"$(touch CS)", b"../T0$(touch${IFS}PW)",
    b";touch SEMI", b"|", b"a|b", b"||", b"&&", b"&", b"<in", b">out", b"2>&1", b"(sub)", b")", b"dns5(2023)",
    b"*", b"?", b"[a-z]", b"{a,b}", b"~", b"~root", b"!", b"!!", b"#comment", b"x #y", b"=", b"x=1", b"%1",
    b"a=~", b"PATH=a:~/b", b"--opt=$(touch EQ)",
    b"new\nline", b"tab\there", b"\n", b"-n", b"--help", b"", b" ", b"time", b"if", b"done", b"{", b"}",
    "\u00fcn\u00efc\u00f6d\u00e9 \u2713 \u97f3\u58f0".encode(), b"\xff\xfe non-UTF-8 \x80",
    b"job JOB", b"JOBJOB", b"'JOB'", b"$JOB", b"J O B",
]
# fmt: on
# A job that prints the arguments it received, as hex (exact bytes), on one line of its log.
ARGV_DUMP = [
    "python3",
    "-c",
    "import json, os, sys; print(json.dumps([os.fsencode(a).hex() for a in sys.argv[1:]]))",
]


def expected(args: list[bytes], index: int) -> list[bytes]:
    return [a.replace(b"JOB", str(index).encode()) for a in args]


def received(log: Path) -> list[bytes]:
    """The arguments an ARGV_DUMP job printed in its log (the line that starts with '[')."""
    line = next(ln for ln in log.read_bytes().splitlines() if ln.startswith(b"["))
    return [bytes.fromhex(h) for h in json.loads(line)]


def run_pl(cwd: Path, *args: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess:
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


def test_hostile_arguments_reach_the_job_exactly(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "JOB=1:2", "log/a.JOB.log", *ARGV_DUMP, *HOSTILE)
    assert r.returncode == 0, r.stderr
    for i in (1, 2):
        assert received(tmp_path / f"log/a.{i}.log") == expected(HOSTILE, i)
    # Backwards too, so that another word is the last one (a trailing "&" or "\\" must join nothing).
    assert run_pl(tmp_path, "b.log", *ARGV_DUMP, *HOSTILE[::-1]).returncode == 0
    assert received(tmp_path / "b.log") == HOSTILE[::-1]  # without a JOB= range, JOB stays JOB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.log", "log"]  # no ">out", no "touch BT"


def test_command_substitution_and_separators_in_arguments_run_nothing(tmp_path: Path) -> None:
    """The issue: --dns5-root '../T0$(touch${IFS}PWNED)' ran touch, then read the wrong tree."""
    args = [
        "$(touch PWNED)",
        ";touch PWNED2",
        "`touch PWNED3`",
        "&& touch PWNED4",
        "x|touch PWNED5",
        ">PWNED6",
    ]
    args += ["../T0$(touch${IFS}PWNED7)", "$(touch PWNED8)x", "a;touch${IFS}PWNED9"]
    r = run_pl(tmp_path, "JOB=1:2", "log/$(touch PWNED10);x/a.JOB.log", "echo", "JOB", *args)
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.rglob("PWNED*")) and not list(ROOT.glob("PWNED*"))
    log = (tmp_path / "log/$(touch PWNED10);x/a.2.log").read_text().splitlines()
    assert log[0] == "# echo 2 '$(touch PWNED)' ';touch PWNED2' '`touch PWNED3`' '&& touch PWNED4' " + (
        "'x|touch PWNED5' '>PWNED6' '../T0$(touch${IFS}PWNED7)' '$(touch PWNED8)x' 'a;touch${IFS}PWNED9'"
    )  # the header is the command line that ran, pasteable into a shell
    assert log[2] == "2 " + " ".join(args)


def test_folders_with_parentheses_spaces_and_quotes_work(tmp_path: Path) -> None:
    """An ordinary folder name such as ../dns5(2023) used to fail every job with a shell syntax error."""
    for folder in ("dns5(2023)", "my data", "it's [v2] & more", "ünï $x"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.txt").write_text(f"in {folder}\n")
    log = "exp/logs (2023) 'x'/cat.JOB.log"
    r = run_pl(tmp_path, "JOB=1:2", log, "cat", "dns5(2023)/a.txt", "my data/a.txt", "it's [v2] & more/a.txt")
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "exp/logs (2023) 'x'/cat.2.log").read_text().splitlines()
    assert out[2:5] == ["in dns5(2023)", "in my data", "in it's [v2] & more"]
    r = run_pl(tmp_path, "x.log", "ls", "ünï $x")
    assert r.returncode == 0 and "a.txt" in (tmp_path / "x.log").read_text()


def test_shell_syntax_needs_a_shell_given_as_words(tmp_path: Path) -> None:
    """A pipe or redirection: bash -c '...'. A one-word command with spaces is a program of that name."""
    r = run_pl(
        tmp_path, "JOB=2:3", "log/p.JOB.log", "bash", "-c", "printf 'a\\nb\\nJOB\\n' | wc -l > out.JOB"
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.2").read_text().strip() == "3"
    assert (tmp_path / "out.3").exists() and not (tmp_path / "out.1").exists()
    r = run_pl(tmp_path, "one.log", "echo hi > out.x")
    assert r.returncode == 1 and not (tmp_path / "out.x").exists()
    log = (tmp_path / "one.log").read_text()
    assert "echo hi > out.x: command not found" in log and "# Ended (code 127)" in log
    assert "note: each word of the command reaches it as one argument, not as shell syntax" in r.stderr
    r = run_pl(tmp_path, "two.log", "X=1", "true")  # a first word NAME=VALUE is a program name, too
    assert r.returncode == 1 and "X=1: command not found" in (tmp_path / "two.log").read_text()


def test_pipe_word_is_an_argument_and_pipefail_is_asked_for(tmp_path: Path) -> None:
    assert run_pl(tmp_path, "a.log", "echo", "x y", "|", "tr", "x", "z").returncode == 0
    assert "x y | tr x z" in (tmp_path / "a.log").read_text()
    r = run_pl(tmp_path, "b.log", "bash", "-o", "pipefail", "-c", "false | cat")
    assert r.returncode == 1  # the failure on the left of the pipe is not hidden
    assert "note:" not in r.stderr  # nothing here looks like shell syntax passed as words


def _intervals(folder: Path, name: str, n: int) -> list[tuple[float, float]]:
    stamp = lambda j, e: float((folder / f"{name}.{j}.{e}").read_text())  # noqa: E731
    return [(stamp(j, "start"), stamp(j, "end")) for j in range(1, n + 1)]


def test_jobs_run_in_parallel_up_to_max_jobs_run(tmp_path: Path) -> None:
    """Each job stamps its start and end; concurrency is read from the stamps, not from a stopwatch."""
    job = "date +%s.%N > {0}.JOB.start; sleep 1; date +%s.%N > {0}.JOB.end"
    r = run_pl(tmp_path, "--max-jobs-run", "4", "JOB=1:4", "log/s.JOB.log", "bash", "-c", job.format("s"))
    assert r.returncode == 0, r.stderr
    spans = _intervals(tmp_path, "s", 4)
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # all four were running at one moment
    r = run_pl(tmp_path, "--max-jobs-run", "1", "JOB=1:3", "log/t.JOB.log", "bash", "-c", job.format("t"))
    assert r.returncode == 0, r.stderr
    spans = sorted(_intervals(tmp_path, "t", 3))
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))  # one at a time


def test_a_failing_job_fails_the_run_and_names_its_log(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "JOB=1:4", "exp/log/f.JOB.log", "bash", "-c", "echo start JOB; [ JOB -ne 3 ]")
    assert r.returncode == 1
    assert r.stderr.strip() == "run.pl: 1 / 4 failed, log is in exp/log/f.3.log"
    log = (tmp_path / "exp/log/f.3.log").read_text()
    assert "start 3" in log and "# Ended (code 1)" in log
    assert "# Ended (code 0)" in (tmp_path / "exp/log/f.4.log").read_text()  # the others still ran


def test_exit_code_and_stderr_go_to_the_log(tmp_path: Path) -> None:
    r = run_pl(tmp_path, "x.log", "bash", "-c", "echo oops >&2; exit 7")
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
        ("JOB=1-2", "x.JOB.log", "true"): "cannot parse the job range 'JOB=1-2'",
        ("JOB=1:", "x.JOB.log", "true"): "cannot parse the job range 'JOB=1:'",  # JOB=1:${nj} with nj unset
        ("JOB=", "x.JOB.log", "true"): "cannot parse the job range 'JOB='",
        ("JOB=a:b", "x.JOB.log", "true"): "cannot parse the job range 'JOB=a:b'",
        ("JOB=1:4x", "x.JOB.log", "true"): "cannot parse the job range 'JOB=1:4x'",
        ("JOB=1: 4", "x.JOB.log", "true"): "cannot parse the job range 'JOB=1: 4'",
        ("JOB=1:$(touch X)", "x.JOB.log", "true"): "cannot parse the job range 'JOB=1:$(touch X)'",
        ("JOB=1:1234567890", "x.JOB.log", "true"): "indices have at most 9 digits",
        ("JOB=1:2", "", "true"): "the log file name is empty",
        ("--max-jobs-run", "0", "x.log", "true"): "--max-jobs-run must be an integer >= 1",
        ("x.log",): "missing LOGFILE and COMMAND",
    }
    for args, message in cases.items():
        r = run_pl(tmp_path, *args)
        assert r.returncode == 1, args
        assert message in r.stderr, (args, r.stderr)
    assert not list(tmp_path.iterdir())  # nothing ran, no log was written
    assert run_pl(tmp_path, "lr=0.1/x.log", "true").returncode == 0  # a log name with "=" is a log name


def test_other_variable_names_work(tmp_path: Path) -> None:
    assert run_pl(tmp_path, "SPLIT=1:2", "log/SPLIT.log", "echo", "part SPLIT").returncode == 0
    assert "part 2" in (tmp_path / "log/2.log").read_text()


def test_sigterm_stops_the_jobs_and_their_logs_get_a_footer(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [RUN_PL, "JOB=1:2", "log/k.JOB.log", "sleep", "30"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
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
