"""path.sh gives nltk a data folder it accepts, whatever the clone's modes and owner.

nltk (3.10) refuses a data folder, or a file in it, that is group- or world-writable or owned by
another account than ours or root's, and g2p_en (imported by ESPnet's enhancement task) then tries
to download its data at every start. A clone made under umask 002, or owned by someone else, must
still import quietly: path.sh then points NLTK_DATA at a private copy.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what g2p_en looks for at import (it downloads what it does not find)
FIND = (
    "import nltk; nltk.data.find('corpora/cmudict.zip'); "
    "nltk.data.find('taggers/averaged_perceptron_tagger_eng.zip')"
)


def clone(tmp_path: Path, mode: str | None = None, owner: int | None = None) -> Path:
    dst = tmp_path / "clone"
    (dst / "conf").mkdir(parents=True)
    shutil.copy2(ROOT / "path.sh", dst / "path.sh")
    shutil.copytree(ROOT / "conf" / "nltk_data", dst / "conf" / "nltk_data")
    for path in [dst / "conf" / "nltk_data", *(dst / "conf" / "nltk_data").rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o022 | int(mode or "0", 8))
        if owner is not None:
            os.chown(path, owner, owner)
    return dst


def env_for(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NLTK_DATA", "XDG_CACHE_HOME")}
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path), **extra)
    return env


def in_clone(recipe: Path, env: dict, python_code: str | None = None) -> subprocess.CompletedProcess:
    """Source the clone's path.sh under umask 002 (as a group-shared checkout would), print
    NLTK_DATA, then run python_code."""
    script = f'umask 002 && . {recipe}/path.sh && echo "$NLTK_DATA"'
    if python_code:
        script += f" && {sys.executable} -c {python_code!r}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)


def assert_private(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        st = path.lstat()
        assert st.st_uid == os.geteuid(), path
        assert not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IRWXO), (path, oct(st.st_mode))
    assert (folder / "corpora" / "cmudict.zip").read_bytes() == (
        ROOT / "conf" / "nltk_data" / "corpora" / "cmudict.zip"
    ).read_bytes()


def test_a_private_clone_uses_its_own_folder(tmp_path):
    recipe = clone(tmp_path)
    proc = in_clone(recipe, env_for(tmp_path))
    assert proc.stdout.split() == [str(recipe / "conf" / "nltk_data")], proc.stderr
    assert not (tmp_path / "home" / ".cache").exists()


def test_group_writable_clone_imports_espnet_quietly(tmp_path):
    recipe = clone(tmp_path, mode="020")
    # The condition is real: nltk refuses this folder as it is.
    refused = subprocess.run(
        [sys.executable, "-c", FIND],
        capture_output=True,
        text=True,
        env={**os.environ, "NLTK_DATA": str(recipe / "conf/nltk_data")},
    )
    assert refused.returncode != 0 and "NLTK will not read data from" in refused.stderr

    cache = tmp_path / "cache"
    proc = in_clone(
        recipe, env_for(tmp_path, XDG_CACHE_HOME=str(cache)), "import espnet2.tasks.enh; print('ok')"
    )
    lines = proc.stdout.split()
    assert proc.returncode == 0 and lines[-1] == "ok", proc.stderr[-2000:]
    assert Path(lines[0]).parent == cache
    assert_private(Path(lines[0]))
    assert "[nltk_data]" not in proc.stderr and "NLTK will not" not in proc.stderr, proc.stderr[-2000:]

    # Sourced again: the same copy, not a new one.
    again = in_clone(recipe, env_for(tmp_path, XDG_CACHE_HOME=str(cache)))
    assert again.stdout.split() == [lines[0]] and len(list(cache.iterdir())) == 1


def test_a_broken_copy_is_replaced(tmp_path):
    recipe = clone(tmp_path, mode="002")
    cache = tmp_path / "cache"
    first = Path(in_clone(recipe, env_for(tmp_path, XDG_CACHE_HOME=str(cache))).stdout.split()[0])
    (first / "taggers" / "averaged_perceptron_tagger_eng.zip").unlink()
    first.chmod(0o775)
    proc = in_clone(recipe, env_for(tmp_path, XDG_CACHE_HOME=str(cache)), FIND)
    assert proc.returncode == 0 and proc.stdout.split() == [str(first)], proc.stderr[-2000:]
    assert_private(first)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the clone to another account needs root")
def test_clone_owned_by_another_account(tmp_path):
    recipe = clone(tmp_path, owner=4242)
    proc = in_clone(recipe, env_for(tmp_path), FIND)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = Path(proc.stdout.split()[0])
    assert folder.is_relative_to(tmp_path / "home" / ".cache")
    assert_private(folder)
    assert "NLTK will not" not in proc.stderr


def test_no_cache_folder_falls_back_to_a_private_temporary_copy(tmp_path):
    recipe = clone(tmp_path, mode="020")
    (tmp_path / "home").write_text("not a folder: nothing can be made under it\n")
    proc = in_clone(recipe, env_for(tmp_path), FIND)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = Path(proc.stdout.split()[0])
    assert folder.parent == tmp_path and folder.name.startswith("tmp.")
    assert_private(folder)
