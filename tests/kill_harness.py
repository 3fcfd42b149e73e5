#!/usr/bin/env python3
"""Kill ``./run.sh`` with SIGKILL at random moments inside each stage, rerun it, compare the outputs.

The harness builds a tiny recipe (``recipe_copy``) once, stage by stage, timing each stage and keeping
a snapshot of the outputs after it (the *reference*). For a kill moment in stage N it restores the
snapshot of stage N-1, starts ``./run.sh --stage N --stop-stage N`` in a new session, sends SIGKILL
to every process of that session after a seeded random share of stage N's measured duration (the
jobs of ``utils/run.pl`` lead their own process groups, so the session is what "the whole run" is),
records what was finished at that moment, reruns the same command and checks that:

- every output of the stage equals the reference byte for byte (lists, audio, statistics, scores,
  decoded wavs; ``*.log`` files and hidden ``*.tmp`` leftovers of killed writers are not outputs);
  nothing is left under a final name that the reference does not have;
- training resumed from the checkpoint that existed at the kill (the epoch counter goes on; the
  rerun's ``train.log`` says so) and ends with the reference's weights;
- decoding jobs and scoring parts that were complete at the kill are untouched (same mtimes);
- RESULTS.md is regenerated with the same content (only its date line differs);
- the packed archive (stage 7) reads back whole and holds the reference's weights.

Run the full set from the command line (the pytest file samples it, see tests/test_kill_resume.py):

    python3 tests/kill_harness.py --work /tmp/kill --moments 3 [--seed 20261125]

The kill moments come from ``--seed``; the default is a fixed seed, so a run gives the same moments
every day (another seed samples other moments; every run logs the seed it used, for replaying).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import recipe_copy

log = logging.getLogger("kill_harness")
STAGES = tuple(range(8))
# Two epochs, so that a kill can land after the first checkpoint and training must resume from it.
TRAINING = {**recipe_copy.TINY_TRAINING, "max_epoch": 2}
MODELS = ("pl",)  # the PL config exercises every registered class; DL adds time, not code paths
TEST_SET = "test"
DEFAULT_SEED = 20261125  # of the kill moments: fixed, so that a failure replays (KILL_SEED overrides)


def outputs_of(stage: int, models=MODELS) -> list[str]:
    """Folders (relative to the recipe) whose files are the outputs of ``stage``."""
    m = [f"exp/enh_{t}" for t in models]
    return {
        0: ["downloads/dns5_embedded"],
        1: ["data/lists/clean", "data/lists/noise", "data/lists/rir", "dump/audio16k"],
        2: ["data/train", "data/dev", "data/test", "data/train_dm", "dump/sim"],
        3: ["exp/enh_stats_16k/train", "exp/enh_stats_16k/valid"],
        4: [],  # compared by weights and checkpoints (train_state), not bytes
        5: [f"{d}/decode_{TEST_SET}" for d in m],
        6: [f"exp/noisy/decode_{TEST_SET}/scoring", *(f"{d}/decode_{TEST_SET}/scoring" for d in m), "egs"],
        7: [],  # compared by the packed weights (an archive records its date), see _check_stage7
    }[stage]


def is_litter(path: Path) -> bool:
    """A hidden temporary file of an atomic writer that was killed (``.name.XXXX[.ext].tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def is_not_output(rel: str) -> bool:
    """Files that legitimately differ between runs: logs, figures (PNG metadata), and the journal of
    stage 1's audio cache (its lines are appended in the order the jobs happen to convert files)."""
    return rel.endswith((".log", ".png", ".sources.jsonl"))


def list_files(root: Path, rels: list[str]) -> dict[str, Path]:
    files = {}
    for rel in rels:
        top = root / rel
        if not top.exists():
            continue
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and not is_litter(path) and not is_not_output(str(path.relative_to(root))):
                files[str(path.relative_to(root))] = path
    return files


def compare_outputs(ref: Path, got: Path, rels: list[str]) -> list[str]:
    """Differences between the outputs under ``rels`` of two recipe trees (empty: identical)."""
    want, have = list_files(ref, rels), list_files(got, rels)
    problems = [f"missing: {r}" for r in sorted(set(want) - set(have))]
    problems += [f"not in the reference: {r}" for r in sorted(set(have) - set(want))]
    for rel in sorted(set(want) & set(have)):
        if want[rel].is_symlink() != have[rel].is_symlink() or (
            want[rel].is_symlink() and os.readlink(want[rel]) != os.readlink(have[rel])
        ):
            problems.append(f"symlink differs: {rel}")
        elif want[rel].read_bytes() != have[rel].read_bytes():
            problems.append(f"content differs: {rel}")
    return problems


def litter(root: Path, rels: list[str]) -> list[str]:
    found = []
    for rel in rels:
        if (root / rel).is_dir():
            found += [str(p.relative_to(root)) for p in (root / rel).rglob("*") if is_litter(p)]
    return found


def session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (field 6 of /proc/<pid>/stat)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int, timeout: float = 30.0) -> int:
    """SIGKILL every process of session ``sid`` until none is left; return how many were killed."""
    killed: set[int] = set()
    deadline = time.time() + timeout
    while True:
        pids = session_pids(sid)
        if not pids:
            return len(killed)
        if time.time() > deadline:
            raise RuntimeError(f"processes of session {sid} survive SIGKILL: {pids}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def wait_for_lock(path: Path, timeout: float = 30.0) -> float:
    """Wait until nobody holds ``flock`` on ``path``; return the seconds waited.

    /proc shows a killed multi-threaded process as a zombie as soon as its main thread is gone, while
    its other threads, which share its open files (and so the run lock), may still be exiting.
    """
    import fcntl

    start = time.time()
    if not path.exists():
        return 0.0
    with open(path) as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return round(time.time() - start, 3)
            except BlockingIOError:
                if time.time() - start > timeout:
                    raise RuntimeError(f"{path} is still locked {timeout} s after the kill") from None
                time.sleep(0.05)


def checkpoint_epoch(exp: Path) -> int | str | None:
    """Epoch stored in ``exp/checkpoint.pth``; None without one, "unreadable" if it cannot be loaded."""
    path = exp / "checkpoint.pth"
    if not path.exists():
        return None
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["reporter"]["epoch"])
    except Exception:  # noqa: BLE001 - a checkpoint cut short by the kill
        return "unreadable"


def model_weights(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def same_weights(a: Path, b: Path) -> bool:
    import torch

    wa, wb = model_weights(a), model_weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def mtimes(root: Path, rels: list[str]) -> dict[str, int]:
    return {r: p.stat().st_mtime_ns for r, p in list_files(root, rels).items()}


@dataclasses.dataclass
class Moment:
    """One kill: where, when, what was finished then, and what the rerun showed."""

    stage: int
    at_s: float
    killed: bool = False
    processes: int = 0
    rerun_s: float = 0.0
    identical: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)


class KillHarness:
    """Reference build, snapshots and kill/rerun/compare cycles in ``work``."""

    def __init__(self, work: Path, models=MODELS, training=None):
        self.work = Path(work)
        self.models = tuple(models)
        self.recipe = self.work / "recipe"
        self.snaps = self.work / "snaps"
        self.logs = self.work / "logs"
        self.training = training or TRAINING
        self.durations: dict[int, float] = {}

    def args(self, stage: int) -> list[str]:
        return ["--stage", str(stage), "--stop-stage", str(stage), "--models", " ".join(self.models)]

    def command(self, stage: int) -> list[str]:
        return recipe_copy.run_command(self.recipe, *self.args(stage))

    def build_reference(self, stages=STAGES) -> dict[int, float]:
        """Run the stages one by one, timing each; snapshot ``snaps/<N>`` after stage N."""
        recipe_copy.make_tiny_recipe(self.recipe, tags=self.models, training=self.training)
        self.logs.mkdir(parents=True, exist_ok=True)
        recipe_copy.snapshot(self.recipe, self.snaps / "before")
        for stage in range(max(stages) + 1):
            start = time.time()
            self.run_stage(stage, self.logs / f"reference.{stage}.log")
            self.durations[stage] = time.time() - start
            recipe_copy.snapshot(self.recipe, self.snaps / str(stage))
            log.info("reference stage %d: %.1f s", stage, self.durations[stage])
        return self.durations

    def run_stage(self, stage: int, log_file: Path) -> str:
        proc = subprocess.run(
            self.command(stage),
            cwd=self.recipe,
            env=recipe_copy.recipe_env(),
            capture_output=True,
            text=True,
            start_new_session=True,  # signals meant for the caller's process group do not reach it
        )
        out = proc.stdout + proc.stderr
        log_file.write_text(out)
        if proc.returncode != 0 or "Successfully finished" not in out:
            raise AssertionError(
                f"stage {stage} failed (rc {proc.returncode}), log {log_file}:\n{out[-5000:]}"
            )
        return out

    def snapshot_of(self, stage: int) -> Path:
        return self.snaps / (str(stage - 1) if stage > 0 else "before")

    def state(self, stage: int) -> dict:
        """What was finished when the kill came (compared with the rerun afterwards)."""
        r, state = self.recipe, {}
        if stage == 4:
            state["epochs"] = {m: checkpoint_epoch(r / f"exp/enh_{m}") for m in self.models}
        if stage == 5:
            for m in self.models:
                logdir = r / f"exp/enh_{m}/decode_{TEST_SET}/logdir"
                done = sorted(str(p.parent.relative_to(r)) for p in logdir.glob("output.*/.done"))
                finished = (r / f"exp/enh_{m}/decode_{TEST_SET}/.done").exists()  # rerun skips the stage
                state[m] = {"done_jobs": done, "mtimes": mtimes(r, done), "finished": finished}
        if stage == 6:
            parts = []
            for d in ["exp/noisy", *(f"exp/enh_{m}" for m in self.models)]:
                for part in sorted((r / d / f"decode_{TEST_SET}/scoring/logdir").glob("part.*")):
                    if (part / "stamps").exists() and not (part / ".journal.jsonl").exists():
                        parts.append(str(part.relative_to(r)))  # finished: its files are final
            state["done_parts"] = parts
            state["mtimes"] = mtimes(r, parts)
        return state

    def kill_and_rerun(self, stage: int, share: float) -> Moment:
        """Restore the state before ``stage``, kill at ``share`` of its duration, rerun, compare."""
        moment = Moment(stage=stage, at_s=round(share * self.durations[stage], 2))
        recipe_copy.restore(self.snapshot_of(stage), self.recipe)
        tag = f"stage{stage}.{int(time.time() * 1000)}"
        with open(self.logs / f"{tag}.killed.log", "w") as out:
            proc = subprocess.Popen(
                self.command(stage), cwd=self.recipe, env=recipe_copy.recipe_env(), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                proc.wait(timeout=moment.at_s)
                moment.notes["finished_before_kill"] = proc.returncode
            except subprocess.TimeoutExpired:
                moment.processes = kill_session(proc.pid)
                proc.wait()
                moment.killed = True
                moment.notes["lock_wait_s"] = wait_for_lock(self.recipe / "exp" / ".run.lock")
        before = self.state(stage)
        start = time.time()
        try:
            rerun_log = self.run_stage(stage, self.logs / f"{tag}.rerun.log")
        except AssertionError as err:
            moment.problems.append(str(err))
            return moment
        moment.rerun_s = round(time.time() - start, 1)
        ref = self.snaps / str(stage)
        moment.problems += compare_outputs(ref, self.recipe, outputs_of(stage, self.models))
        moment.problems += getattr(self, f"_check_stage{stage}", lambda *a: [])(before, rerun_log, ref)
        moment.notes["litter"] = len(litter(self.recipe, outputs_of(stage, self.models)))
        moment.notes["state_at_kill"] = {k: v for k, v in before.items() if k != "mtimes"}
        moment.identical = not moment.problems
        return moment

    def _check_stage4(self, before: dict, rerun_log: str, ref: Path) -> list[str]:
        problems = []
        for m in self.models:
            exp, ref_exp = self.recipe / f"exp/enh_{m}", ref / f"exp/enh_{m}"
            train_log = (exp / "train.log").read_text()
            started = [int(e) for e in re.findall(r"\(trainer:\d+\) INFO: (\d+)/\d+epoch started", train_log)]
            epoch = before["epochs"][m]
            if epoch == "unreadable":  # checkpoints are saved atomically (atomic_save): never cut short
                problems.append(f"{m}: checkpoint.pth was unreadable after the kill")
                epoch = None
            first = (epoch or 0) + 1
            resumed = "The training was resumed using" in train_log
            if first <= self.training["max_epoch"] and (not started or started[0] != first):
                problems.append(
                    f"{m}: checkpoint had epoch {epoch}, but the rerun started at epoch {started[:1]}"
                )
            if bool(epoch) != resumed:
                problems.append(f"{m}: checkpoint epoch {epoch}, rerun log resumed={resumed}")
            for name in ("valid.loss.best.pth", "checkpoint.pth"):
                if not (exp / name).exists():
                    problems.append(f"{m}: {name} missing after the rerun")
            if os.readlink(exp / "valid.loss.best.pth") != os.readlink(ref_exp / "valid.loss.best.pth"):
                problems.append(f"{m}: valid.loss.best.pth points to another epoch than in the reference")
            elif not same_weights(exp / "valid.loss.best.pth", ref_exp / "valid.loss.best.pth"):
                problems.append(f"{m}: the resumed model's weights differ from the uninterrupted run's")
            if checkpoint_epoch(exp) != self.training["max_epoch"]:
                problems.append(f"{m}: checkpoint.pth is not at epoch {self.training['max_epoch']}")
        return problems

    def _check_stage5(self, before: dict, rerun_log: str, ref: Path) -> list[str]:
        problems = []
        for m in self.models:
            now = mtimes(self.recipe, before[m]["done_jobs"])
            if now != before[m]["mtimes"]:
                problems.append(
                    f"{m}: decoding jobs complete at the kill were redone: {before[m]['done_jobs']}"
                )
            for job in [] if before[m]["finished"] else before[m]["done_jobs"]:
                n = job.rsplit(".", 1)[1]
                job_log = (self.recipe / job).parent / f"inference.{n}.log"
                if "is complete; skipping" not in job_log.read_text():
                    problems.append(f"{m}: {job_log} does not say the job was skipped")
        return problems

    def _check_stage6(self, before: dict, rerun_log: str, ref: Path) -> list[str]:
        problems = []
        if mtimes(self.recipe, before["done_parts"]) != before["mtimes"]:
            problems.append(f"scoring parts complete at the kill were rewritten: {before['done_parts']}")
        want, got = (ref / "RESULTS.md").read_text(), (self.recipe / "RESULTS.md").read_text()
        drop_date = re.compile(r"^- date: .*$", re.M)
        if drop_date.sub("", want) != drop_date.sub("", got):
            problems.append("RESULTS.md differs from the reference (beyond its date line)")
        for png in ("spectrograms.png", "training_curves.png"):
            if not (self.recipe / "egs" / png).stat().st_size > 10_000:
                problems.append(f"egs/{png} is missing or too small")
        return problems

    def _check_stage7(self, before: dict, rerun_log: str, ref: Path) -> list[str]:
        from tfgridnet_pl.deploy.packed_model import PackedModelError, read_pack

        problems = []
        for m in self.models:
            rel = f"exp/enh_{m}/packed/{m}.tar.gz"
            try:
                got, want = read_pack(self.recipe / rel), read_pack(ref / rel)  # checks every sha256
            except (OSError, PackedModelError) as err:
                problems.append(f"{m}: {rel} unreadable after the rerun: {err}")
                continue
            a, b = got.state_dict(), want.state_dict()
            if a.keys() != b.keys() or any(not a[k].equal(b[k]) for k in a):
                problems.append(f"{m}: {rel} holds other weights than the reference's")
            if sorted(got.onnx) != sorted(want.onnx):
                problems.append(f"{m}: {rel} ONNX members {sorted(got.onnx)} != {sorted(want.onnx)}")
        return problems


def moments_for(seed: int, per_stage: int, stages=STAGES) -> list[tuple[int, float]]:
    """Seeded (stage, share of the stage's duration) pairs; shares lie in [0.03, 0.85]: a rerun
    from a snapshot runs faster than the reference did, so later kills would often come too late.

    Each stage draws from its own generator, so the first ``k`` moments of a stage are the same
    whatever ``per_stage`` and ``stages`` are: the sampled CI set is a subset of the full set."""
    pairs = []
    for s in stages:
        rng = random.Random(f"{seed}/{s}")
        pairs += [(s, round(rng.uniform(0.03, 0.85), 3)) for _ in range(per_stage)]
    return pairs


def run_all(work: Path, seed: int, per_stage: int, stages=STAGES) -> dict:
    """Reference build plus ``per_stage`` kill moments per stage; a JSON-able report."""
    start = time.time()
    harness = KillHarness(work)
    harness.build_reference(stages)
    results = []
    for stage, share in moments_for(seed, per_stage, stages):
        moment = harness.kill_and_rerun(stage, share)
        log.info(
            "stage %d, kill at %.1f s of %.1f s: killed=%s (%d processes), rerun %.1f s, identical=%s %s",
            stage, moment.at_s, harness.durations[stage], moment.killed, moment.processes, moment.rerun_s,
            moment.identical, moment.problems or "",
        )  # fmt: skip
        results.append(dataclasses.asdict(moment))
    return {
        "seed": seed,
        "per_stage": per_stage,
        "reference_s": {str(k): round(v, 1) for k, v in harness.durations.items()},
        "moments": results,
        "killed": sum(r["killed"] for r in results),
        "identical": sum(r["identical"] for r in results),
        "total_s": round(time.time() - start, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (the recipe copy goes here)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="of the kill moments")
    parser.add_argument("--moments", type=int, default=3, help="kill moments per stage")
    parser.add_argument("--stages", default="0,1,2,3,4,5,6")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    stages = tuple(int(s) for s in args.stages.split(","))
    log.info("KILL_SEED=%d, %d moments per stage %s", args.seed, args.moments, stages)
    report = run_all(args.work, args.seed, args.moments, stages)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    log.info(
        "killed %d moments, %d reruns identical, %.0f s",
        report["killed"],
        report["identical"],
        report["total_s"],
    )
    return 0 if report["identical"] == len(report["moments"]) else 1


if __name__ == "__main__":
    sys.exit(main())
