"""One ./run.sh per recipe directory: a second one is refused, and a killed one leaves no stuck lock.

run.sh takes ``flock`` on ``exp/.run.lock`` (fd 9). To hold a run inside a stage for as long as a
test needs, the test itself takes stage 0's download lock (``downloads/.fetch.lock``): run.sh then
waits there, holding the experiment lock, without any timing guesswork.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from kill_harness import kill_session, session_pids
from recipe_copy import make_tiny_recipe, recipe_env, run_command

pytestmark = pytest.mark.slow  # each test runs stage 0 of the tiny recipe (about 10 s)
STAGE0 = ("--stage", "0", "--stop-stage", "0")


@pytest.fixture
def recipe(tmp_path):
    return make_tiny_recipe(tmp_path / "recipe")


def flock_holders(path: Path) -> list[int]:
    """Pids that /proc/locks lists as holding a FLOCK on ``path``."""
    inode = path.stat().st_ino
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields and int(fields[5].rsplit(":", 1)[1]) == inode:
            holders.append(int(fields[4]))
    return holders


class DownloadGate:
    """Hold ``downloads/.fetch.lock`` so that stage 0 of a run blocks until ``release``."""

    def __init__(self, recipe: Path):
        (recipe / "downloads").mkdir(exist_ok=True)
        self.file = open(recipe / "downloads" / ".fetch.lock", "w")  # noqa: SIM115
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def release(self) -> None:
        self.file.close()


def start(recipe: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        run_command(recipe, *args), cwd=recipe, env=recipe_env(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_until_locked(recipe: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    lock = recipe / "exp" / ".run.lock"
    deadline = time.time() + timeout
    while not (lock.exists() and flock_holders(lock) and "pid" in lock.read_text()):
        assert proc.poll() is None, f"run.sh ended early:\n{proc.stdout.read()}"
        assert time.time() < deadline, "run.sh did not take exp/.run.lock"
        time.sleep(0.1)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_second_run_is_refused_while_the_first_runs(recipe):
    gate = DownloadGate(recipe)
    first = start(recipe, *STAGE0)
    try:
        wait_until_locked(recipe, first)
        rc, out = finish(start(recipe, "--stage", "1", "--stop-stage", "1"), timeout=120)
        assert rc == 1
        assert "another run.sh is using exp/ (exp/.run.lock: pid" in out
        assert f"pid {first.pid} " in out  # names the holder
        assert not (recipe / "data").exists(), "the refused run must not start its stage"
    finally:
        gate.release()
    rc, out = finish(first)
    assert rc == 0 and "Successfully finished" in out, out


def test_killed_run_leaves_no_stuck_lock(recipe):
    gate = DownloadGate(recipe)
    first = start(recipe, *STAGE0)
    wait_until_locked(recipe, first)
    assert kill_session(first.pid) >= 2  # run.sh and the stage script waiting for the download lock
    first.wait()
    assert not flock_holders(recipe / "exp" / ".run.lock")
    gate.release()
    rc, out = finish(start(recipe, *STAGE0))
    assert rc == 0 and "Successfully finished" in out, out


def test_jobs_that_outlive_their_run_sh_keep_the_lock(recipe):
    """kill -9 of run.sh alone: the stage it started goes on and still holds the lock until it ends."""
    gate = DownloadGate(recipe)
    first = start(recipe, *STAGE0)
    wait_until_locked(recipe, first)
    os.kill(first.pid, 9)
    first.wait()
    orphans = session_pids(first.pid)
    assert orphans, "the stage script should still be running"
    rc, out = finish(start(recipe, *STAGE0), timeout=120)
    assert rc == 1 and "its jobs hold the lock until they end" in out
    gate.release()
    deadline = time.time() + 300
    while session_pids(first.pid):
        assert time.time() < deadline, "the orphaned stage did not finish"
        time.sleep(0.2)
    assert (recipe / "downloads" / "dns5_embedded" / ".done").exists()  # it finished its work
    rc, out = finish(start(recipe, *STAGE0))
    assert rc == 0 and "exists and was built with these options" in out, out


def test_read_only_experiment_folder_is_named(recipe, tmp_path):
    """With exp/ on a read-only file system run.sh stops at once and says why."""
    exp = recipe / "exp"
    exp.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(exp)], check=True)
    else:
        exp.chmod(0o555)
    try:
        proc = subprocess.run(
            run_command(recipe, *STAGE0), cwd=recipe, env=recipe_env(), capture_output=True, text=True
        )
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(exp)], check=True)
        else:
            exp.chmod(0o755)
    assert proc.returncode == 1
    assert "cannot write exp/.run.lock" in proc.stdout and "read-only" in proc.stdout
    assert not (recipe / "downloads" / "dns5_embedded").exists()
