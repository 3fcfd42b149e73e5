"""The layers point one way (docs/design.md): run.sh -> local/ -> pyscripts entry points -> library.

Checked on the source text (the AST), so that a new import against the direction fails here before
anyone has to notice it in a review.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "pyscripts" / "tfgridnet_pl"
ENTRY_POINTS = {p.stem for p in (ROOT / "pyscripts").glob("*.py")}
# local/'s modules and packages (embedded_corpus, recipe_env), and local itself
LOCAL_MODULES = (
    {p.stem for p in (ROOT / "local").glob("*.py")}
    | {p.parent.name for p in (ROOT / "local").glob("*/__init__.py")}
    | {"local"}
)


def imported(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def test_the_library_imports_nothing_above_it():
    wrong = {
        str(p.relative_to(ROOT)): sorted(imported(p) & (ENTRY_POINTS | LOCAL_MODULES))
        for p in python_files(LIBRARY)
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_local_python_imports_the_library_never_an_entry_point():
    wrong = {
        str(p.relative_to(ROOT)): sorted(imported(p) & ENTRY_POINTS) for p in python_files(ROOT / "local")
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_nothing_edits_sys_path_outside_the_tests():
    edits = [
        str(p.relative_to(ROOT))
        for p in python_files(ROOT / "pyscripts", ROOT / "local")
        if re.search(r"sys\.path\.(insert|append|extend|remove)|sys\.path\s*=", p.read_text(encoding="utf-8"))
    ]
    assert not edits


def test_every_stage_helper_sources_the_shared_library_and_defines_no_logger_of_its_own():
    helpers = sorted((ROOT / "local").glob("*.sh"))
    for helper in helpers:
        text = helper.read_text(encoding="utf-8")
        if helper.name in ("lib.sh", "setup_env.sh"):  # the library itself; set-up runs before any venv
            continue
        assert ". local/lib.sh" in text, f"{helper.name} does not source local/lib.sh"
        assert not re.search(r"^(log|die)\(\)", text, re.M), f"{helper.name} defines its own log/die"


def test_each_stage_of_run_sh_calls_one_helper():
    text = (ROOT / "run.sh").read_text(encoding="utf-8")
    blocks = re.split(r"^if stage_enabled ", text, flags=re.M)[1:]
    assert len(blocks) == 8
    for block in blocks:
        body = block[: block.index("\nfi\n")]
        helpers = set(re.findall(r"local/\w+\.sh", body))
        assert len(helpers) == 1, f"stage {block[:1]} calls {sorted(helpers)}"


def test_no_python_file_outside_the_tests_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in python_files(ROOT / "pyscripts", ROOT / "local")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"split these (docs/design.md): {long}"
