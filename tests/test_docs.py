"""The documentation names files that exist: every repository path quoted in README.md and docs/*.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A path into the repository: starts with one of its folders, no placeholders (<tag>, *, {a,b}).
PATH = re.compile(r"(?<![\w./-])((?:local|pyscripts|utils|conf|tests|docs|egs)/[\w./-]*[\w])(?![\w<*{])")


def quoted_paths(text: str) -> set[str]:
    """Paths in `inline code` and [links](...); fenced code blocks hold examples (a user's own files)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    paths = set()
    for span in re.findall(r"`([^`]+)`|\]\(([^)]+)\)", text):
        for part in span:
            paths.update(m for m in PATH.findall(part) if not re.search(r"[<>*{}]", part.split(m)[1][:1]))
    return paths


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_repository_paths_exist(doc):
    text = doc.read_text(encoding="utf-8")
    missing = sorted(
        p for p in quoted_paths(text) if not (doc.parent / p).exists() and not (ROOT / p).exists()
    )
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


def test_every_test_the_bad_input_catalogue_names_exists():
    text = (ROOT / "docs" / "bad-inputs.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(test_\w+\.py)::(test_\w+)", text))
    assert len(named) >= 25
    missing = [
        f"{f}::{t}" for f, t in sorted(named)
        if not (ROOT / "tests" / f).exists() or f"def {t}(" not in (ROOT / "tests" / f).read_text()
    ]  # fmt: skip
    assert not missing, f"docs/bad-inputs.md names tests that do not exist: {missing}"
