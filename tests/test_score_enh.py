"""score_enh.py and local/score.sh: per-utterance files, resume, bad input, merge and summary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import score_enh
from signals import speechlike
from tfgridnet_pl.fileio import read_list
from tfgridnet_pl.scoring import metrics as M
from tfgridnet_pl.scoring import store
from tfgridnet_pl.scoring.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
FS = 16000
INTRUSIVE = "pesq,stoi,si_snr"


@pytest.fixture
def data(tmp_path):
    """Five 3-s utterances: clean references and 'enhanced' versions at decreasing SNR."""
    rng = np.random.default_rng(0)
    wavs = tmp_path / "wav"
    wavs.mkdir()
    ref, inf = {}, {}
    for i in range(5):
        clean = speechlike(3.0, seed=i)
        sf.write(wavs / f"ref{i}.wav", clean, FS, subtype="PCM_16")
        sf.write(
            wavs / f"enh{i}.wav",
            clean + 0.004 * (i + 1) * rng.standard_normal(len(clean)),
            FS,
            subtype="PCM_16",
        )
        ref[f"utt{i}"], inf[f"utt{i}"] = str(wavs / f"ref{i}.wav"), str(wavs / f"enh{i}.wav")
    for name, items in (("ref.scp", ref), ("inf.scp", inf)):
        (tmp_path / name).write_text("".join(f"{k} {v}\n" for k, v in items.items()))
    return tmp_path


def run(data: Path, out: str = "out", metrics: str = INTRUSIVE, ref: bool = True, extra=()) -> Path:
    argv = ["--inf-scp", str(data / "inf.scp"), "--output-dir", str(data / out), "--metrics", metrics]
    if ref:
        argv += ["--ref-scp", str(data / "ref.scp")]
    score_enh.main([*argv, *extra])
    return data / out


@pytest.fixture
def calls(monkeypatch):
    """Count intrusive metric computations per key (by the estimate's first samples)."""
    counted = []
    real = M.compute

    def counting(name, ref, est, fs):
        counted.append(name)
        return real(name, ref, est, fs)

    monkeypatch.setattr(M, "compute", counting)
    return counted


def test_scores_match_direct_computation_and_are_sorted(data, calls):
    out = run(data)
    for name in ("PESQ_WB", "STOI", "SI_SNR"):
        lines = (out / name).read_text().splitlines()
        assert [ln.split()[0] for ln in lines] == [f"utt{i}" for i in range(5)]
    pesq = read_list(out / "PESQ_WB")
    ref, _ = sf.read(data / "wav/ref2.wav")
    est, _ = sf.read(data / "wav/enh2.wav")
    assert float(pesq["utt2"]) == pytest.approx(M.pesq_wb(ref, est), abs=1e-6)
    si = {k: float(v) for k, v in read_list(out / "SI_SNR").items()}
    assert si["utt0"] > si["utt4"]  # more noise, lower SI-SNR
    assert len(calls) == 15
    assert not (out / store.JOURNAL).exists()


def test_rerun_scores_only_what_is_missing(data, calls, caplog):
    out = run(data)
    assert len(calls) == 15
    run(data)
    assert len(calls) == 15, "a complete rerun must not score anything again"
    # a killed run: the journal holds two utterances and a line cut short; no final files yet
    for f in out.iterdir():
        f.unlink()
    journal = [
        json.dumps(
            {
                "key": f"utt{i}",
                "stamp": store.stamp(str(data / f"wav/enh{i}.wav"))
                + "|"
                + store.stamp(str(data / f"wav/ref{i}.wav")),
                "scores": {"PESQ_WB": 2.0, "STOI": 0.5, "SI_SNR": 1.0},
            }
        )
        for i in (0, 1)
    ]
    (out / store.JOURNAL).write_text("\n".join(journal) + '\n{"key": "utt2", "sco')
    calls.clear()
    with caplog.at_level(logging.INFO):
        run(data)
    assert len(calls) == 9, "utt2 (cut short), utt3 and utt4 are scored; utt0 and utt1 come from the journal"
    assert "unreadable journal line" in caplog.text
    assert read_list(out / "STOI")["utt1"] == "0.5"
    # audio rewritten in place is noticed and scored again
    sf.write(data / "wav/enh3.wav", speechlike(3.0, seed=9), FS, subtype="PCM_16")
    os.utime(data / "wav/enh3.wav", ns=(1, 1))
    calls.clear()
    run(data)
    assert len(calls) == 3
    # adding a metric scores only that metric
    calls.clear()
    run(data, metrics=INTRUSIVE + ",si_snr")
    assert calls == []


def test_missing_enhanced_key_is_named(data):
    (data / "keys").write_text("utt0\nutt9\n")
    with pytest.raises(SystemExit, match="utt9.*no enhanced audio"):
        run(data, extra=["--key-file", str(data / "keys")])


def test_missing_reference_key_is_named(data):
    (data / "ref.scp").write_text((data / "ref.scp").read_text().replace("utt3 ", "uttX "))
    with pytest.raises(SystemExit, match="utt3.*no reference"):
        run(data)


def test_unreadable_and_wrong_rate_files_are_named(data):
    sf.write(data / "wav/enh1.wav", np.zeros(8000), 8000)
    with pytest.raises(SystemExit, match="enh1.wav.*8000 Hz"):
        run(data)
    (data / "wav/enh1.wav").write_bytes(b"not a wav")
    with pytest.raises(SystemExit, match="cannot read.*enh1.wav"):
        run(data)


def test_nan_and_silent_audio_are_flagged_and_counted(data):
    bad = speechlike(3.0, seed=1)
    bad[100:200] = np.nan
    sf.write(data / "wav/enh1.wav", bad, FS, subtype="FLOAT")
    sf.write(data / "wav/enh2.wav", np.zeros(3 * FS), FS, subtype="PCM_16")
    out = run(data)
    for name in ("PESQ_WB", "STOI", "SI_SNR"):
        values = read_list(out / name)
        assert values["utt1"] == "nan" and values["utt2"] == "nan"
    flags = store.read_flags(out / "flagged.tsv")
    assert "100 NaN/Inf samples" in flags[("utt1", "STOI")]
    assert "all-zero" in flags[("utt2", "PESQ_WB")]
    score_enh.main(
        [
            "--merge",
            "--inf-scp",
            str(data / "inf.scp"),
            "--ref-scp",
            str(data / "ref.scp"),
            "--metrics",
            INTRUSIVE,
            "--output-dir",
            str(data / "merged"),
            str(out),
        ]
    )
    summary = json.loads((data / "merged/summary.json").read_text())
    stoi = summary["metrics"]["STOI"]
    assert stoi["n"] == 3 and stoi["n_flagged"] == 2
    finite = [float(v) for v in read_list(out / "STOI").values() if v != "nan"]
    assert stoi["mean"] == pytest.approx(np.mean(finite))
    assert len(store.read_flags(data / "merged/flagged.tsv")) == 6


def test_length_mismatch_is_trimmed_and_counted(data, caplog):
    audio, _ = sf.read(data / "wav/enh0.wav")
    sf.write(data / "wav/enh0.wav", np.concatenate([audio, np.zeros(321)]), FS, subtype="PCM_16")
    with caplog.at_level(logging.INFO):
        out = run(data, metrics="si_snr")
    assert "1 enhanced/reference pairs differed in length" in caplog.text
    assert "321 samples" in caplog.text
    assert np.isfinite(float(read_list(out / "SI_SNR")["utt0"]))


def test_set_without_references_scores_dnsmos_only(data, caplog):
    (data / "inf.scp").write_text("".join((data / "inf.scp").read_text().splitlines(True)[:2]))
    with caplog.at_level(logging.INFO):
        out = run(data, metrics="pesq,dnsmos", ref=False)
    assert "no references" in caplog.text
    assert not (out / "PESQ_WB").exists()
    ovrl = read_list(out / "DNSMOS_OVRL")
    assert list(ovrl) == ["utt0", "utt1"] and all(1.0 <= float(v) <= 5.0 for v in ovrl.values())
    assert (out / "DNSMOS_P808").exists() and (out / "DNSMOS_SIG").exists() and (out / "DNSMOS_BAK").exists()


def test_summary_confidence_interval_matches_scipy():
    from scipy import stats

    values = [3.1, 2.7, 3.9, 3.3, 2.2, 4.0, float("nan"), 3.6]
    s = summarize(values)
    finite = [v for v in values if v == v]
    low, high = stats.t.interval(0.95, len(finite) - 1, loc=np.mean(finite), scale=stats.sem(finite))
    assert s["n"] == 7 and s["n_flagged"] == 1
    assert s["mean"] == pytest.approx(np.mean(finite))
    assert s["ci95"] == pytest.approx((high - low) / 2)
    assert summarize([2.0])["ci95"] is None
    assert summarize([float("nan")])["mean"] is None


def test_merge_refuses_incomplete_or_conflicting_parts(data):
    a = run(data, out="a", metrics="si_snr")
    b = run(data, out="b", metrics="si_snr")
    merge = [
        "--merge",
        "--inf-scp",
        str(data / "inf.scp"),
        "--ref-scp",
        str(data / "ref.scp"),
        "--metrics",
        "si_snr",
        "--output-dir",
        str(data / "m"),
    ]
    score_enh.main([*merge, str(a), str(b)])  # the same scores twice agree
    lines = (b / "SI_SNR").read_text().splitlines()
    lines[1] = "utt1 99.0"
    (b / "SI_SNR").write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit, match="utt1.*scored twice"):
        score_enh.main([*merge, str(a), str(b)])
    (a / "SI_SNR").write_text("utt0 1.0\n")
    with pytest.raises(SystemExit, match="4 keys have no SI_SNR"):
        score_enh.main([*merge, str(a)])
    (a / "SI_SNR").unlink()
    with pytest.raises(SystemExit, match="SI_SNR is missing"):
        score_enh.main([*merge, str(a)])


def _score_sh(data: Path, *args: str) -> subprocess.CompletedProcess:
    """local/score.sh (stage 6) on data/test of a recipe-like folder around ``data``: the noisy input only."""
    recipe = data / "recipe"
    (recipe / "data").mkdir(parents=True, exist_ok=True)
    for name in ("utils", "local", "pyscripts"):
        if not (recipe / name).exists():
            (recipe / name).symlink_to(ROOT / name)
    test = recipe / "data" / "test"
    if not test.exists():
        test.mkdir()
        (test / "wav.scp").write_text((data / "inf.scp").read_text())
        (test / "spk1.scp").write_text((data / "ref.scp").read_text())
    env = {**os.environ, "PATH": f"{ROOT / 'utils'}:{os.environ['PATH']}"}
    cmd = ["bash", str(ROOT / "local/score.sh"), "--models", "", "--report", "false", *args]
    return subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True)


def test_score_sh_runs_jobs_and_merges(data):
    res = _score_sh(data, "--nj", "2", "--metrics", "stoi,si_snr")
    assert res.returncode == 0, res.stderr + res.stdout
    out = data / "recipe/exp/noisy/decode_test/scoring"
    assert (out / "logdir/keys.1.scp").exists() and (out / "logdir/keys.2.scp").exists()
    assert list(read_list(out / "STOI")) == [f"utt{i}" for i in range(5)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_utts"] == 5 and summary["metrics"]["SI_SNR"]["n"] == 5
    assert set(summary["metrics"]) == {"STOI", "SI_SNR"}
    res = _score_sh(data, "--nj", "2", "--metrics", "stoi,si_snr")  # the same inputs: nothing to do
    assert res.returncode == 0 and "is up to date" in res.stdout, res.stdout + res.stderr
    res = _score_sh(data, "--nj", "2", "--metrics", "si_snr")  # another option: scored again
    assert res.returncode == 0 and "is up to date" not in res.stdout, res.stdout + res.stderr
    assert set(json.loads((out / "summary.json").read_text())["metrics"]) == {"SI_SNR"}


def test_score_sh_failure_names_the_log(data):
    (data / "wav/enh4.wav").unlink()
    res = _score_sh(data, "--nj", "2", "--metrics", "si_snr")
    assert res.returncode != 0
    assert "score.2.log" in res.stdout + res.stderr
    assert "enh4.wav" in res.stdout + res.stderr  # the tail of the failing log
