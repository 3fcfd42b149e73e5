"""A tiny, isolated copy of the recipe for tests that run ``./run.sh`` (end to end, kill, lock tests).

The copy holds the repository's tracked and untracked (not ignored) files, its own data/, exp/ and
dump/, and symlinks to the repository's ``.venv`` and ``.venv-peers`` (built here once if missing) and
to the Debian package caches under ``downloads/{apt,debs,pkgs}``, so nothing is fetched or installed
twice. ``shrink_configs`` makes the
models, the training and the simulated sets tiny: these runs check plumbing and outputs, not quality.

Lists written by stage 1 hold absolute paths inside the copy, so a snapshot of a copy must be
restored at the same path (``snapshot`` / ``restore``) to stay self-contained.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS_OPTS = "--max-clean-minutes 0.5 --max-noise-minutes 0.6 --n-rirs 3"
TINY_SEPARATOR = {"n_layers": 2, "emb_dim": 8, "lstm_hidden_units": 8, "attn_n_head": 1}
TINY_TRAINING = {"max_epoch": 1, "num_iters_per_epoch": 4, "batch_size": 2, "num_workers": 0}
TINY_SETS = {
    "train": {"num_utts": 8, "segment_s": 3.0},
    "dev": {"num_utts": 4, "segment_s": 3.0},
    "test": {"num_utts": 4, "segment_s": 3.0},
}  # ESPnet's chunk iterator drops utterances that are not longer than chunk_length (2 s).
CACHES = ("apt", "debs", "pkgs")


def copy_recipe(dst: Path) -> Path:
    """Copy the recipe's files (``git ls-files -co --exclude-standard``) into ``dst``; link the caches."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\n")
    dst.mkdir(parents=True, exist_ok=True)
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() or src.is_symlink():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel, follow_symlinks=False)
    (dst / ".venv").symlink_to(ROOT / ".venv")
    subprocess.run(["local/setup_peers_env.sh"], cwd=ROOT, env=recipe_env(), check=True, capture_output=True)
    (dst / ".venv-peers").symlink_to(ROOT / ".venv-peers")
    (dst / "downloads").mkdir()
    for cache in CACHES:
        if (ROOT / "downloads" / cache).exists():
            (dst / "downloads" / cache).symlink_to(ROOT / "downloads" / cache)
    return dst


def shrink_configs(recipe: Path, tags=None, training: dict | None = None, sets: dict | None = None) -> None:
    """Make ``conf/train_<tag>.yaml`` tiny real files (not symlinks), by default every one of them (a
    default ``./run.sh`` trains several models), and the simulated sets small."""
    paths = sorted((recipe / "conf").glob("train_*.yaml"))
    for path in paths if tags is None else [recipe / "conf" / f"train_{tag}.yaml" for tag in tags]:
        cfg = yaml.safe_load(path.resolve().read_text())
        cfg["separator_conf"].update(TINY_SEPARATOR)
        if "snrs" in cfg["criterions"][0].get("wrapper_conf", {}):
            cfg["criterions"][0]["wrapper_conf"]["snrs"] = [5.0]  # one intermediate block
        cfg.update(training or TINY_TRAINING)
        path.unlink()
        path.write_text(yaml.safe_dump(cfg))
    sim = yaml.safe_load((recipe / "conf" / "simulation.yaml").read_text())
    sim["sets"] = sets or TINY_SETS
    (recipe / "conf" / "simulation.yaml").write_text(yaml.safe_dump(sim))


def recipe_env(**extra: str) -> dict[str, str]:
    """The caller's environment without the test runner's Python settings (path.sh sets its own)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def run_command(recipe: Path, *args: str) -> list[str]:
    """The ``./run.sh`` command line of a tiny run (2 jobs, the tiny corpus) with extra ``args``."""
    return ["./run.sh", "--nj", "2", "--corpus-opts", CORPUS_OPTS, *args]


def run(recipe: Path, *args: str, timeout: float = 1500) -> str:
    """Run ``./run.sh`` in ``recipe``; assert it succeeds and return its output."""
    proc = subprocess.run(
        run_command(recipe, *args),
        cwd=recipe,
        env=recipe_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"run.sh {args} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout + proc.stderr


def make_tiny_recipe(dst: Path, **shrink) -> Path:
    """``copy_recipe`` then ``shrink_configs``."""
    recipe = copy_recipe(dst)
    shrink_configs(recipe, **shrink)
    return recipe


OUTPUT_DIRS = ("data", "exp", "dump", "downloads/dns5_embedded", "egs", "RESULTS.md")


def snapshot(recipe: Path, dst: Path) -> Path:
    """Copy the recipe's outputs (``OUTPUT_DIRS``) to ``dst`` keeping time stamps (``cp -a``)."""
    dst.mkdir(parents=True, exist_ok=True)
    for rel in OUTPUT_DIRS:
        if (recipe / rel).exists():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", str(recipe / rel), str(dst / rel)], check=True)
    return dst


def restore(snap: Path, recipe: Path) -> None:
    """Replace the recipe's outputs by those of ``snap`` (the inverse of ``snapshot``)."""
    for rel in OUTPUT_DIRS:
        target = recipe / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        if (snap / rel).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", str(snap / rel), str(target)], check=True)
