"""utils/slurm.pl against a real single-node Slurm cluster (tests/start_slurm.sh)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from test_run_pl import ARGV_DUMP, HOSTILE, expected, received

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from slurm_cluster import SlurmCluster

pytest_plugins = ["slurm_cluster"]  # the slurm_cluster fixture

ROOT = Path(__file__).resolve().parents[1]
SLURM_PL = str(ROOT / "utils" / "slurm.pl")
CONF = str(ROOT / "conf" / "slurm.conf")
FAST = ["--config", CONF, "--poll-interval", "1"]

pytestmark = pytest.mark.slurm


def slurm_pl(cluster: SlurmCluster, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SLURM_PL, *args], cwd=cwd, env=cluster.env, capture_output=True, text=True, timeout=300
    )


def test_array_job_runs_every_task_with_kaldi_logs(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    r = slurm_pl(
        slurm_cluster,
        tmp_path,
        *FAST,
        "--mem",
        "200M",
        "JOB=1:3",
        "exp/log/a.JOB.log",
        "bash",
        "-c",
        "echo task JOB is array task $SLURM_ARRAY_TASK_ID on $(hostname)",
    )
    assert r.returncode == 0, r.stderr
    job_id = (tmp_path / "exp/log/q/a.log").read_text().splitlines()[-1].strip()
    assert job_id.isdigit()
    for i in (1, 2, 3):
        lines = (tmp_path / f"exp/log/a.{i}.log").read_text().splitlines()
        assert lines[0] == f"# bash -c 'echo task {i} is array task $SLURM_ARRAY_TASK_ID on $(hostname)'"
        assert lines[2].endswith(f"as task {i} of job {job_id}")
        assert lines[3].startswith(f"task {i} is array task {i} on ")
        assert lines[-1].startswith("# Ended (code 0)")
    states = slurm_cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%i %T").stdout.split("\n")
    assert sorted(s for s in states if s) == [f"{job_id}_{i} COMPLETED" for i in (1, 2, 3)]


def test_failing_task_fails_the_run_and_is_named(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    r = slurm_pl(
        slurm_cluster, tmp_path, *FAST, "JOB=1:3", "log/f.JOB.log", "bash", "-c", "echo try JOB; [ JOB != 2 ]"
    )
    assert r.returncode == 1
    assert "exit code 1; the scheduler reports FAILED; log: log/f.2.log" in r.stderr
    assert r.stderr.strip().endswith("slurm.pl: 1 / 3 failed, log is in log/f.2.log")
    assert "# Ended (code 1)" in (tmp_path / "log/f.2.log").read_text()


def test_cancelled_job_is_reported(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [SLURM_PL, *FAST, "--grace", "5", "JOB=1:2", "log/c.JOB.log", "sleep", "300"],
        cwd=tmp_path,
        env=slurm_cluster.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all((tmp_path / f"log/c.{i}.log").exists() for i in (1, 2)):
        time.sleep(0.2)
    job_id = (tmp_path / "log/q/c.log").read_text().splitlines()[-1].strip()
    assert slurm_cluster.run("scancel", job_id).returncode == 0
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"task 1 of job {job_id} failed" in err and "CANCELLED" in err and "log/c.1.log" in err
    assert "slurm.pl: 2 / 2 failed" in err


def test_rejected_request_is_reported(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    r = slurm_pl(slurm_cluster, tmp_path, *FAST, "--mem", "100000G", "log/big.log", "true")
    assert r.returncode == 1
    assert "slurm.pl: sbatch rejected the job" in r.stderr
    assert "the submit command is in" in r.stderr and "log/q/big.log" in r.stderr
    assert not (tmp_path / "log/big.log").exists()


def test_timeout_cancels_the_job(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    r = slurm_pl(slurm_cluster, tmp_path, *FAST, "--timeout", "3", "log/t.log", "sleep", "300")
    assert r.returncode == 1
    assert "timed out after 3 s" in r.stderr and "cancelled it with scancel" in r.stderr
    job_id = (tmp_path / "log/q/t.log").read_text().splitlines()[-1].strip()
    deadline = time.monotonic() + 30
    state = ""
    while time.monotonic() < deadline:
        state = slurm_cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").stdout.strip()
        if state == "CANCELLED":
            break
        time.sleep(0.5)
    assert state == "CANCELLED"


def test_cmd_sh_slurm_backend(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """The recipe's way: source cmd.sh with CMD_BACKEND=slurm and use ${train_cmd}, from the recipe root."""
    script = (
        ". ./cmd.sh && ${train_cmd} --max-jobs-run 1 --poll-interval 1 JOB=1:2 "
        f"{tmp_path}/log/cmd.JOB.log bash -c 'echo JOB >{tmp_path}/out.JOB'"
    )
    env = dict(slurm_cluster.env, CMD_BACKEND="slurm", PATH=f"{ROOT / 'utils'}:{slurm_cluster.env['PATH']}")
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [(tmp_path / f"out.{i}").read_text() for i in (1, 2)] == ["1\n", "2\n"]
    submitted = (tmp_path / "log/q/cmd.log").read_text()
    assert "--mem-per-cpu 4G" in submitted and "--array=1-2%1" in submitted


def test_hostile_arguments_reach_the_job_exactly(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """Issue 18 on a real Slurm: every word arrives as it is (through sbatch, the job script and bash),
    in a log folder with spaces, shell characters and a "%" (which sbatch -o would expand)."""
    logdir = "log dir (2023) it's 100% $(touch PWNED)"
    r = slurm_pl(slurm_cluster, tmp_path, *FAST, "JOB=1:2", f"{logdir}/a.JOB.log", *ARGV_DUMP, *HOSTILE)
    assert r.returncode == 0, r.stderr
    for i in (1, 2):
        assert received(tmp_path / f"{logdir}/a.{i}.log") == expected(HOSTILE, i)
    assert sorted(p.name for p in (tmp_path / logdir / "q").glob("*.out")) == ["a.1.out", "a.2.out"]
    assert not list(tmp_path.rglob("PWNED*")) and not list(tmp_path.rglob("out"))
