"""utils/validate_data_dir.sh and utils/fix_data_dir.sh on enhancement data directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATE = str(ROOT / "utils" / "validate_data_dir.sh")
FIX = str(ROOT / "utils" / "fix_data_dir.sh")
UTTS = {"spkA_u1": "spkA", "spkA_u2": "spkA", "spkB_u1": "spkB", "spkC_u1": "spkC"}


def write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("".join(f"{k} {v}\n" for k, v in rows))


def make_dir(root: Path, utts: dict[str, str] = UTTS) -> Path:
    """A valid enhancement data dir (as the simulation stage writes it), with real files."""
    data = root / "data" / "train"
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    keys = sorted(utts)
    lists: dict[str, list[tuple[str, str]]] = {"wav.scp": [], "spk1.scp": [], "noise1.scp": []}
    for key in keys:
        for name, kind in (("wav.scp", "noisy"), ("spk1.scp", "clean"), ("noise1.scp", "noise")):
            wav = root / "wavs" / f"{key} {kind}.wav"  # a space in the path is allowed
            wav.touch()
            lists[name].append((key, str(wav)))
    for name, rows in lists.items():
        write(data / name, rows)
    write(data / "utt2spk", [(k, utts[k]) for k in keys])
    write(data / "utt2dur", [(k, "2.50") for k in keys])
    spks = sorted(set(utts.values()))
    write(data / "spk2utt", [(s, " ".join(k for k in keys if utts[k] == s)) for s in spks])
    return data


def validate(data: Path, *opts: str) -> subprocess.CompletedProcess:
    """Run from the recipe-like root, with the data dir given relative to it (data/train)."""
    args = [VALIDATE, *(opts or ("--no-feats", "--no-text")), str(data.relative_to(data.parents[1]))]
    return subprocess.run(args, capture_output=True, text=True, cwd=data.parents[1])


def test_good_dir_passes(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    r = validate(data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Successfully validated data-directory data/train"
    assert r.stderr == ""


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def drop_line(path: Path, key: str) -> None:
    path.write_text(
        "".join(line for line in path.read_text().splitlines(True) if not line.startswith(key + " "))
    )


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line + "\n")


BREAKAGES = {
    "missing utt2spk": (lambda d: (d / "utt2spk").unlink(), "utt2spk is missing"),
    "missing wav.scp": (lambda d: (d / "wav.scp").unlink(), "wav.scp is missing"),
    "unsorted": (
        lambda d: write(
            d / "utt2dur", [("spkB_u1", "1"), ("spkA_u1", "1"), ("spkA_u2", "1"), ("spkC_u1", "1")]
        ),
        "utt2dur line 2: not sorted: key 'spkA_u1' comes after 'spkB_u1'",
    ),
    "duplicate key": (
        lambda d: edit(d / "utt2dur", "spkA_u2 ", "spkA_u1 "),
        "utt2dur line 2: duplicate key 'spkA_u1'",
    ),
    "no value": (
        lambda d: edit(d / "utt2dur", "spkB_u1 2.50", "spkB_u1"),
        "utt2dur line 3: key 'spkB_u1' has no value",
    ),
    "empty line": (
        lambda d: edit(d / "utt2spk", "spkB_u1 spkB\n", "spkB_u1 spkB\n\n"),
        "utt2spk line 4: empty line",
    ),
    "dos line end": (
        lambda d: edit(d / "utt2spk", "spkA_u1 spkA\n", "spkA_u1 spkA\r\n"),
        "utt2spk line 1: DOS line end",
    ),
    "spk2utt disagrees": (
        lambda d: edit(d / "spk2utt", "spkA spkA_u1 spkA_u2", "spkA spkA_u1"),
        "spk2utt does not agree with utt2spk: utt2spk has 'spkA_u2 spkA'",
    ),
    "spk1 lacks a key": (
        lambda d: drop_line(d / "spk1.scp", "spkB_u1"),
        "spk1.scp and data/train/wav.scp differ: wav.scp has 1 keys that spk1.scp lacks (first: spkB_u1)",
    ),
    "noise1 has an extra key": (
        lambda d: add_line(d / "noise1.scp", "spkD_u1 /dev/null"),
        "noise1.scp and data/train/wav.scp differ: noise1.scp has 1 keys that wav.scp lacks (first: spkD_u1)",
    ),
    "utt2dur lacks a key": (
        lambda d: drop_line(d / "utt2dur", "spkC_u1"),
        "utt2dur and data/train/wav.scp differ",
    ),
    "wav.scp differs from utt2spk": (
        lambda d: drop_line(d / "wav.scp", "spkA_u1"),
        "wav.scp and data/train/utt2spk differ: utt2spk has 1 keys that wav.scp lacks (first: spkA_u1)",
    ),
    "bad duration": (lambda d: edit(d / "utt2dur", "spkB_u1 2.50", "spkB_u1 -1"), "'spkB_u1': duration '-1'"),
    "missing audio": (
        lambda d: (d.parents[1] / "wavs" / "spkC_u1 clean.wav").unlink(),
        "spk1.scp names 1 files that do not exist (first: line 4, key 'spkC_u1':",
    ),
    "missing noisy audio": (
        lambda d: (d.parents[1] / "wavs" / "spkA_u2 noisy.wav").unlink(),
        "wav.scp names 1 files that do not exist (first: line 2, key 'spkA_u2':",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_each_problem_is_caught_and_named(tmp_path: Path, name: str) -> None:
    data = make_dir(tmp_path)
    breaker, message = BREAKAGES[name]
    breaker(data)
    r = validate(data)
    assert r.returncode == 1, f"{name}: not caught\n{r.stdout}"
    assert message in r.stderr, r.stderr
    assert "Successfully" not in r.stdout


def test_required_files_follow_the_no_options(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    r = validate(data, "--no-feats")
    assert r.returncode == 1 and "text is missing (use --no-text" in r.stderr
    r = validate(data, "--no-text")
    assert r.returncode == 1 and "feats.scp is missing (use --no-feats" in r.stderr
    (data / "wav.scp").unlink()
    assert validate(data, "--no-feats", "--no-text", "--no-wav").returncode == 0
    r = validate(data, "--no-sense")
    assert r.returncode == 1 and "unknown option --no-sense" in r.stderr


def test_piped_and_ark_entries_are_not_checked_as_files(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    ark = tmp_path / "noise.ark"
    ark.touch()
    edit(
        data / "wav.scp",
        f"spkA_u1 {tmp_path}/wavs/spkA_u1 noisy.wav",
        "spkA_u1 sox /nonexistent.flac -t wav - |",
    )
    edit(data / "noise1.scp", f"spkA_u1 {tmp_path}/wavs/spkA_u1 noise.wav", f"spkA_u1 {ark}:1234")
    assert validate(data).returncode == 0
    edit(data / "noise1.scp", f"{ark}:1234", f"{tmp_path}/gone.ark:1234")
    assert validate(data).returncode == 1


def test_speakers_not_contiguous_is_only_a_warning(tmp_path: Path) -> None:
    data = make_dir(tmp_path, {"a1": "X", "a2": "Y", "a3": "X"})
    r = validate(data)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "speaker 'X' are not contiguous" in r.stderr


def fix(data: Path, *opts: str) -> subprocess.CompletedProcess:
    args = [FIX, *opts, str(data.relative_to(data.parents[1]))]
    return subprocess.run(args, capture_output=True, text=True, cwd=data.parents[1])


def test_fix_keeps_utterances_present_everywhere(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    originals = {p.name: p.read_text() for p in data.iterdir()}
    drop_line(data / "noise1.scp", "spkB_u1")
    add_line(data / "wav.scp", "spkZ_u9 /dev/null")  # also unsorted now
    add_line(data / "utt2dur", "spkA_u1 9.0")  # a duplicate key: the first line wins
    r = fix(data)
    assert r.returncode == 0, r.stderr
    assert "fix_data_dir.sh: kept 3 utterances out of 5" in r.stdout
    assert "dropped 2 utterances, e.g. spkB_u1 (not in noise1.scp) spkZ_u9 (not in utt2spk)" in r.stdout
    assert "utt2dur: dropped 1 lines whose key was already on an earlier line" in r.stderr
    for name in ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "utt2dur"):
        keys = [line.split()[0] for line in (data / name).read_text().splitlines()]
        assert keys == ["spkA_u1", "spkA_u2", "spkC_u1"], name
    assert "spkA_u1 2.50" in (data / "utt2dur").read_text()
    assert (data / "spk2utt").read_text() == "spkA spkA_u1 spkA_u2\nspkC spkC_u1\n"
    assert (data / ".backup" / "utt2spk").read_text() == originals["utt2spk"]
    assert "spkZ_u9" in (data / ".backup" / "wav.scp").read_text()
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]
    assert validate(data).returncode == 0


def test_fix_extra_files_and_noop(tmp_path: Path) -> None:
    data = make_dir(tmp_path)
    write(data / "utt2lang", [("spkA_u1", "en"), ("spkA_u2", "en"), ("spkC_u1", "cs")])
    r = fix(data, "--utt-extra-files", "utt2lang")
    assert r.returncode == 0, r.stderr
    assert "kept 3 utterances out of 4" in r.stdout
    assert "spkB_u1" not in (data / "wav.scp").read_text()
    r = fix(data, "--utt_extra_files", "utt2lang")
    assert r.returncode == 0 and r.stdout.strip() == "fix_data_dir.sh: kept 3 utterances out of 3"
    r = fix(data, "--utt-extra-files", "nothere")
    assert r.returncode == 1 and "nothere (from --utt-extra-files) does not exist" in r.stderr


@pytest.mark.slow
def test_a_hundred_thousand_lines_validate_and_fix(tmp_path: Path) -> None:
    data = tmp_path / "data" / "big"
    data.mkdir(parents=True)
    wav = tmp_path / "a.wav"
    wav.touch()
    keys = [f"spk{i // 100:05d}_utt{i:07d}" for i in range(100_000)]  # 1 M: benchmark.py --only listing
    for name in ("wav.scp", "spk1.scp", "noise1.scp"):
        (data / name).write_text("".join(f"{k} {wav}\n" for k in keys))
    (data / "utt2spk").write_text("".join(f"{k} {k[:8]}\n" for k in keys))
    (data / "utt2dur").write_text("".join(f"{k} 3.2\n" for k in keys))
    (data / "spk2utt").write_text(
        "".join(f"spk{s:05d} " + " ".join(keys[s * 100 : (s + 1) * 100]) + "\n" for s in range(1_000))
    )
    r = validate(data)
    assert r.returncode == 0, r.stderr
    drop_line(data / "noise1.scp", keys[12_345])
    r = fix(data)
    assert r.returncode == 0, r.stderr
    assert "kept 99999 utterances out of 100000" in r.stdout
