"""utils/queue.pl and utils/slurm.pl: config mapping, submit command lines, job scripts, waiting.

Most tests use --dry-run or stand-in scheduler commands (qsub/qstat/qdel, sbatch/squeue/scancel as
small scripts on PATH) to reach every branch quickly; test_real_grid_engine runs queue.pl on a real
single-node Grid Engine started by tests/start_sge.sh (tests/test_slurm.py does the same for Slurm).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_run_pl import ARGV_DUMP, HOSTILE, expected, received

ROOT = Path(__file__).resolve().parents[1]
QUEUE_PL = str(ROOT / "utils" / "queue.pl")
SLURM_PL = str(ROOT / "utils" / "slurm.pl")


def launch(prog: str, cwd: Path, *args: str, env: dict | None = None, timeout: float = 60):
    return subprocess.run([prog, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def dry_run(prog: str, cwd: Path, *args: str) -> list[str]:
    r = launch(prog, cwd, "--dry-run", *args)
    assert r.returncode == 0, r.stderr
    return shlex.split(r.stdout)


def test_queue_conf_mapping(tmp_path: Path) -> None:
    conf = str(ROOT / "conf" / "queue.conf")
    cmd = dry_run(
        QUEUE_PL,
        tmp_path,
        "--config",
        conf,
        "--mem",
        "2G",
        "--num-threads",
        "4",
        "--gpu",
        "1",
        "--time",
        "4:00:00",
        "--max-jobs-run",
        "3",
        "JOB=1:5",
        "exp/log/stats.JOB.log",
        "echo",
        "JOB",
    )
    q = tmp_path / "exp" / "log" / "q"
    assert cmd == [
        "qsub",
        "-v",
        "PATH",
        "-cwd",
        "-S",
        "/bin/bash",
        "-l",
        "mem_free=2G",
        "-pe",
        "smp",
        "4",
        "-l",
        "gpu=1",
        "-q",
        "g.q",
        "-l",
        "h_rt=4:00:00",
        "-terse",
        "-N",
        "stats",
        "-o",
        f"{q}/stats.$TASK_ID.out",
        "-j",
        "y",
        "-t",
        "1-5",
        "-tc",
        "3",
        f"{q}/stats.sh",
    ]
    assert (q / "stats.sh").stat().st_mode & 0o111


def test_slurm_conf_mapping_exact_rules_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "slurm.conf", tmp_path / "conf" / "slurm.conf")  # read from ./conf
    cmd = dry_run(SLURM_PL, tmp_path, "--mem", "0", "--num-threads", "1", "JOB=2:4", "log/a.JOB.log", "true")
    q = tmp_path / "log" / "q"
    assert cmd == [
        "sbatch",
        "--export=PATH",
        "--ntasks-per-node=1",
        "--cpus-per-task",
        "1",
        "--parsable",
        "--job-name",
        "a",
        "-o",
        f"{q}/a.%a.out",
        "--array=2-4",
        f"{q}/a.sh",
    ]  # mem=0 and the default gpu=0 add nothing: the exact rules beat mem=*
    cmd = dry_run(SLURM_PL, tmp_path, "--gpu", "2", "--mem", "3G", "--max-jobs-run", "2", "x.log", "true")
    assert cmd[3:9] == ["-p", "gpu", "--gres=gpu:2", "--mem-per-cpu", "3G", "--parsable"]
    assert cmd[-2] == "--array=1-1%2"


def test_builtin_default_config_when_no_file(tmp_path: Path) -> None:
    cmd = dry_run(SLURM_PL, tmp_path, "--mem", "1G", "--name", "7up", "x.log", "true")
    assert cmd[:5] == ["sbatch", "--export=PATH", "--ntasks-per-node=1", "--mem-per-cpu", "1G"]
    assert cmd[cmd.index("--job-name") + 1] == "j7up"  # job names may not start with a digit


def write_fake(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def fake_sge(tmp_path: Path) -> Iterator[dict]:
    """qsub/qstat/qdel stand-ins: FAKE_MODE=run runs the tasks at once; lose runs none; error
    shows task 2 in Grid Engine's error state; hang keeps every task running. Calls are logged."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.txt"
    write_fake(
        bindir,
        "qsub",
        f"""echo "qsub $*" >> {calls}
if [ "$FAKE_MODE" = reject ]; then echo 'Unable to run job: unknown resource "gpu"' >&2; exit 1; fi
range=""; prev=""
for a in "$@"; do [ "$prev" = -t ] && range=$a; prev=$a; done
script="${{@: -1}}"
if [ "$FAKE_MODE" = run ]; then
    for t in $(seq "${{range%-*}}" "${{range#*-}}"); do
        SGE_TASK_ID=$t JOB_ID=77 bash "$script" >/dev/null 2>&1
    done
fi
echo "77.$range:1"
""",
    )
    write_fake(
        bindir,
        "qstat",
        f"""echo "qstat $*" >> {calls}
case "$FAKE_MODE" in
    error) printf '%s\\n' '     77 0.5 x root Eqw 11/25/2026 06:33:04   1 2' ;;
    hang) printf '%s\\n' '     77 0.5 x root r 11/25/2026 06:33:04 all.q@vm 1 1' \\
        '     77 0.5 x root r 11/25/2026 06:33:04 all.q@vm 1 2' ;;
esac
""",
    )
    write_fake(bindir, "qdel", f'echo "qdel $*" >> {calls}\n')
    write_fake(
        bindir,
        "qacct",
        '[ "$FAKE_MODE" = lose ] || exit 1\n'
        "printf '%s\\n' '=====' 'jobnumber 77' 'taskid 1' \\\n"
        "    'failed 100 : assumedly after job' 'exit_status 137'\n",
    )
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    yield {"env": env, "calls": calls}


def run_fake(prog: str, cwd: Path, fake: dict, mode: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(fake["env"], FAKE_MODE=mode)
    return launch(prog, cwd, "--poll-interval", "0.2", "--grace", "1", *args, env=env)


def test_fake_sge_success_writes_kaldi_logs(tmp_path: Path, fake_sge: dict) -> None:
    r = run_fake(
        QUEUE_PL,
        tmp_path,
        fake_sge,
        "run",
        "JOB=1:3",
        "exp/log/t.JOB.log",
        "bash",
        "-o",
        "pipefail",
        "-c",
        "echo task JOB | tr a A",
    )
    assert r.returncode == 0, r.stderr
    for i in (1, 2, 3):
        lines = (tmp_path / f"exp/log/t.{i}.log").read_text().splitlines()
        assert lines[0] == f"# bash -o pipefail -c 'echo task {i} | tr a A'"
        assert lines[1].startswith("# Started at ") and lines[2].startswith("# Running on ")
        assert lines[3] == f"tAsk {i}"
        assert lines[4].startswith("# Accounting: time=") and lines[5].startswith("# Ended (code 0) at ")
    assert not list((tmp_path / "exp/log/q").glob("*.status"))  # read and removed
    assert "77.1-3:1" in (tmp_path / "exp/log/q/t.log").read_text()


def test_fake_sge_failure_names_the_log(tmp_path: Path, fake_sge: dict) -> None:
    r = run_fake(
        QUEUE_PL,
        tmp_path,
        fake_sge,
        "run",
        "JOB=1:3",
        "log/f.JOB.log",
        "bash",
        "-c",
        "exit $((JOB * (JOB - 1)))",
    )
    assert r.returncode == 1
    assert "task 2 of job 77 failed: exit code 2; log: log/f.2.log" in r.stderr
    assert r.stderr.strip().endswith("queue.pl: 2 / 3 failed, log is in log/f.2.log")


def test_fake_sge_passes_hostile_arguments_and_log_folders_exactly(tmp_path: Path, fake_sge: dict) -> None:
    """Issue 18: each word reaches the job as it is, through the job script that queue.pl writes; a log
    folder with spaces and shell characters works, and one with ":" "," "$" (which qsub -o would read
    as host:path lists and variables) gets the scheduler's output from the job script instead."""
    for n, logdir in enumerate(["log", "log dir (2023) it's", "a:b,c$(touch PWNED)"]):
        r = run_fake(
            QUEUE_PL, tmp_path, fake_sge, "run", "JOB=1:2", f"{logdir}/a.JOB.log", *ARGV_DUMP, *HOSTILE
        )
        assert r.returncode == 0, r.stderr
        for i in (1, 2):
            assert received(tmp_path / f"{logdir}/a.{i}.log") == expected(HOSTILE, i), logdir
        submitted = next(c for c in fake_sge["calls"].read_text().splitlines()[::-1] if c.startswith("qsub "))
        assert (" -o /dev/null " in submitted) == (n == 2), submitted
        assert (tmp_path / f"{logdir}/q/a.2.out").exists() == (n == 2)  # written by the job script
        script = str(tmp_path / f"{logdir}/q/a.sh")
        shellcheck = subprocess.run(["shellcheck", "-s", "bash", script], capture_output=True, text=True)
        assert shellcheck.returncode == 0, shellcheck.stdout
    assert not list(tmp_path.rglob("PWNED*")) and not list(tmp_path.rglob("out"))


def test_slurm_output_path_escapes_percent(tmp_path: Path) -> None:
    cmd = dry_run(SLURM_PL, tmp_path, "JOB=1:2", "50% done/x.JOB.log", "true")
    assert cmd[cmd.index("-o") + 1] == f"{tmp_path}/50%% done/q/x.%a.out"
    cmd = dry_run(SLURM_PL, tmp_path, "--name", "a b/c", "back\\slash/x.log", "true")
    assert cmd[cmd.index("-o") + 1] == "/dev/null" and cmd[cmd.index("--job-name") + 1] == "a_b_c"


def test_rejected_submission(tmp_path: Path, fake_sge: dict) -> None:
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "reject", "--gpu", "1", "log/x.log", "true")
    assert r.returncode == 1
    assert 'qsub rejected the job (exit status 1): Unable to run job: unknown resource "gpu"' in r.stderr
    assert f"the submit command is in {tmp_path}/log/q/x.log" in r.stderr


def test_task_that_vanishes_is_a_failure(tmp_path: Path, fake_sge: dict) -> None:
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "lose", "JOB=1:2", "log/v.JOB.log", "true")
    assert r.returncode == 1
    assert "task 1 of job 77 failed: the task left the queue without writing an exit status" in r.stderr
    assert "accounting says exit_status 137, failed 100 : assumedly after job" in r.stderr
    assert f"log/v.1.log (not written; see {tmp_path}/log/q/v.1.out)" in r.stderr


def test_error_state_fails_and_deletes_the_job(tmp_path: Path, fake_sge: dict) -> None:
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "error", "--timeout", "20", "JOB=2:2", "log/e.JOB.log", "true")
    assert r.returncode == 1
    assert "task 2 of job 77 failed: the scheduler reports ERROR(Eqw)" in r.stderr
    assert "qdel 77" in fake_sge["calls"].read_text()


def test_timeout_cancels_the_job(tmp_path: Path, fake_sge: dict) -> None:
    start = time.monotonic()
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "hang", "--timeout", "2", "JOB=1:2", "log/h.JOB.log", "true")
    assert r.returncode == 1
    assert time.monotonic() - start < 10
    assert (
        "timed out after 2 s waiting for job 77 (2 of 2 tasks unfinished; task 1: r, task 2: r)" in r.stderr
    )
    assert "qdel 77" in fake_sge["calls"].read_text()


def test_sigterm_cancels_the_job(tmp_path: Path, fake_sge: dict) -> None:
    env = dict(fake_sge["env"], FAKE_MODE="hang")
    proc = subprocess.Popen(
        [QUEUE_PL, "--poll-interval", "0.2", "JOB=1:2", "log/s.JOB.log", "true"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "qstat" not in (
        fake_sge["calls"].read_text() if fake_sge["calls"].exists() else ""
    ):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert "stopped by SIGTERM; cancelled job 77 (qdel 77)" in err
    assert "qdel 77" in fake_sge["calls"].read_text()


def test_config_and_option_errors_stop_before_submitting(tmp_path: Path, fake_sge: dict) -> None:
    bad = tmp_path / "bad.conf"
    cases = {
        "command qsub\noption mem=* -l mem_free=$0\nmem 4G\n": "bad.conf line 3: cannot parse 'mem 4G'",
        "option mem=* -l mem_free=$0\n": "bad.conf has no 'command' line",
        "command qsub\ndefault gpu=0\n": "'default gpu=...' but no 'option gpu=' line",
        "command qsub\noption max_jobs_run=* -tc $0\n": "--max_jobs_run is an option of queue.pl itself",
        "command qsub\noption gpu=0\n": "has no rule for --gpu 1 (only for: 0)",
        "command qsub\noption mem=* -l 'a=$0\n": "bad.conf line 2: unbalanced quotes",
    }
    for text, message in cases.items():
        bad.write_text(text)
        r = run_fake(
            QUEUE_PL, tmp_path, fake_sge, "run", "--config", str(bad), "--gpu", "1", "log/x.log", "true"
        )
        assert r.returncode == 1, text
        assert message in r.stderr, (text, r.stderr)
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "run", "--colour", "red", "log/x.log", "true")
    assert r.returncode == 1 and "unknown option --colour" in r.stderr
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "run", "--config", "none.conf", "log/x.log", "true")
    assert r.returncode == 1 and "config file not found: none.conf" in r.stderr
    r = run_fake(QUEUE_PL, tmp_path, fake_sge, "run", "--timeout", "soon", "log/x.log", "true")
    assert r.returncode == 1 and "--timeout must be an integer >= 0" in r.stderr
    assert not fake_sge["calls"].exists() or "qsub" not in fake_sge["calls"].read_text()


def test_job_script_is_valid_bash_and_substitutes_at_run_time(tmp_path: Path) -> None:
    dry_run(
        SLURM_PL,
        tmp_path,
        "--num-threads",
        "2",
        "JOB=1:3",
        "exp/log/p.JOB.log",
        "bash",
        "-c",
        'echo "it\'s JOB"; exit JOB',
    )
    script = tmp_path / "exp/log/q/p.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    shellcheck = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True)
    assert shellcheck.returncode == 0, shellcheck.stdout
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_JOB_ID="55")
    r = subprocess.run(["bash", str(script)], cwd="/", env=env, capture_output=True, text=True)
    assert r.returncode == 3  # the command's exit code is the task's
    log = (tmp_path / "exp/log/p.3.log").read_text().splitlines()
    assert log[0] == """# bash -c 'echo "it'\\''s 3"; exit 3'""" and log[2].endswith("as task 3 of job 55")
    assert log[3] == "it's 3" and log[4].endswith("threads=2") and log[5].startswith("# Ended (code 3)")
    status = list((tmp_path / "exp/log/q").glob("p.*.3.status"))
    assert len(status) == 1 and status[0].read_text() == "3\n"
    r = subprocess.run(
        ["bash", str(script)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True
    )
    assert r.returncode != 0 and "runs as a task of an array job" in r.stderr


@pytest.fixture
def fake_slurm(tmp_path: Path) -> dict:
    """sbatch runs nothing; squeue says task 1 was cancelled and tasks 2-3 are still pending."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.txt"
    write_fake(bindir, "sbatch", f'echo "sbatch $*" >> {calls}\necho 55\n')
    write_fake(bindir, "squeue", "printf '%s\\n' '55_1|CANCELLED|None' '55_[2-3%1]|PENDING|Resources'\n")
    write_fake(bindir, "scancel", f'echo "scancel $*" >> {calls}\n')
    write_fake(bindir, "sacct", "printf '%s\\n' '55_1|CANCELLED by 0|0:15'\n")
    return {"env": dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}"), "calls": calls}


def test_slurm_states_pending_ranges_and_cancelled(tmp_path: Path, fake_slurm: dict) -> None:
    r = run_fake(SLURM_PL, tmp_path, fake_slurm, "-", "--timeout", "2", "JOB=1:3", "log/c.JOB.log", "true")
    assert r.returncode == 1
    assert "task 2: PENDING (Resources), task 3: PENDING (Resources)" in r.stderr
    assert "cancelled it with scancel" in r.stderr
    assert "scancel 55" in fake_slurm["calls"].read_text()
    write_fake(tmp_path / "bin", "squeue", "printf '%s\\n' '55_1|CANCELLED|None' '55_2|TIMEOUT|None'\n")
    r = run_fake(SLURM_PL, tmp_path, fake_slurm, "-", "JOB=1:2", "log/c.JOB.log", "true")
    assert r.returncode == 1
    assert (
        "task 1 of job 55 failed: the scheduler reports CANCELLED; "
        "accounting says CANCELLED by 0, exit code 0:15; log: log/c.1.log"
    ) in r.stderr
    assert "task 2 of job 55 failed: the scheduler reports TIMEOUT" in r.stderr


@pytest.fixture(scope="module")
def sge_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    state = tmp_path_factory.mktemp("sge")
    script = str(ROOT / "tests" / "start_sge.sh")
    started = subprocess.run([script, str(state)], capture_output=True, text=True, timeout=600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env = dict(os.environ)
        for line in (state / "env.sh").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
        yield env
    finally:
        subprocess.run([script, "--stop", str(state)], capture_output=True, timeout=120)


@pytest.mark.sge
def test_real_grid_engine(tmp_path: Path, sge_cluster: dict) -> None:
    conf = str(ROOT / "conf" / "queue.conf")
    args = ["--config", conf, "--poll-interval", "1", "--mem", "100M", "--num-threads", "1"]
    r = launch(
        QUEUE_PL,
        tmp_path,
        *args,
        "JOB=1:3",
        "log/g.JOB.log",
        "bash",
        "-c",
        "echo task JOB on $(hostname)",
        env=sge_cluster,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    for i in (1, 2, 3):
        log = (tmp_path / f"log/g.{i}.log").read_text()
        assert f"task {i} on " in log and "# Ended (code 0)" in log
    r = launch(
        QUEUE_PL,
        tmp_path,
        *args,
        "JOB=1:2",
        "log/h.JOB.log",
        "bash",
        "-c",
        "exit $((JOB - 1))",
        env=sge_cluster,
        timeout=300,
    )
    assert r.returncode == 1
    assert "queue.pl: 1 / 2 failed, log is in log/h.2.log" in r.stderr
    proc = subprocess.Popen(
        [QUEUE_PL, *args, "--grace", "3", "JOB=1:1", "log/k.JOB.log", "sleep", "300"],
        cwd=tmp_path,
        env=sge_cluster,
        stderr=subprocess.PIPE,
        text=True,
    )
    qlog = tmp_path / "log/q/k.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "log/k.1.log").exists():
        time.sleep(0.5)
    job_id = qlog.read_text().splitlines()[-1].split(".")[0]
    subprocess.run(["qdel", job_id], env=sge_cluster, capture_output=True, check=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"task 1 of job {job_id} failed" in err and "log/k.1.log" in err


@pytest.mark.sge
def test_real_grid_engine_passes_hostile_arguments_exactly(tmp_path: Path, sge_cluster: dict) -> None:
    """Issue 18 on a real Grid Engine: every word arrives as it is, in a log folder with shell characters."""
    logdir = "log dir (2023) it's $(touch PWNED)"
    args = [
        "--config",
        str(ROOT / "conf" / "queue.conf"),
        "--poll-interval",
        "1",
        "JOB=1:2",
        f"{logdir}/a.JOB.log",
    ]
    r = launch(QUEUE_PL, tmp_path, *args, *ARGV_DUMP, *HOSTILE, env=sge_cluster, timeout=300)
    assert r.returncode == 0, r.stderr
    for i in (1, 2):
        assert received(tmp_path / f"{logdir}/a.{i}.log") == expected(HOSTILE, i)
    assert not list(tmp_path.rglob("PWNED*")) and not list(tmp_path.rglob("out"))


def test_slurm_multi_node_request_as_espnet_launch_sends_it(tmp_path: Path) -> None:
    """espnet2.bin.launch calls ``slurm.pl --gpu N --num_threads N --num_nodes M LOG srun ...`` for
    multi-node training (run.sh --num-nodes M); conf/slurm.conf turns --num_nodes into --nodes."""
    (tmp_path / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "slurm.conf", tmp_path / "conf" / "slurm.conf")
    args = ["--gpu", "2", "--num_threads", "2", "--num_nodes", "2", "exp/train.log", "srun", "true"]
    cmd = dry_run(SLURM_PL, tmp_path, *args)
    assert cmd[cmd.index("--nodes") + 1] == "2" and "--gres=gpu:2" in cmd
    assert "--nodes" not in dry_run(SLURM_PL, tmp_path, "--num_nodes", "1", "x.log", "true")
