"""A single-node Slurm cluster on localhost for tests: the ``slurm_cluster`` fixture.

tests/start_slurm.sh installs Slurm if it is missing and starts munged, slurmctld and slurmd with
everything under a temporary folder; the fixture's finalizer cancels the cluster's jobs and stops the
daemons. Use it from a test module with

    pytest_plugins = ["slurm_cluster"]

and run commands with ``cluster.env`` (the environment with SLURM_CONF set), e.g. a recipe stage
with ``CMD_BACKEND=slurm`` so that cmd.sh picks slurm.pl.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START = Path(__file__).resolve().parent / "start_slurm.sh"


@dataclass
class SlurmCluster:
    """A running test cluster: its state folder and an environment that points at it."""

    state_dir: Path
    env: dict[str, str]

    @property
    def conf(self) -> Path:
        return self.state_dir / "slurm.conf"

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """Run a command (e.g. squeue, scancel) against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, **kwargs)


def start_cluster(state_dir: Path) -> SlurmCluster:
    """Start the cluster; raise with the script's output if it does not come up."""
    r = subprocess.run([str(START), str(state_dir)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"tests/start_slurm.sh failed (exit status {r.returncode}):\n{r.stdout}{r.stderr}")
    return SlurmCluster(state_dir, dict(os.environ, SLURM_CONF=str(state_dir / "slurm.conf")))


def stop_cluster(cluster: SlurmCluster) -> None:
    subprocess.run(
        [str(START), "--stop", str(cluster.state_dir)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
