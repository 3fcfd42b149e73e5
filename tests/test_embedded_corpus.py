"""The embedded DNS5-layout corpus (local/make_embedded_corpus.sh): tiny real builds from the Debian packages.

The packages are fetched once into the repository's downloads/ (gitignored, shared with the recipe);
every build here is a tiny one (a clip per speaker, a noise file per kind, 3 RIRs) in a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from local.embedded_corpus.audio import active_level_db, colored_noise, rng_for, set_level, speech_units
from local.embedded_corpus.clean import allocate, clip_name
from local.embedded_corpus.sources import BABBLE_CHARACTERS, CLEAN_SPEAKERS, FILLETS, fillets_character, scan
from tfgridnet_pl.data.dns5_layout import speaker_of

ROOT = Path(__file__).resolve().parents[1]
DOWNLOADS = ROOT / "downloads"
PKGS = DOWNLOADS / "pkgs"
TINY = ["--max-clean-minutes", "0.5", "--max-noise-minutes", "0.6", "--n-rirs", "3"]

CLEAN_RE = re.compile(r"^book_\d{5}_chp_\d{4}_reader_\d{5}_\d+_seg_\d+\.wav$")
RIR_RE = re.compile(r"^SLR26/simulated_rirs_48k/(small|medium|large)room/Room(\d{3})/Room(\d{3})-\d{5}\.wav$")


def run_sh(*args: str, download_dir: Path = DOWNLOADS) -> subprocess.CompletedProcess:
    cmd = ["local/make_embedded_corpus.sh", "--download-dir", str(download_dir), *args]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res


def run_py(*args: str, pkgs: Path = PKGS) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "local.embedded_corpus", "--pkgs-dir", str(pkgs), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def manifest(root: Path) -> dict[str, tuple[str, str]]:
    lines = (root / "manifest.tsv").read_text().splitlines()
    assert lines[0] == "path\tsha1\tseconds"
    return {path: (sha1, sec) for path, sha1, sec in (line.split("\t") for line in lines[1:])}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A tiny build through the shell script (which fetches the packages on first use)."""
    out = tmp_path_factory.mktemp("embedded") / "a"
    run_sh("--out", str(out), "--seed", "0", *TINY)
    return out


def test_layout_and_names(tiny):
    for extra in ("README.md", "manifest.tsv", ".done", "summary.json", "rirs.tsv", "build_options.json"):
        assert (tiny / extra).is_file(), extra
    licenses = sorted(p.name for p in (tiny / "LICENSES").iterdir())
    assert licenses == [
        f"{p}.copyright" for p in ("asterisk-core-sounds-en-g722", "fillets-ng-data-cs", "sonic-pi-samples")
    ]
    base = tiny / "datasets_fullband"
    assert sorted(p.name for p in base.iterdir()) == ["clean_fullband", "impulse_responses", "noise_fullband"]
    assert [p.name for p in (base / "clean_fullband").iterdir()] == ["read_speech"]
    clean = sorted(p.name for p in (base / "clean_fullband/read_speech").iterdir())
    assert clean and all(CLEAN_RE.match(n) for n in clean), clean
    rirs = sorted(p.relative_to(base / "impulse_responses").as_posix() for p in base.rglob("Room*.wav"))
    assert len(rirs) == 3 and all(RIR_RE.match(r) for r in rirs), rirs
    assert {RIR_RE.match(r).group(1) for r in rirs} == {"small", "medium", "large"}
    noise = sorted(p.name for p in (base / "noise_fullband").iterdir())
    assert {n.split("_")[0] for n in noise} == {"babble", "colored", "sonicpi"}, noise
    assert any(n.startswith("sonicpi_seq_") for n in noise), noise
    every = [p for p in base.rglob("*") if p.is_file()]
    assert all(p.suffix == ".wav" for p in every)


def test_audio_is_48k_mono_pcm16_at_sane_levels(tiny):
    wavs = sorted((tiny / "datasets_fullband").rglob("*.wav"))
    for path in wavs:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (48000, 1, "PCM_16", "WAV"), (
            path
        )
    for path in (tiny / "datasets_fullband/clean_fullband/read_speech").iterdir():
        audio, fs = sf.read(str(path))
        assert 2.0 <= len(audio) / fs <= 16.0, path
        assert abs(active_level_db(audio, fs) + 25.0) < 0.5, path
        assert np.max(np.abs(audio)) <= 0.991, path


def test_speakers_match_docs_and_exclude_babble(tiny):
    names = [p.name for p in (tiny / "datasets_fullband/clean_fullband/read_speech").iterdir()]
    speakers = {speaker_of(f"read_speech/{n}") for n in names}
    table = {s.name: f"reader{s.reader:05d}" for s in CLEAN_SPEAKERS}
    assert speakers == set(table.values())  # the tiny build still covers every speaker
    assert len(speakers) >= 8
    # docs/embedded-corpus.md and the corpus README carry the same speaker -> reader table
    for doc in (ROOT / "docs/embedded-corpus.md", tiny / "README.md"):
        rows = re.findall(r"^\| (\w+) \| (\d{5}) \|", doc.read_text(), flags=re.M)
        assert {name: f"reader{reader}" for name, reader in rows} == table, doc
    assert not set(table) & set(BABBLE_CHARACTERS)
    inv = scan(PKGS)
    assert inv.babble and {fillets_character(Path(p.relpath).name) for p in inv.babble} <= set(
        BABBLE_CHARACTERS
    )
    for name, prompts in inv.clean.items():
        assert prompts and all(p.who == name for p in prompts)
    assert not inv.bad


def test_manifest_lists_every_file_with_its_sha1(tiny):
    listed = manifest(tiny)
    files = {p.relative_to(tiny).as_posix() for p in tiny.rglob("*") if p.is_file()}
    assert set(listed) == files - {"manifest.tsv", ".done"}
    for rel, (sha1, seconds) in listed.items():
        assert hashlib.sha1((tiny / rel).read_bytes()).hexdigest() == sha1, rel
        if rel.endswith(".wav"):
            assert float(seconds) == pytest.approx(sf.info(str(tiny / rel)).duration, abs=1e-4)
        else:
            assert seconds == "-"
    summary = json.loads((tiny / "summary.json").read_text())
    clean_s = sum(float(s) for r, (_, s) in listed.items() if "read_speech" in r)
    assert clean_s / 60 == pytest.approx(summary["totals"]["clean_minutes"], abs=0.01)


def test_same_seed_identical_other_seed_different(tiny, tmp_path):
    same = tmp_path / "same"
    res = run_sh("--out", str(same), "--seed", "0", "--nj", "1", *TINY)
    assert "downloading" not in res.stdout + res.stderr and "extracting" not in res.stdout + res.stderr
    assert (same / "manifest.tsv").read_bytes() == (tiny / "manifest.tsv").read_bytes()

    other = tmp_path / "other"
    assert run_py("--out", str(other), "--seed", "1", *TINY).returncode == 0
    a = {sha for path, (sha, _) in manifest(tiny).items() if path.endswith(".wav")}
    b = {sha for path, (sha, _) in manifest(other).items() if path.endswith(".wav")}
    assert len(b) >= 10 and not a & b


def test_rerun_is_fast_and_rebuilds_nothing(tiny):
    before = {p: p.stat().st_mtime_ns for p in tiny.rglob("*")}
    debs_before = sorted((DOWNLOADS / "debs").iterdir())
    start = time.time()
    res = run_sh("--out", str(tiny), "--seed", "0", *TINY)
    assert time.time() - start < 3.0
    assert "exists and was built with these options" in res.stdout
    assert {p: p.stat().st_mtime_ns for p in tiny.rglob("*")} == before
    assert sorted((DOWNLOADS / "debs").iterdir()) == debs_before


def test_other_options_rebuild(tmp_path, tiny):
    out = tmp_path / "c"
    shutil.copytree(tiny, out)
    (tmp_path / ".c.partial").mkdir()  # what a killed build leaves behind
    (tmp_path / ".c.partial" / "half.wav").write_bytes(b"RIFF")
    res = run_py("--out", str(out), "--seed", "0", *TINY[:-1], "4")
    assert res.returncode == 0, res.stderr
    assert "built with other options; rebuilding" in res.stderr
    assert "removing the unfinished build" in res.stderr
    assert json.loads((out / "build_options.json").read_text())["n_rirs"] == 4
    assert len(list(out.rglob("Room*.wav"))) == 4
    assert not (tmp_path / ".c.partial").exists() and not (tmp_path / ".c.old").exists()
    assert run_py("--out", str(out), "--seed", "0", *TINY[:-1], "4", "--check").returncode == 0
    assert run_py("--out", str(out), "--seed", "0", *TINY, "--check").returncode == 3


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    res = run_py("--out", str(out), *TINY)
    assert res.returncode != 0 and "not an embedded corpus" in res.stderr
    assert (out / "thesis.tex").read_text() == "precious"


def test_corrupt_sources_are_counted_and_reported(tiny, tmp_path):
    pkgs = tmp_path / "pkgs"
    subprocess.run(["cp", "-rs", str(PKGS), str(pkgs)], check=True)
    inv = scan(PKGS)
    broken = {
        inv.clean["r"][0]: b"this is not an ogg file" * 10,
        inv.clean["allison"][3]: b"",
        inv.noise[0]: b"fLaC garbage",
    }
    for prompt in inv.clean["leb"]:  # every line of speaker leb: headers fine, audio damaged midway
        data = bytearray((PKGS / prompt.package / prompt.relpath).read_bytes())
        data[len(data) // 2 : len(data) // 2 + 200] = b"U" * 200
        broken[prompt] = bytes(data)
    for prompt, data in broken.items():
        target = pkgs / prompt.package / prompt.relpath
        target.unlink()
        target.write_bytes(data)
    out = tmp_path / "corrupt"
    res = run_py("--out", str(out), *TINY, pkgs=pkgs)
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    reasons = {b["path"]: b["reason"] for b in summary["bad_source_files"]}
    assert set(reasons) == {f"{p.package}/{p.relpath}" for p in broken}
    assert summary["totals"]["bad_source_files"] == len(broken)
    assert f"{len(broken)} unreadable source files skipped" in res.stderr
    damaged = [reasons[f"{FILLETS}/{p.relpath}"] for p in inv.clean["leb"]]
    assert all(r.startswith("damaged: decoded") for r in damaged), damaged
    readme = (out / "README.md").read_text()
    assert all(f"`{path}`" in readme for path in reasons)
    assert summary["clean"]["leb"]["clips"] == 0  # nothing left of leb: no clip, 8 speakers
    assert summary["clean"]["r"]["clips"] >= 1 and summary["totals"]["clean_speakers"] == 8


@pytest.mark.slow
def test_interrupted_fetch_and_extraction_are_redone(tmp_path, tiny):
    """A .deb cut short (no .done) is fetched again; a folder extracted halfway (no .done) is redone.

    Slow: it runs apt-get update and downloads one package again (about 10 s)."""
    dl = tmp_path / "dl"
    (dl / "debs").mkdir(parents=True)
    (dl / "pkgs").mkdir()
    for package in ("asterisk-core-sounds-en-g722", "fillets-ng-data-cs", "sonic-pi-samples"):
        deb = (DOWNLOADS / "debs" / f"{package}.done").read_text().strip()
        if package == "asterisk-core-sounds-en-g722":
            (dl / "debs" / deb).write_bytes((DOWNLOADS / "debs" / deb).read_bytes()[:100_000])
            damaged = dl / "debs" / deb
        else:
            (dl / "debs" / deb).symlink_to(DOWNLOADS / "debs" / deb)
            shutil.copy(DOWNLOADS / "debs" / f"{package}.done", dl / "debs")
        if package != "fillets-ng-data-cs":
            (dl / "pkgs" / package).symlink_to(PKGS / package)
    half = dl / "pkgs" / "fillets-ng-data-cs"
    (half / "usr").mkdir(parents=True)
    (half / "usr" / "half-written.ogg").write_bytes(b"partial")

    res = run_sh("--out", str(tmp_path / "out"), *TINY, download_dir=dl)
    assert "asterisk-core-sounds-en-g722" in res.stdout and "is damaged; downloading it again" in res.stdout
    assert damaged.read_bytes() == (DOWNLOADS / "debs" / damaged.name).read_bytes()
    assert (dl / "debs" / "asterisk-core-sounds-en-g722.done").read_text().strip() == damaged.name
    assert not list((dl / "debs").glob(".tmp*")) and not list((dl / "pkgs").glob(".tmp*"))
    removed = f"{half} holds outputs of other inputs or options (it has no {half}/.key); removing them"
    assert removed in res.stdout
    assert not (half / "usr" / "half-written.ogg").exists()
    assert (half / ".done").read_text().strip().startswith("fillets-ng-data-cs_")
    assert res.stdout.count("downloading into") == 1  # only the damaged one
    assert (tmp_path / "out" / "manifest.tsv").read_bytes() == (tiny / "manifest.tsv").read_bytes()


@pytest.mark.slow
def test_full_build_meets_the_recipe_minimums(tmp_path):
    """The default build: >= 30 min of clean speech from >= 8 speakers, >= 10 min noise, >= 30 RIRs."""
    out = tmp_path / "full"
    res = run_py("--out", str(out))
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    totals = summary["totals"]
    assert totals["clean_minutes"] >= 30 and totals["clean_speakers"] >= 8
    assert totals["noise_minutes"] >= 10 and totals["rirs"] >= 30
    assert summary["below_minimums"] == [] and totals["bad_source_files"] == 0
    low, high = summary["rir_rt60_measured_s"]
    assert 0.15 <= low and high <= 1.1
    assert max(v["seconds"] for v in summary["clean"].values()) <= 12 * 60 + 16


# --- unit tests of the pieces ---


def test_speech_units_trim_and_split():
    fs = 16000
    burst = 0.3 * np.sin(2 * np.pi * 300 * np.arange(fs) / fs).astype(np.float32)  # 1 s of "speech"
    silence = np.zeros(2 * fs, dtype=np.float32)
    audio = np.concatenate([silence, burst, silence, burst, silence])
    pieces, cuts = speech_units(audio, fs, max_s=12.0)
    assert cuts == 0 and len(pieces) == 1
    # 2 x 1 s of tone, 0.3 s pause between, ~0.05 s before and ~0.1 s after each region
    assert len(pieces[0]) / fs == pytest.approx(2 + 0.3 + 2 * 0.15, abs=0.03)
    pieces, _ = speech_units(audio, fs, max_s=1.5)
    assert len(pieces) == 2 and all(len(p) <= 1.5 * fs for p in pieces)
    long_tone = np.tile(burst, 5)
    pieces, cuts = speech_units(long_tone, fs, max_s=2.0)
    assert cuts == 2 and len(pieces) == 3 and all(len(p) <= 2 * fs for p in pieces)
    assert speech_units(np.zeros(fs, dtype=np.float32), fs, 12.0) == ([], 0)
    assert speech_units(np.full(fs, 1e-4, dtype=np.float32), fs, 12.0) == ([], 0)  # -80 dBFS hum


def test_set_level_targets_and_never_clips():
    x = np.zeros(48000, dtype=np.float32)
    x[1000:2000] = 0.01
    y, limited = set_level(x, active_level_db(x, 48000), -25.0)
    assert not limited and active_level_db(y, 48000) == pytest.approx(-25.0, abs=0.01)
    x[1500] = 0.5  # a click much louder than the rest: the peak limit wins
    y, limited = set_level(x, active_level_db(x, 48000), -10.0)
    assert limited and np.max(np.abs(y)) == pytest.approx(0.99, abs=1e-6)
    with pytest.raises(ValueError):
        set_level(np.zeros(10, dtype=np.float32), float("-inf"), -25.0)


def test_allocate_water_fills():
    avail = {"a": 600.0, "b": 600.0, "c": 30.0}
    assert allocate(avail, 300.0, None) == {"a": 300.0, "b": 300.0, "c": 30.0}
    assert allocate(avail, 300.0, 330.0) == {"a": 150.0, "b": 150.0, "c": 30.0}
    budget = allocate(avail, 300.0, 60.0)
    assert budget == {"a": 20.0, "b": 20.0, "c": 20.0}


def test_colored_noise_slopes():
    n = 48000 * 4
    bands = [(200, 400), (3200, 6400)]  # four octaves apart
    for exponent, expected_db in ((0.0, 4 * 3.0), (1.0, 0.0), (2.0, -4 * 3.0)):
        x = colored_noise(rng_for(0, "t", exponent), n, exponent)
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(n, 1 / 48000)
        p = [spec[(f >= lo) & (f < hi)].sum() for lo, hi in bands]
        assert 10 * np.log10(p[1] / p[0]) == pytest.approx(expected_db, abs=1.0)
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, abs=1e-3)


def test_rng_and_names():
    assert rng_for(3, "clean", "m").integers(1 << 30) == rng_for(3, "clean", "m").integers(1 << 30)
    assert rng_for(3, "clean", "m").integers(1 << 30) != rng_for(4, "clean", "m").integers(1 << 30)
    assert rng_for(3, "clean", "m").integers(1 << 30) != rng_for(3, "clean", "v").integers(1 << 30)
    name = clip_name(101, 90002, 7)
    assert name == "book_00101_chp_0001_reader_90002_1_seg_7.wav" and CLEAN_RE.match(name)
    assert speaker_of(f"read_speech/{name}") == "reader90002"
    assert fillets_character("vit-m-hlava.ogg") == "m"
    assert fillets_character("bar-x-vypr.ogg") == "x"
    assert fillets_character("help1.ogg") is None and fillets_character("m-bude.ogg") is None
