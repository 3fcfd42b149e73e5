"""Stage 2 (local/simulate.py, tfgridnet_pl.data.mixing): splits, parameters, rendering, reproducibility."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from fake_dns5 import make_fake_dns5
from local.prepare_dns5 import convert, merge, scan
from local.simulate import finalize, plan, read_meta, render, split_by_share
from tfgridnet_pl.data.mixing import db, mix, power
from tfgridnet_pl.data.simulation_config import load_simulation_config
from tfgridnet_pl.fileio import read_list

ROOT = Path(__file__).resolve().parents[1]


def sim_config(tmp_path: Path, **overrides) -> Path:
    cfg = yaml.safe_load((ROOT / "conf" / "simulation.yaml").read_text())
    cfg["sets"] = {"train": {"num_utts": 12, "segment_s": 1.0}, "dev": {"num_utts": 3, "segment_s": 1.0},
                   "test": {"num_utts": 3, "segment_s": 1.5}}  # fmt: skip
    cfg["split"].update({f"{p}{s}_share": 0.2 for p in ("noise_", "rir_") for s in ("dev", "test")})
    cfg.update(overrides)
    path = tmp_path / "simulation.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    root = make_fake_dns5(tmp / "dns5", n_speakers=6, utts_per_speaker=2, seconds=2.0)
    scan(root, ["read_speech"], tmp / "scan")
    for kind in ("clean", "noise", "rir"):
        convert(tmp / "scan" / f"{kind}.tsv", root, tmp / "audio" / kind, 16000, tmp / f"{kind}.out", kind)
        merge(kind, [tmp / f"{kind}.out"], tmp / "lists" / kind, 0.0)
    return tmp / "lists"


def simulate_all(cfg_path: Path, lists: Path, out: Path) -> None:
    cfg = load_simulation_config(cfg_path)
    plan(cfg, lists, out / "sim")
    for name in cfg.sets:
        render(cfg, out / "sim" / name / "meta.tsv", out / "sim" / name)
        finalize(cfg, out / "sim" / name / "meta.tsv", out / "sim" / name, out / "data" / name)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*.wav")
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"snr_db": [20, -5]}, "'snr_db' is written backwards"),
        ({"speech_level_dbfs": [-15, -35]}, "'speech_level_dbfs' is written backwards"),
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"rir_prob": 1.5}, "'rir_prob' must be in"),
        ({"clipping": "wrap"}, "'clipping' must be"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        load_simulation_config(sim_config(tmp_path, **change))


def test_config_missing_key(tmp_path):
    path = sim_config(tmp_path)
    cfg = yaml.safe_load(path.read_text())
    del cfg["seed"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match=r"missing key\(s\) \['seed'\]"):
        load_simulation_config(path)


def test_split_by_share_holds_out_whole_groups():
    groups = {f"s{i}": float(d) for i, d in enumerate([10, 12, 8, 30, 9, 11, 10, 10])}
    a = split_by_share(groups, 0.1, 0.1, np.random.default_rng(0))
    assert set(a) == set(groups) and set(a.values()) == {"train", "dev", "test"}
    for held in ("dev", "test"):
        share = sum(groups[g] for g, s in a.items() if s == held) / sum(groups.values())
        assert 0.05 <= share <= 0.2
    assert a == split_by_share(groups, 0.1, 0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 3 groups"):
        split_by_share({"a": 1.0, "b": 1.0}, 0.1, 0.1, np.random.default_rng(0))


def test_mix_hits_snr_level_and_early_target():
    rng = np.random.default_rng(0)
    fs = 16000
    dry = rng.standard_normal(fs).astype(np.float32) * 0.1
    noise = rng.standard_normal(fs).astype(np.float32)
    rir = np.zeros(4000)
    rir[100] = 1.0
    rir[2000] = 0.5  # a late reflection (> 50 ms after the direct path)
    m = mix(dry, [noise], rir, snr_db=5.0, level_dbfs=-30.0, fs=fs, early_ms=50.0)
    assert m.snr_db == pytest.approx(5.0, abs=1e-6) and m.level_dbfs == pytest.approx(-30.0, abs=1e-6)
    # The target keeps the direct path only, aligned with the dry signal.
    gain = np.sqrt(10 ** (-3.0) / power(dry + 0.5 * np.pad(dry, (1900, 0))[:fs]))
    np.testing.assert_allclose(m.target, dry * gain, atol=1e-5)
    np.testing.assert_allclose(m.noisy - m.target, m.noise, atol=1e-6)
    loud = mix(dry, [noise], None, snr_db=-5.0, level_dbfs=-3.0, fs=fs, early_ms=50.0)
    assert loud.scaled and np.max(np.abs(loud.noisy)) == pytest.approx(0.99, abs=1e-6)
    with pytest.raises(ValueError, match="silent noise"):
        mix(dry, [np.zeros(fs, np.float32)], None, 0.0, -20.0, fs, 50.0)


def test_simulation_sets(lists, tmp_path):
    cfg_path = sim_config(tmp_path)
    simulate_all(cfg_path, lists, tmp_path / "a")
    data = tmp_path / "a" / "data"
    speakers = {s: set(read_list(data / s / "utt2spk").values()) for s in ("train", "dev", "test")}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["dev"]
    cfg = load_simulation_config(cfg_path)
    for name in ("train", "dev", "test"):
        wav, ref, noise = (read_list(data / name / f) for f in ("wav.scp", "spk1.scp", "noise1.scp"))
        assert list(wav) == list(ref) == list(noise) == sorted(wav, key=str.encode)
        meta = {r["key"]: r for r in read_meta(data / name / "meta.tsv")}
        for key in wav:
            y, fs = sf.read(wav[key], dtype="float64")
            s, n = sf.read(ref[key], dtype="float64")[0], sf.read(noise[key], dtype="float64")[0]
            assert fs == 16000 and len(y) == round(cfg.sets[name].segment_s * fs)
            np.testing.assert_allclose(y, s + n, atol=2.0 / 32768)
            row = meta[key]
            assert cfg.snr_db[0] <= float(row["snr_db"]) <= cfg.snr_db[1]
            if row["rir_key"] == "-":  # without reverberation the target is the whole speech
                assert db(power(s)) - db(power(n)) == pytest.approx(float(row["snr_db"]), abs=0.05)
                if np.max(np.abs(y)) < 0.98:
                    assert db(power(s)) == pytest.approx(float(row["level_dbfs"]), abs=0.01)


def test_simulation_is_reproducible_bit_for_bit(lists, tmp_path):
    cfg_path = sim_config(tmp_path)
    simulate_all(cfg_path, lists, tmp_path / "a")
    simulate_all(cfg_path, lists, tmp_path / "b")
    assert digest(tmp_path / "a" / "sim") == digest(tmp_path / "b" / "sim")
    assert (tmp_path / "a/data/train/meta.tsv").read_text() == (
        tmp_path / "b/data/train/meta.tsv"
    ).read_text()
    simulate_all(sim_config(tmp_path, seed=1), lists, tmp_path / "c")
    assert digest(tmp_path / "a" / "sim") != digest(tmp_path / "c" / "sim")


def test_render_resumes_only_missing(lists, tmp_path, caplog):
    cfg_path = sim_config(tmp_path)
    simulate_all(cfg_path, lists, tmp_path / "a")
    cfg = load_simulation_config(cfg_path)
    victim = sorted((tmp_path / "a/sim/train/noise").glob("*.wav"))[0]
    before = digest(tmp_path / "a" / "sim")
    victim.unlink()
    with caplog.at_level("INFO"):
        render(cfg, tmp_path / "a/sim/train/meta.tsv", tmp_path / "a/sim/train")
    assert "'cached': 11" in caplog.text and "'rendered': 1" in caplog.text
    assert digest(tmp_path / "a" / "sim") == before
