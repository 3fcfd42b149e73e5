"""Bad inputs the other test files do not cover (the full catalogue is docs/bad-inputs.md).

Each case goes through a real entry point (``run.sh``, ``local/prepare_dns5.py``, ``local/simulate.py``,
ESPnet's training parser and resume) and checks for a clear error naming the file and the problem, or
a logged, counted repair; nothing is silently dropped.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from fake_dns5 import make_fake_dns5
from local.prepare_dns5 import main as prepare_main
from local.simulate import main as simulate_main
from recipe_copy import copy_recipe, recipe_env
from tfgridnet_pl.fileio import read_list, write_list

ROOT = Path(__file__).resolve().parents[1]
FS = 48000
TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(FS) / FS)).astype(np.float32)

# name -> (audio, subtype) written under noise_fullband; None: special bytes written by the test.
FORMATS = {
    "u8": (TONE, "PCM_U8"),
    "pcm24": (TONE, "PCM_24"),
    "float32": (TONE, "FLOAT"),
    "clipped": (np.clip(4 * TONE, -1, 1), "PCM_16"),
    "silent": (np.zeros(FS, np.float32), "PCM_16"),
    "nan": (np.where(np.arange(FS) == 100, np.nan, TONE).astype(np.float32), "FLOAT"),
    "inf": (np.where(np.arange(FS) == 100, np.inf, TONE).astype(np.float32), "FLOAT"),
    "Ünï côdé name": (TONE, "PCM_16"),
}
GOOD = ["Ünï côdé name", "clipped", "float32", "pcm24", "u8"]
BAD = {  # name -> what <part>.bad must say
    "silent": "silent",
    "nan": "NaN or Inf",
    "inf": "NaN or Inf",
    "truncated_header": "Error",
    "text": "Error",
}


def key(name: str) -> str:
    """The key ``scan`` gives a file name (spaces become underscores, see dns5_layout.utt_key)."""
    return "noise-" + name.replace(" ", "_")


def make_sources(root: Path) -> Path:
    """A noise folder with one file per format or damage; returns the inventory (``scan``'s format)."""
    noise = root / "datasets_fullband" / "noise_fullband"
    noise.mkdir(parents=True)
    for name, (audio, subtype) in FORMATS.items():
        sf.write(noise / f"{name}.wav", audio, FS, subtype=subtype)
    sf.write(noise / "whole.wav", TONE, FS, subtype="PCM_16")
    (noise / "truncated_header.wav").write_bytes((noise / "whole.wav").read_bytes()[:30])
    (noise / "whole.wav").unlink()
    (noise / "text.wav").write_text("this is not audio\n")
    part = root / "noise.tsv"
    names = sorted([*FORMATS, "truncated_header", "text"])
    rows = [f"{key(n)}\t{key(n)}\tdatasets_fullband/noise_fullband/{n}.wav\n" for n in names]
    part.write_text("".join(rows))
    return part


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("convert")
    part = make_sources(tmp / "root")
    out = tmp / "noise.out"
    prepare_main(["convert", "--kind", "noise", "--part", str(part), "--root", str(tmp / "root"),
                  "--audio-dir", str(tmp / "audio dir"), "--out", str(out)])  # fmt: skip
    return tmp, out


def test_sample_formats_are_read_and_damage_is_listed(converted):
    """8/24/32-bit float, clipped, non-ASCII names with spaces: converted; the rest listed as bad."""
    _, out = converted
    good = {line.split("\t")[0]: line.split("\t") for line in out.read_text().splitlines()}
    assert sorted(good) == sorted(key(n) for n in GOOD)
    for _, _, path, seconds in good.values():
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert float(seconds) == pytest.approx(1.0, abs=1e-3)
    bad = {line.split("\t")[0]: line for line in Path(f"{out}.bad").read_text().splitlines()}
    assert sorted(bad) == sorted(f"noise-{n}" for n in BAD)
    for name, reason in BAD.items():
        assert reason in bad[f"noise-{name}"] and f"{name}.wav" in bad[f"noise-{name}"]


def test_clipped_source_is_kept_and_counted_also_after_a_resume(converted):
    """A job resumed after a kill finds the file converted (cached) and still counts its repair: the
    repairs are in the audio cache's journal, beside the converted files they describe."""
    tmp, out = converted
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["clipped"] == 1 and stats["converted"] == len(GOOD)
    again = tmp / "again.out"  # as if <out> had not been written
    prepare_main(["convert", "--kind", "noise", "--part", str(tmp / "root" / "noise.tsv"),
                  "--root", str(tmp / "root"), "--audio-dir", str(tmp / "audio dir"),
                  "--out", str(again)])  # fmt: skip
    assert json.loads(Path(f"{again}.stats.json").read_text()) == stats


def test_paths_with_spaces_and_non_ascii_survive_the_lists(converted):
    tmp, out = converted
    with pytest.raises(SystemExit, match="5 of 10 noise files are unreadable"):
        prepare_main(["merge", "--kind", "noise", "--list-dir", str(tmp / "lists"), str(out)])
    prepare_main(
        ["merge", "--kind", "noise", "--list-dir", str(tmp / "lists"), "--max-bad-share", "0.6", str(out)]
    )
    wav = read_list(tmp / "lists" / "wav.scp")
    assert len(wav) == len(GOOD) and len((tmp / "lists" / "bad_files.tsv").read_text().splitlines()) == 5
    path = wav[key("Ünï côdé name")]
    assert " " in path and sf.info(path).frames == 16000


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_full_disk_stops_the_stage_and_names_the_file(tmp_path):
    """A write error is no bad input file: convert stops, names the output, leaves no partial file."""
    part = make_sources(tmp_path / "root")
    audio = tmp_path / "audio"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "local" / "prepare_dns5.py"), "convert", "--kind", "noise",
         "--part", str(part), "--root", str(tmp_path / "root"), "--audio-dir", str(audio),
         "--out", str(tmp_path / "noise.out")],
        capture_output=True, text=True, preexec_fn=_limit_file_size,
        env=recipe_env(PYTHONPATH=str(ROOT / "pyscripts")),
    )  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.splitlines()[-1]
    assert last.startswith(f"tfgridnet_pl.fileio.WriteError: cannot write {audio}/"), proc.stderr[-2000:]
    assert "file size limit (ulimit -f) 20000 bytes" in last
    assert not (tmp_path / "noise.out").exists() and not (tmp_path / "noise.out.bad").exists()
    left = [p for p in audio.rglob("*") if p.is_file() and p.name != ".sources.jsonl"]
    assert not left, "a partial or temporary file was left"
    assert not (audio / ".sources.jsonl").read_text(), "the cache journal names a file that was not written"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Stage 1 and the plan step of stage 2 on a small fake DNS5 tree."""
    tmp = tmp_path_factory.mktemp("sim")
    root = make_fake_dns5(tmp / "dns5", n_speakers=6, utts_per_speaker=2, seconds=2.0)
    prepare_main(["scan", "--root", str(root), "--subsets", "read_speech", "--out-dir", str(tmp / "scan")])
    for kind in ("clean", "noise", "rir"):
        out = str(tmp / f"{kind}.out")
        part, audio = str(tmp / "scan" / f"{kind}.tsv"), str(tmp / "audio" / kind)
        prepare_main(["convert", "--kind", kind, "--part", part, "--root", str(root), "--audio-dir", audio,
                      "--out", out])  # fmt: skip
        prepare_main(
            ["merge", "--kind", kind, "--list-dir", str(tmp / "lists" / kind), str(tmp / f"{kind}.out")]
        )
    cfg = yaml.safe_load((ROOT / "conf" / "simulation.yaml").read_text())
    cfg["sets"] = {"train": {"num_utts": 4, "segment_s": 1.0}, "dev": {"num_utts": 2, "segment_s": 1.0},
                   "test": {"num_utts": 2, "segment_s": 1.0}}  # fmt: skip
    cfg["split"].update({f"{p}{s}_share": 0.2 for p in ("noise_", "rir_") for s in ("dev", "test")})
    (tmp / "sim.yaml").write_text(yaml.safe_dump(cfg))
    simulate_main(["--config", str(tmp / "sim.yaml"), "plan", "--list-dir", str(tmp / "lists"),
                   "--sim-dir", str(tmp / "sim")])  # fmt: skip
    return tmp


def first_row(meta: Path) -> dict:
    import csv

    with open(meta, newline="") as f:
        return next(csv.DictReader(f, delimiter="\t"))


def render(tmp: Path, name: str = "test"):
    meta = str(tmp / "sim" / name / "meta.tsv")
    simulate_main(["--config", str(tmp / "sim.yaml"), "render", "--meta", meta,
                   "--audio-dir", str(tmp / "render" / name)])  # fmt: skip


def test_audio_that_vanished_after_stage_1_is_named(planned):
    clean = Path(first_row(planned / "sim" / "test" / "meta.tsv")["clean_path"])
    moved = clean.with_suffix(".moved")
    clean.rename(moved)
    try:
        with pytest.raises(SystemExit, match=rf"{clean.name} does not exist .*rerun stage 1"):
            render(planned)
    finally:
        moved.rename(clean)


def test_silent_clean_speech_segment_is_named(planned):
    row = first_row(planned / "sim" / "dev" / "meta.tsv")
    clean = Path(row["clean_path"])
    keep = clean.read_bytes()
    sf.write(clean, np.zeros(sf.info(clean).frames, np.float32), 16000, subtype="PCM_16")
    try:
        with pytest.raises(SystemExit, match=rf"utterance {row['key']} \(.*{clean.name}\): silent speech"):
            render(planned, "dev")
    finally:
        clean.write_bytes(keep)


def test_key_missing_from_one_list_is_named(planned, tmp_path):
    lists = tmp_path / "lists"
    subprocess.run(["cp", "-a", str(planned / "lists"), str(lists)], check=True)
    dur = read_list(lists / "noise" / "utt2dur")
    write_list(lists / "noise" / "utt2dur", dict(list(dur.items())[1:]))
    with pytest.raises(ValueError, match="noise: wav.scp, utt2dur and utt2spk have different keys"):
        simulate_main(["--config", str(planned / "sim.yaml"), "plan", "--list-dir", str(lists),
                       "--sim-dir", str(tmp_path / "sim")])  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [({"snr_db": "high"}, "'snr_db' must be a list"), ({"colour": 1}, r"unknown key\(s\) \['colour'\]")],
)
def test_simulation_yaml_wrong_type_or_unknown_key_through_the_cli(planned, tmp_path, change, message):
    cfg = {**yaml.safe_load((planned / "sim.yaml").read_text()), **change}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(SystemExit, match=rf"simulate: config error: {tmp_path / 'bad.yaml'}.*{message}"):
        simulate_main(["--config", str(tmp_path / "bad.yaml"), "plan", "--list-dir", str(planned / "lists"),
                       "--sim-dir", str(tmp_path / "sim")])  # fmt: skip


# ESPnet's training parser, the one pyscripts/enh_train.py runs (with the recipe's classes registered).
def training_parser():
    from espnet2.tasks.enh import EnhancementTask

    import tfgridnet_pl.register  # noqa: F401

    return EnhancementTask.get_parser()


def training_yaml(tmp_path: Path, edit) -> Path:
    cfg = yaml.safe_load((ROOT / "conf" / "train_pl.yaml").read_text())
    edit(cfg)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c.update(separtor_conf={}),
            r"unrecognized arguments: separtor_conf \(from .*train.yaml\)",
        ),
        (lambda c: c.update(max_epoch="ten"), "argument --max_epoch: invalid int value: 'ten'"),
    ],
    ids=["unknown key", "wrong type"],
)
def test_training_yaml_unknown_key_or_wrong_type(tmp_path, capsys, edit, message):
    with pytest.raises(SystemExit) as err:
        training_parser().parse_args(["--config", str(training_yaml(tmp_path, edit))])
    assert err.value.code == 2
    assert __import__("re").search(message, capsys.readouterr().err)


def test_training_yaml_unknown_model_option_is_named(tmp_path):
    from tfgridnet_pl.model.complexity import build_enh_model

    path = training_yaml(tmp_path, lambda c: c["separator_conf"].update(n_layerz=2))
    with pytest.raises(
        ValueError, match=r"train.yaml: cannot build the model: .*unexpected keyword .*'n_layerz'"
    ):
        build_enh_model(path)


def test_training_yaml_missing_key_takes_espnets_default(tmp_path):
    """A left-out key is not an error: ESPnet's default applies and exp/<model>/config.yaml records it."""
    args = training_parser().parse_args(
        ["--config", str(training_yaml(tmp_path, lambda c: c.pop("patience")))]
    )
    assert (
        args.patience is None
        and args.max_epoch == yaml.safe_load((ROOT / "conf" / "train_pl.yaml").read_text())["max_epoch"]
    )


def test_checkpoint_of_another_config_is_refused(tmp_path):
    """``--resume true`` with a checkpoint.pth of a different model: ESPnet stops with the mismatch."""
    import torch
    from espnet2.train.reporter import Reporter
    from espnet2.train.trainer import Trainer

    from tfgridnet_pl.model.complexity import build_enh_model

    def tiny(n_layers):
        return training_yaml(tmp_path / str(n_layers), lambda c: c["separator_conf"].update(
            n_layers=n_layers, emb_dim=8, lstm_hidden_units=8, attn_n_head=1))  # fmt: skip

    (tmp_path / "2").mkdir(), (tmp_path / "3").mkdir()
    other = build_enh_model(tiny(2))
    torch.save({"model": other.state_dict(), "reporter": Reporter().state_dict(), "optimizers": [],
                "schedulers": [], "scaler": None}, tmp_path / "checkpoint.pth")  # fmt: skip
    model = build_enh_model(tiny(3))
    with pytest.raises(RuntimeError, match="Missing key|size mismatch"):
        Trainer.resume(tmp_path / "checkpoint.pth", model, Reporter(), [], [], None)


def run_sh(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["./run.sh", *args], cwd=recipe, env=recipe_env(), capture_output=True, text=True)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return copy_recipe(tmp_path_factory.mktemp("recipe") / "r")


def test_missing_dns5_root_is_refused_before_any_work(recipe):
    proc = run_sh(recipe, "--stage", "1", "--stop-stage", "1", "--dns5-root", "/nowhere/dns5")
    assert proc.returncode == 2 and "--dns5-root /nowhere/dns5 does not exist" in proc.stdout + proc.stderr
    assert not (recipe / "data").exists()


def test_empty_dns5_root_names_the_missing_folder(recipe, tmp_path):
    (tmp_path / "dns5").mkdir()
    proc = run_sh(recipe, "--stage", "1", "--stop-stage", "1", "--dns5-root", str(tmp_path / "dns5"))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "datasets_fullband" in out and str(tmp_path / "dns5") in out, out[-3000:]
    assert not (recipe / "data" / "lists" / "clean" / "wav.scp").exists()


def test_training_of_other_inputs_is_moved_aside_never_resumed(recipe):
    """A checkpoint made with another config or other data is not resumed: local/train.sh moves it aside."""
    exp = recipe / "exp" / "enh_old"
    exp.mkdir(parents=True)
    (exp / "checkpoint.pth").write_bytes(b"a checkpoint of another config")
    (exp / ".key").write_text("conf/other.yaml 0123\n")
    for split in ("tr", "cv"):
        (exp.parent / split).mkdir()
        (exp.parent / split / "spk1.scp").write_text("u1 /nowhere/u1.wav\n")
        (exp.parent / split / ".done").write_text("some key\n")
    (exp.parent / ".done").write_text("stats key\n")
    for split in ("train", "valid"):  # statistics for the batch check, which passes before the launcher fails
        (exp.parent / split).mkdir()
        (exp.parent / split / "speech_ref1_shape").write_text("u1 64000\n")
    # --cmd false: the job launcher fails at once, after the key check (no ESPnet start-up in this test)
    train = ". ./path.sh && local/train.sh --cmd false conf/train_pl.yaml exp/tr exp/cv exp exp/enh_old"
    proc = subprocess.run(["bash", "-c", train], cwd=recipe, env=recipe_env(), capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "was made from other inputs or options" in out, out[-3000:]
    aside = [d for d in exp.parent.iterdir() if d.name.startswith("enh_old.superseded-")]
    assert len(aside) == 1 and (aside[0] / "checkpoint.pth").read_bytes() == b"a checkpoint of another config"
    assert not (exp / "checkpoint.pth").exists() and "conf/train_pl.yaml" in (exp / ".key").read_text()


def test_a_changed_source_redoes_stages_1_and_2_and_nothing_else(recipe, tmp_path):
    """Another tree with the same names (a re-extracted archive, a corrected release): every step that
    read the changed file is redone, its 16 kHz copy is made again, and the rest is reused."""
    root = make_fake_dns5(tmp_path / "dns5", n_speakers=6, utts_per_speaker=2, seconds=2.0)
    cfg = yaml.safe_load((ROOT / "conf" / "simulation.yaml").read_text())
    cfg["sets"] = {name: {"num_utts": 2, "segment_s": 1.0} for name in ("train", "dev", "test")}
    cfg["split"].update({f"{p}{s}_share": 0.2 for p in ("noise_", "rir_") for s in ("dev", "test")})
    (tmp_path / "sim.yaml").write_text(yaml.safe_dump(cfg))
    args = [
        "--stage",
        "1",
        "--stop-stage",
        "2",
        "--dns5-root",
        str(root),
        "--sim-config",
        str(tmp_path / "sim.yaml"),
    ]

    def stages_1_2() -> str:
        proc = run_sh(recipe, *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    stages_1_2()
    out = stages_1_2()  # nothing changed: nothing is redone
    assert "converting" not in out and "rendering" not in out and "Planning" not in out, out[-3000:]
    # Replace one noise file by another recording of the same name, with an older time stamp.
    noise = root / "datasets_fullband" / "noise_fullband" / "Noise_000.wav"
    new = (0.05 * np.sign(np.sin(2 * np.pi * 50 * np.arange(3 * FS) / FS))).astype(np.float32)
    sf.write(noise, new, FS, subtype="PCM_16")
    os.utime(noise, ns=(1_000_000_000, 1_000_000_000))
    out = stages_1_2()
    assert "noise: converting" in out and "clean: converting" not in out and "rir: converting" not in out
    assert "Planning" in out, out[-3000:]  # the plan read the noise lists
    copy = read_list(recipe / "data" / "lists" / "noise" / "wav.scp")["noise-Noise_000"]
    converted, fs = sf.read(copy)
    assert fs == 16000 and abs(np.mean(np.abs(converted)) - 0.05) < 0.005  # the new recording, not the old
    out = stages_1_2()
    assert "converting" not in out and "Planning" not in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--stage", "abc"], "--stage 'abc': expected an integer from 0 to 7"),
        (["--stage", "9"], "--stage '9': expected an integer from 0 to 7"),
        (["--stop-stage", "-1"], "--stop-stage '-1': expected an integer"),
        (["--stage", "5", "--stop-stage", "2"], "--stage 5 is after --stop-stage 2"),
        (["--nj", "0"], "--nj '0': expected an integer of at least 1"),
        (["--nj", "2x"], "--nj '2x'"),
        (["--ngpu", "one"], "--ngpu 'one'"),
        (["--num-nodes", "0"], "--num-nodes '0'"),
        (["--train-jobs", "0"], "--train-jobs '0': expected an integer of at least 1"),
        (["--models", ""], "--models is empty"),
        (["--models", "dl nope"], "--models: no config for model 'nope': conf/train_nope.yaml (known:"),
        (["--models", "../x"], "--models: '../x' is not a plain name"),
        (["--models", "a$(touch${IFS}PWNED)"], "is not a plain name"),
        (["--peers", "gtcrn foo"], "--peers: unknown 'foo' (known: gtcrn dfn3)"),
        (["--seeds", "0 x"], "--seeds 'x'"),
        (["--seeds", ""], "--seeds is empty"),
        (["--test-sets", "test ../../etc"], "--test-sets: '../../etc' is not a plain name"),
        (["--inference-model", "../../x.pth"], "--inference-model: '../../x.pth' is not a plain name"),
        (["--sim-config", "/nowhere.yaml"], "config file /nowhere.yaml not found"),
        (["--train-config", "/nowhere.yaml"], "--train-config /nowhere.yaml not found"),
        (["--decode-model-config", "/nowhere.yaml"], "config file /nowhere.yaml not found"),
    ],
)
def test_options_are_checked_before_any_work(recipe, args, says):
    def tree() -> dict[str, int]:  # every path of the recipe copy with its time stamp (the fixture is shared)
        return {str(p): p.lstat().st_mtime_ns for p in recipe.rglob("*")}

    before = tree()
    proc = run_sh(recipe, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and says in out, out[-2000:]
    assert "Successfully finished" not in out and not (recipe / "PWNED").exists()
    assert tree() == before  # nothing written: not the lock (exp/.run.lock), not data/, not a venv marker
