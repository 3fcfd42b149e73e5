"""utils/split_scp.pl and the utt2spk <-> spk2utt converters."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UTILS = ROOT / "utils"


def split(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(UTILS / "split_scp.pl"), *args], cwd=cwd, capture_output=True, text=True)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.mark.parametrize("n_lines, n_parts", [(10, 3), (9, 3), (7, 7), (100, 8), (5, 1)])
def test_even_contiguous_split(tmp_path: Path, n_lines: int, n_parts: int) -> None:
    lines = [f"utt{i:03d} /data/a {i}.wav" for i in range(n_lines)]
    write_lines(tmp_path / "in.scp", lines)
    outs = [f"out.{j}.scp" for j in range(1, n_parts + 1)]
    r = split(tmp_path, "in.scp", *outs)
    assert r.returncode == 0, r.stderr
    parts = [(tmp_path / o).read_text().splitlines() for o in outs]
    assert sum(parts, []) == lines  # contiguous, in order, nothing lost or repeated
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert not list(tmp_path.glob("*.tmp*"))


def test_more_parts_than_lines_is_an_error(tmp_path: Path) -> None:
    write_lines(tmp_path / "in.scp", ["a x", "b y"])
    r = split(tmp_path, "in.scp", "1", "2", "3")
    assert r.returncode == 1
    assert "cannot split in.scp into 3 parts: it has only 2 lines" in r.stderr
    assert not (tmp_path / "1").exists()


def test_utt2spk_keeps_each_speaker_in_one_part(tmp_path: Path) -> None:
    spk_sizes = {"A": 3, "B": 1, "C": 4, "D": 1, "E": 2, "F": 3}
    utt2spk = [f"{s}_{i} {s}" for s, n in spk_sizes.items() for i in range(n)]
    write_lines(tmp_path / "utt2spk", utt2spk)
    write_lines(tmp_path / "wav.scp", [f"{line.split()[0]} {line.split()[0]}.wav" for line in utt2spk])
    r = split(tmp_path, "--utt2spk=utt2spk", "wav.scp", "w1", "w2", "w3")
    assert r.returncode == 0, r.stderr
    parts = [(tmp_path / w).read_text().splitlines() for w in ("w1", "w2", "w3")]
    assert [line for p in parts for line in p] == (tmp_path / "wav.scp").read_text().splitlines()
    owners: dict[str, set[int]] = {}
    for j, part in enumerate(parts):
        assert part, "no part may be empty"
        for line in part:
            owners.setdefault(line.split("_")[0], set()).add(j)
    assert all(len(o) == 1 for o in owners.values()), owners
    sizes = sorted(len(p) for p in parts)
    assert sizes[-1] <= 6  # 14 lines: whole speakers can give 4/5/5; a poor cut would give 8+


def test_utt2spk_errors(tmp_path: Path) -> None:
    write_lines(tmp_path / "utt2spk", ["a1 A", "b1 B", "a2 A"])
    write_lines(tmp_path / "wav.scp", ["a1 x", "b1 x", "a2 x"])
    r = split(tmp_path, "--utt2spk", "utt2spk", "wav.scp", "o1", "o2")
    assert r.returncode == 1 and "speaker 'A' are not contiguous" in r.stderr
    write_lines(tmp_path / "utt2spk", ["a1 A", "a2 A", "b1 B"])
    write_lines(tmp_path / "wav.scp", ["a1 x", "a2 x", "b1 x", "c1 x"])
    r = split(tmp_path, "--utt2spk", "utt2spk", "wav.scp", "o1", "o2")
    assert r.returncode == 1 and "'c1' is not in utt2spk" in r.stderr
    write_lines(tmp_path / "wav.scp", ["a1 x", "a2 x", "b1 x"])
    r = split(tmp_path, "--utt2spk", "utt2spk", "wav.scp", "o1", "o2", "o3")
    assert r.returncode == 1 and "it has only 2 speakers" in r.stderr


def test_dash_j_prints_one_part_zero_or_one_based(tmp_path: Path) -> None:
    lines = [f"u{i} v" for i in range(10)]
    write_lines(tmp_path / "in.scp", lines)
    r = split(tmp_path, "-j", "3", "0", "in.scp")
    assert r.returncode == 0 and r.stdout.splitlines() == lines[:4]
    r = split(tmp_path, "--one-based", "-j", "3", "3", "in.scp", "last.scp")
    assert r.returncode == 0 and (tmp_path / "last.scp").read_text().splitlines() == lines[7:]
    r = split(tmp_path, "-j", "3", "3", "in.scp")
    assert r.returncode == 1 and "J must be an integer from 0 to 2" in r.stderr


def test_speaker_list_conversions_round_trip(tmp_path: Path) -> None:
    write_lines(tmp_path / "utt2spk", ["a1 A", "a2 A", "b1 B", "c1 C", "c2 C"])
    run = subprocess.run
    spk2utt = run(
        [str(UTILS / "utt2spk_to_spk2utt.pl"), "utt2spk"], cwd=tmp_path, capture_output=True, text=True
    )
    assert spk2utt.returncode == 0
    assert spk2utt.stdout == "A a1 a2\nB b1\nC c1 c2\n"
    back = run([str(UTILS / "spk2utt_to_utt2spk.pl")], input=spk2utt.stdout, capture_output=True, text=True)
    assert back.stdout == (tmp_path / "utt2spk").read_text()
    write_lines(tmp_path / "bad", ["a1 A", "a2"])
    bad = run([str(UTILS / "utt2spk_to_spk2utt.pl"), "bad"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and "bad line 2: expected 'utt spk'" in bad.stderr
    bad = run([str(UTILS / "spk2utt_to_utt2spk.pl")], input="A a1\nB\n", capture_output=True, text=True)
    assert bad.returncode == 1 and "line 2: speaker 'B' has no utterances" in bad.stderr
