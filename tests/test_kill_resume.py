"""kill -9 inside every stage of ./run.sh, rerun, and get exactly what an uninterrupted run gives.

``tests/kill_harness.py`` builds the tiny recipe once (stage by stage, timed, a snapshot after each
stage) and, for each moment, restores the state before stage N, SIGKILLs the whole run at a seeded
share of stage N's measured duration, reruns stage N and compares it with the reference (lists and
audio byte for byte, training resumed from its checkpoint, finished decoding jobs and scoring parts
untouched, RESULTS.md with the same numbers).

The full set is 3 moments per stage (marker ``kill``: ``pytest -m kill tests/test_kill_resume.py``);
the default run samples it: the first moment of each stage. The moments come from ``KILL_SEED``
(default: ``kill_harness.DEFAULT_SEED``, fixed, so the same moments are tested every day; set it to
sample others); the seed is in each test id and in the log, so a failure is replayed with
``KILL_SEED=<seed> pytest tests/test_kill_resume.py -k <id>``.
"""

from __future__ import annotations

import logging
import os

import pytest

from kill_harness import DEFAULT_SEED, STAGES, KillHarness, moments_for

log = logging.getLogger(__name__)
KILL_SEED = int(os.environ.get("KILL_SEED", DEFAULT_SEED))
PER_STAGE = 3

pytestmark = pytest.mark.slow


def moment_params():
    """One param per moment; all but each stage's first carry the ``kill`` marker (the full set)."""
    params, seen = [], {}
    for stage, share in moments_for(KILL_SEED, PER_STAGE, STAGES):
        i = seen[stage] = seen.get(stage, -1) + 1
        marks = [pytest.mark.kill] if i else []
        name = f"seed{KILL_SEED}-stage{stage}-{i}-at{share}"
        params.append(pytest.param(stage, share, marks=marks, id=name))
    return params


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    log.info("KILL_SEED=%d (replay: KILL_SEED=%d pytest tests/test_kill_resume.py)", KILL_SEED, KILL_SEED)
    harness = KillHarness(tmp_path_factory.mktemp("kill"))
    durations = harness.build_reference()
    log.info("reference stages (s): %s", {s: round(d, 1) for s, d in durations.items()})
    return harness


@pytest.mark.parametrize(("stage", "share"), moment_params())
def test_rerun_after_kill_equals_uninterrupted_run(harness, stage, share):
    moment = harness.kill_and_rerun(stage, share)
    log.info(
        "KILL_SEED=%d stage %d: kill at %.2f s of %.1f s, killed=%s (%d processes), rerun %.1f s, %s",
        KILL_SEED, stage, moment.at_s, harness.durations[stage], moment.killed, moment.processes,
        moment.rerun_s, moment.notes,
    )  # fmt: skip
    assert moment.killed or "finished_before_kill" in moment.notes
    assert moment.notes.get("finished_before_kill", 0) == 0, f"the run failed before the kill: {moment}"
    assert not moment.problems, f"KILL_SEED={KILL_SEED} stage {stage} at {moment.at_s} s: {moment.problems}"
