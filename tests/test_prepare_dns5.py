"""Stage 1 (local/prepare_dns5.py): scanning a DNS5 tree, converting to 16 kHz, merging lists."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from fake_dns5 import make_fake_dns5
from local.prepare_dns5 import convert, merge, scan
from tfgridnet_pl.data.dns5_layout import speaker_of, utt_key
from tfgridnet_pl.fileio import read_list


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_fake_dns5(tmp_path_factory.mktemp("dns5"), n_speakers=3, utts_per_speaker=2, seconds=1.0)


def test_speaker_patterns():
    assert speaker_of("read_speech/book_00701_chp_0012_reader_02603_4_seg_1.wav") == "reader02603"
    assert speaker_of("vctk_wav48_silence_trimmed/p225/p225_001_mic1.wav") == "vctk_p225"
    assert speaker_of("emotional_speech/crema_d/1001_DFA_ANG_XX.wav") == "cremad1001"
    assert speaker_of("german_speech/Some Speaker/x.wav") == "german_speech_Some_Speaker"
    assert utt_key("reader1", "a b/c.wav") == "reader1-a_b__c"


def test_scan_counts_and_sorted_keys(tree, tmp_path):
    counts = scan(tree, ["read_speech", "vctk_wav48_silence_trimmed"], tmp_path)
    assert counts == {"clean": 7, "noise": 6, "rir": 6}
    lines = (tmp_path / "clean.tsv").read_text().splitlines()
    keys = [line.split("\t")[0] for line in lines]
    assert keys == sorted(keys, key=str.encode)
    speakers = {line.split("\t")[1] for line in lines}
    assert speakers == {"reader01000", "reader01001", "reader01002", "vctk_p225"}


def test_scan_names_missing_subset_and_folders(tree, tmp_path):
    with pytest.raises(SystemExit, match="german_speech.*not found.*present: emotional_speech"):
        scan(tree, ["read_speech", "german_speech"], tmp_path)
    with pytest.raises(SystemExit, match="does not exist"):
        scan(tmp_path / "nowhere", ["read_speech"], tmp_path)
    (tmp_path / "empty" / "datasets_fullband" / "clean_fullband").mkdir(parents=True)
    with pytest.raises(SystemExit, match="missing datasets_fullband/noise_fullband"):
        scan(tmp_path / "empty", ["read_speech"], tmp_path)


def test_convert_resamples_mixes_down_and_reports_bad_files(tmp_path):
    root = tmp_path / "root"
    (root / "datasets_fullband" / "noise_fullband").mkdir(parents=True)
    noise_dir = root / "datasets_fullband" / "noise_fullband"
    sf.write(noise_dir / "stereo.wav", np.zeros((48000, 2), np.float32) + 0.1, 48000)
    sf.write(noise_dir / "rate8k.wav", np.full(8000, 0.1, np.float32), 8000)
    (noise_dir / "broken.wav").write_bytes(b"RIFF not really")
    sf.write(noise_dir / "empty.wav", np.zeros(0, np.float32), 48000)
    part = tmp_path / "noise.tsv"
    part.write_text(
        "".join(
            f"noise-{n}\tnoise-{n}\tdatasets_fullband/noise_fullband/{n}.wav\n"
            for n in ("broken", "empty", "rate8k", "stereo")
        )  # fmt: skip
    )
    out = tmp_path / "noise.out"
    convert(part, root, tmp_path / "audio", 16000, out, "noise")
    good = [line.split("\t") for line in out.read_text().splitlines()]
    assert [g[0] for g in good] == ["noise-rate8k", "noise-stereo"]
    for _, _, path, seconds in good:
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (16000, 1)
        assert float(seconds) == pytest.approx(1.0, abs=1e-3)
    bad = (tmp_path / "noise.out.bad").read_text()
    assert "broken.wav" in bad and "zero-length" in bad
    stats = json.loads((tmp_path / "noise.out.stats.json").read_text())
    assert stats == {"converted": 2, "mixed_down": 1, "resampled_from_8000": 1}

    with pytest.raises(SystemExit, match="2 of 4 noise files are unreadable"):
        merge("noise", [out], tmp_path / "lists", max_bad_share=0.1)
    merge("noise", [out], tmp_path / "lists", max_bad_share=0.6)
    assert list(read_list(tmp_path / "lists" / "wav.scp")) == ["noise-rate8k", "noise-stereo"]
    assert "broken" in (tmp_path / "lists" / "bad_files.tsv").read_text()

    # A second pass reads the cache instead of converting again, and counts the same repairs.
    converted = {p: p.stat().st_mtime_ns for p in (tmp_path / "audio").glob("*.wav")}
    convert(part, root, tmp_path / "audio", 16000, out, "noise")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "audio").glob("*.wav")} == converted
    assert json.loads((tmp_path / "noise.out.stats.json").read_text()) == stats
    # A source replaced by another file of the same name (another tree, a corrected release) is
    # converted again, whatever the time stamps say.
    old = sf.read(tmp_path / "audio" / "stereo.wav")[0]
    sf.write(noise_dir / "stereo.wav", np.zeros((48000, 2), np.float32) - 0.2, 48000)
    os.utime(noise_dir / "stereo.wav", ns=(1, 1))  # older than the converted copy
    convert(part, root, tmp_path / "audio", 16000, out, "noise")
    new = sf.read(tmp_path / "audio" / "stereo.wav")[0]
    assert abs(np.median(old) - 0.1) < 0.01 and abs(np.median(new) + 0.2) < 0.01


def test_scan_counts_names_it_cannot_list_and_goes_on(tree, tmp_path):
    """Non-UTF-8 names, control characters, symlink loops and dangling links are named and counted."""
    root = tmp_path / "dns5"
    shutil.copytree(tree, root, symlinks=True)
    noise = root / "datasets_fullband" / "noise_fullband"
    good = (noise / "Noise_000.wav").read_bytes()
    (noise / os.fsdecode(b"caf\xe9.wav")).write_bytes(good)  # Latin-1 bytes: not UTF-8
    (noise / "carriage\rreturn.wav").write_bytes(good)
    (noise / "loop").symlink_to(noise, target_is_directory=True)
    (noise / "dangling.wav").symlink_to(noise / "nowhere.wav")
    counts = scan(root, ["read_speech"], tmp_path / "scan")
    assert counts["noise"] == 6  # the six good files, nothing else
    bad = (tmp_path / "scan" / "noise.bad.tsv").read_text(encoding="utf-8")
    assert "caf\\xe9.wav\t" in bad and "not valid UTF-8" in bad
    assert "carriage\\rreturn.wav" in bad and "carriage return" in bad
    assert "loop\t" in bad and "symbolic-link loop" in bad
    assert "dangling.wav" in bad and "dangling link" in bad
    assert len(bad.splitlines()) == 4
    # merge counts them as bad files (and the stage fails above --max-bad-share)
    (tmp_path / "noise.out").write_text("")
    (tmp_path / "noise.out.bad").write_text("")
    (tmp_path / "noise.out.stats.json").write_text("{}")
    with pytest.raises(SystemExit, match="4 of 4 noise files are unreadable"):
        merge("noise", [tmp_path / "noise.out"], tmp_path / "lists", 0.5, tmp_path / "scan" / "noise.bad.tsv")


def test_convert_refuses_files_too_short_to_use(tmp_path):
    root = tmp_path / "root"
    noise_dir = root / "datasets_fullband" / "noise_fullband"
    noise_dir.mkdir(parents=True)
    sf.write(noise_dir / "one.wav", np.full(1, 0.5, np.float32), 48000)  # one sample
    sf.write(noise_dir / "ok.wav", np.full(48000, 0.1, np.float32), 48000)
    part = tmp_path / "noise.tsv"
    part.write_text(
        "".join(f"noise-{n}\tnoise-{n}\tdatasets_fullband/noise_fullband/{n}.wav\n" for n in ("one", "ok"))
    )
    convert(part, root, tmp_path / "audio", 16000, tmp_path / "noise.out", "noise")
    assert [line.split("\t")[0] for line in (tmp_path / "noise.out").read_text().splitlines()] == ["noise-ok"]
    assert (
        "one.wav" in (tmp_path / "noise.out.bad").read_text()
        and "too short" in (tmp_path / "noise.out.bad").read_text()
    )
