"""pyscripts/pack_model.py and pyscripts/enhance.py on a tiny model that ESPnet trains here.

The model (``tiny_experiment``) is a TF-GridNet PL model (``tfgridnet_pl`` with intermediate heads, the
paper's emb_ks 2 / emb_hs 1 layout, sqrt-Hann 256/128 STFT) trained by pyscripts/enh_train.py for one
epoch of two batches on synthetic 0.5-s clips: a real experiment dir (config.yaml written by ESPnet,
valid.loss.best.pth), made once per test session and shared with test_onnx_export.py and test_chunking.py.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from signals import harmonic_tone

ROOT = Path(__file__).resolve().parents[1]
FS = 16000
torch.set_num_threads(1)  # in-process model runs: no OpenMP threads spinning against other processes

TINY_CONFIG = """\
seed: 0
num_workers: 0
batch_type: folded
batch_size: 2
max_epoch: 1
num_iters_per_epoch: 2
best_model_criterion: [[valid, loss, min]]
keep_nbest_models: 1
use_tensorboard: false
use_matplotlib: false
optim: adam
optim_conf: {lr: 1.0e-03}
model_conf: {normalize_variance: false}
encoder: same
decoder: same
separator: tfgridnet_pl
separator_conf: {n_srcs: 1, n_fft: 256, stride: 128, window: sqrt_hann, n_layers: 2, lstm_hidden_units: 8,
  attn_n_head: 1, attn_approx_qk_dim: 64, emb_dim: 8, emb_ks: 2, emb_hs: 1, intermediate_heads: true}
criterions:
- name: si_snr
  conf: {}
  wrapper: progressive
  wrapper_conf: {weight: 1.0, mode: absolute, snrs: [5]}
"""


def make_data_dir(folder: Path, n_utts: int, seconds: float, rng: np.random.Generator) -> None:
    """An ESPnet enhancement data dir of synthetic mixtures (and a shape file for batching)."""
    lists: dict[str, list[str]] = {k: [] for k in ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "spk2utt")}
    shapes = []
    (folder / "wav").mkdir(parents=True)
    n = int(seconds * FS)
    for i in range(n_utts):
        key = f"{folder.name}{i:02d}"
        speech, noise = harmonic_tone(n, rng), 0.05 * rng.standard_normal(n)
        for name, x in (("wav.scp", speech + noise), ("spk1.scp", speech), ("noise1.scp", noise)):
            path = folder / "wav" / f"{key}_{name.split('.')[0]}.wav"
            sf.write(path, x.astype(np.float32), FS, subtype="FLOAT")
            lists[name].append(f"{key} {path}")
        lists["utt2spk"].append(f"{key} {key}")
        lists["spk2utt"].append(f"{key} {key}")
        shapes.append(f"{key} {n}")
    for name, lines in lists.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    (folder / "shape").write_text("\n".join(shapes) + "\n")


def train_tiny(base: Path) -> Path:
    """Train the tiny PL model with ESPnet under ``base``; return the experiment dir."""
    rng = np.random.default_rng(0)
    for split, n_utts in (("train", 4), ("valid", 1)):
        make_data_dir(base / "data" / split, n_utts, 0.5, rng)
    config = base / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    exp = base / "exp" / "enh_tiny"
    cmd = [sys.executable, str(ROOT / "pyscripts/enh_train.py"), "--config", str(config), "--ngpu", "0"]
    cmd += ["--output_dir", str(exp), "--fold_length", str(FS // 2)]
    for split in ("train", "valid"):
        d = base / "data" / split
        for name, key in (
            ("wav.scp", "speech_mix"),
            ("spk1.scp", "speech_ref1"),
            ("noise1.scp", "noise_ref1"),
        ):
            cmd += [f"--{split}_data_path_and_name_and_type", f"{d / name},{key},sound"]
        cmd += [f"--{split}_shape_file", str(d / "shape")]
    # One thread: OpenMP threads spinning against other processes can slow training a hundredfold.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (exp / "valid.loss.best.pth").is_file() and (exp / "config.yaml").is_file()
    return exp


def tiny_experiment(factory: pytest.TempPathFactory) -> Path:
    """The tiny trained experiment, trained once per session (cached under the session's temp dir)."""
    base = factory.getbasetemp() / "tiny_enh"
    exp = base / "exp" / "enh_tiny"
    if not (base / ".done").is_file():
        if base.exists():
            import shutil

            shutil.rmtree(base)
        base.mkdir()
        train_tiny(base)
        (base / ".done").write_text("ok\n")
    return exp


def tiny_pack(factory: pytest.TempPathFactory, onnx: bool = True) -> Path:
    """The tiny experiment packed (with the ONNX graphs), once per session."""
    exp = tiny_experiment(factory)
    out = exp / "packed" / ("tiny.tar.gz" if onnx else "tiny_noonnx.tar.gz")
    if not out.is_file():
        import pack_model

        assert pack_model.main(["--exp", str(exp), "--out", str(out), "--onnx", str(onnx).lower()]) == 0
    return out


def run_py(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "pyscripts" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def enhance(caplog: pytest.LogCaptureFixture, *args: str) -> tuple[int, str]:
    """Run pyscripts/enhance.py's main in this process (one thread, no progress bar): (exit code, log)."""
    import enhance as cli

    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = cli.main([*args, "--threads", "1", "--quiet"])
    return code, caplog.text


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Path:
    return tiny_experiment(tmp_path_factory)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    return tiny_pack(tmp_path_factory)


# -- pack ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_pack_holds_inference_graph_config_and_versions(exp, packed):
    from tfgridnet_pl.deploy import packed_model as pm

    pack = pm.read_pack(packed)
    info = pack.info
    assert info["format"] == pm.FORMAT and info["tag"] == "tiny" and info["fs"] == FS
    import espnet

    assert (pack.meta["espnet"], pack.meta["torch"]) == (espnet.__version__, str(torch.__version__))
    assert info["git_commit"] != "" and info["date"].startswith("20")
    state = pack.state_dict()
    assert not any(k.startswith("separator.heads.") for k in state)  # PL heads dropped
    trained = __import__("torch").load(exp / "valid.loss.best.pth", weights_only=True)
    heads = sum(v.numel() for k, v in trained.items() if k.startswith("separator.heads."))
    assert heads > 0 and info["params_dropped"] == heads
    assert info["params"] - info["params_inference"] == heads
    assert info["params_inference"] == sum(v.numel() for v in state.values())
    for key, value in state.items():  # the packed weights are the trained ones
        assert (trained[key] == value).all(), key
    assert pack.config["separator_conf"]["intermediate_heads"] is False
    assert pack.config["separator"] == "tfgridnet_pl" and sorted(pack.onnx) == ["fp32", "int8"]
    with tarfile.open(packed) as tar:
        names = tar.getnames()
    assert names[0] == pm.META and all(not n.startswith("/") and ".." not in n for n in names)


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_espnet_unpack_reads_the_archive(packed, tmp_path):
    from espnet2.main_funcs.pack_funcs import unpack

    files = unpack(packed, tmp_path / "unpacked")
    assert Path(files["model_file"]).is_file()
    assert yaml.safe_load(Path(files["train_config"]).read_text())["separator"] == "tfgridnet_pl"


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_packed_model_matches_espnet_forward(exp, packed):
    """Enhancer (glue + core) gives ESPnet's own forward_enhance of the trained checkpoint."""
    import torch

    from tfgridnet_pl.deploy import packed_model as pm

    config = yaml.safe_load((exp / "config.yaml").read_text())
    model = pm.build_model(config, torch.load(exp / "valid.loss.best.pth", weights_only=True))
    rng = np.random.default_rng(1)
    wave = np.stack([harmonic_tone(20000, rng) + 0.03 * rng.standard_normal(20000) for _ in range(2)])
    with torch.no_grad():
        ref = model.forward_enhance(torch.from_numpy(wave).float(), torch.tensor([20000, 20000]))[0][
            0
        ].numpy()
    out = pm.Enhancer(packed)(wave.astype(np.float32))
    assert out.shape == wave.shape
    assert np.max(np.abs(out - ref)) < 1e-5


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_decode_overrides_reach_espnet_decoding_and_the_pack(exp, packed, tmp_path, caplog):
    """conf/decode_model.yaml's kind of override: ESPnet's enh_inference and the pack apply it alike."""
    from espnet2.bin.enh_inference import SeparateSpeech

    import pack_model
    import tfgridnet_pl.register  # noqa: F401
    from tfgridnet_pl.deploy import packed_model as pm

    overrides = tmp_path / "decode_model.yaml"
    overrides.write_text("separator_conf:\n  mix_back: 0.25\n")
    out = tmp_path / "mixed.tar.gz"
    args = ["--exp", str(exp), "--out", str(out), "--inference-config", str(overrides)]
    assert pack_model.main(args) == 0
    pack = pm.read_pack(out)
    assert pack.config["separator_conf"]["mix_back"] == 0.25
    assert pack.info["inference_config"] == str(overrides)
    rng = np.random.default_rng(3)
    wave = (harmonic_tone(20000, rng) + 0.03 * rng.standard_normal(20000)).astype(np.float32)[None]
    plain = pm.Enhancer(packed)(wave)
    want = 0.75 * plain + 0.25 * wave
    assert np.max(np.abs(want - plain)) > 1e-3  # the override changes the output
    for backend in ("torch", "onnx"):
        assert np.max(np.abs(pm.Enhancer(pack, backend=backend)(wave) - want)) < 1e-4, backend
    espnet_decoder = SeparateSpeech(
        train_config=exp / "config.yaml", model_file=exp / "valid.loss.best.pth", inference_config=overrides
    )
    assert np.max(np.abs(espnet_decoder(wave, fs=FS)[0] - want)) < 1e-4
    # keys ESPnet would not override, and a missing file, are refused naming the file
    overrides.write_text("optim_conf:\n  lr: 1.0\n")
    bad = ["--exp", str(exp), "--out", str(tmp_path / "bad.tar.gz"), "--inference-config"]
    with caplog.at_level(logging.INFO):
        assert pack_model.main([*bad, str(overrides)]) == 1
        assert pack_model.main([*bad, str(tmp_path / "none.yaml")]) == 1
    assert f"{overrides}: keys ['optim_conf'] cannot be overridden" in caplog.text
    assert "none.yaml: no such file" in caplog.text
    # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode_model.yaml", "mixed.tar.gz"]


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_foreign_corrupt_and_tampered_archives_are_rejected(packed, tmp_path):
    from tfgridnet_pl.deploy import packed_model as pm

    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        data = yaml.safe_dump({"files": {"model_file": "m.pth"}, "yaml_files": {}}).encode()
        info = tarfile.TarInfo("meta.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(pm.PackedModelError, match="foreign archive"):
        pm.read_pack(foreign)
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(packed.read_bytes()[:5000])
    with pytest.raises(pm.PackedModelError, match="not a readable .tar.gz"):
        pm.read_pack(corrupt)
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(packed) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name == pm.WEIGHTS:
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(pm.PackedModelError, match="does not match its sha256"):
        pm.read_pack(tampered)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", np.zeros(1600), FS)
    r = run_py(
        "enhance.py", "--model", str(foreign), str(tmp_path / "in"), "--out-dir", str(tmp_path / "out")
    )
    assert r.returncode == 2 and "foreign archive" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_pack_reports_missing_checkpoint(exp, tmp_path, caplog):
    import pack_model

    with caplog.at_level(logging.INFO):
        code = pack_model.main(
            ["--exp", str(exp), "--model", "nope.pth", "--out", str(tmp_path / "x.tar.gz")]
        )
    assert code == 1 and "nope.pth: no such file" in caplog.text
    assert not (tmp_path / "x.tar.gz").exists()


# -- enhance --------------------------------------------------------------------------------------------
@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_round_trip_torch_and_onnx_agree(packed, tmp_path, caplog):
    rng = np.random.default_rng(2)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    clip = (harmonic_tone(3 * FS, rng) + 0.03 * rng.standard_normal(3 * FS)).astype(np.float32)
    sf.write(src / "sub" / "a.wav", clip, FS, subtype="FLOAT")
    sf.write(src / "b.flac", clip[: FS + 123], FS, subtype="PCM_16")
    (src / "notes.txt").write_text("not audio")
    outs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"out_{backend}"
        code, log = enhance(
            caplog, "--model", str(packed), "--backend", backend, str(src), "--out-dir", str(out)
        )
        assert code == 0, log
        assert "enhanced 2 of 2 files" in log and "ignored 1 files" in log
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
            "b.flac",
            "sub/a.wav",
        ]
        a, fs = sf.read(out / "sub" / "a.wav", dtype="float32")
        assert fs == FS and len(a) == len(clip) and sf.info(out / "sub" / "a.wav").subtype == "FLOAT"
        b_info = sf.info(out / "b.flac")
        assert b_info.format == "FLAC" and b_info.subtype == "PCM_16" and b_info.frames == FS + 123
        assert np.std(a) > 1e-3 and not np.allclose(a, clip, atol=1e-3)  # the model changed the audio
        outs[backend] = a
    assert np.max(np.abs(outs["torch"] - outs["onnx"])) < 1e-4


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_44k_stereo_is_enhanced_per_channel_at_its_own_rate(packed, tmp_path, caplog):
    from tfgridnet_pl.deploy import packed_model as pm

    rng = np.random.default_rng(3)
    fs = 44100
    n = int(2.5 * fs)
    left = harmonic_tone(n, rng) * 0.5
    stereo = np.stack([left, 0.2 * rng.standard_normal(n)], axis=1).astype(np.float32)
    sf.write(tmp_path / "st.wav", stereo, fs, subtype="PCM_24")
    code, log = enhance(
        caplog, "--model", str(packed), str(tmp_path / "st.wav"), "--out-dir", str(tmp_path / "out")
    )
    assert code == 0, log
    out, out_fs = sf.read(tmp_path / "out" / "st.wav", dtype="float32")
    info = sf.info(tmp_path / "out" / "st.wav")
    assert out_fs == fs and info.subtype == "PCM_24" and out.shape == stereo.shape
    # Channel by channel: the left channel's output equals enhancing the left channel alone (at 16 kHz).
    import soxr

    left16 = soxr.resample(stereo[:, 0], fs, FS, quality="VHQ")
    ref = soxr.resample(pm.Enhancer(packed)(left16[None])[0], FS, fs, quality="VHQ")[:n]
    inner = slice(fs // 10, n - fs // 10)  # away from the resamplers' edges
    assert np.max(np.abs(out[inner, 0] - ref[inner])) < 2e-3
    assert np.corrcoef(out[inner, 0], ref[inner])[0, 1] > 0.999
    assert not np.allclose(out[:, 0], out[:, 1], atol=1e-3)


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_one_corrupt_file_is_reported_and_the_rest_processed(packed, tmp_path):
    """Through the real command line: exit status 1, the bad file named on stderr."""
    rng = np.random.default_rng(4)
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.wav", "c.wav"):
        sf.write(src / name, harmonic_tone(FS, rng).astype(np.float32), FS)
    (src / "b.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    r = run_py(
        "enhance.py",
        "--model",
        str(packed),
        "--threads",
        "1",
        "--quiet",
        str(src),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert r.returncode == 1
    assert "enhanced 2 of 3 files" in r.stderr and "1 failed" in r.stderr
    assert f"{src / 'b.wav'}: cannot read audio" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "c.wav"]  # no temporary left


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_bad_inputs_are_refused_before_processing(packed, tmp_path, caplog):
    src = tmp_path / "in"
    (src / "empty").mkdir(parents=True)
    sf.write(src / "a.wav", np.zeros(FS), FS)
    cases = [
        ([str(src), "--out-dir", str(src / "enhanced")], "is inside the input folder"),
        ([str(src / "empty"), "--out-dir", str(tmp_path / "o")], "no audio files"),
        ([str(tmp_path / "missing.wav"), "--out-dir", str(tmp_path / "o")], "no such file or folder"),
        ([str(src / "a.wav"), "--out-dir", str(src)], "would overwrite the input"),
        (
            [str(src), "--out-dir", str(tmp_path / "o"), "--chunk-seconds", "1", "--overlap-seconds", "1"],
            "must be below --chunk-seconds",
        ),
    ]
    for args, message in cases:
        code, log = enhance(caplog, "--model", str(packed), *args)
        assert code == 2 and message in log, (args, log)
    assert not (src / "enhanced").exists() and not (tmp_path / "o").exists()


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_silence_long_file_limits_and_existing_outputs(packed, tmp_path, caplog):
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "silent.wav", np.zeros((FS, 2)), FS)
    sf.write(src / "long.wav", np.zeros(3 * FS), FS)
    whole_files = ["--chunk-seconds", "0", "--max-unchunked-seconds", "2"]
    code, log = enhance(
        caplog, "--model", str(packed), *whole_files, str(src), "--out-dir", str(tmp_path / "out")
    )
    assert code == 1 and "use --chunk-seconds" in log and "long.wav" in log
    silent, _ = sf.read(tmp_path / "out" / "silent.wav")
    assert silent.shape == (FS, 2) and not silent.any()  # digital silence in, silence out
    code, log = enhance(caplog, "--model", str(packed), str(src), "--out-dir", str(tmp_path / "out"))
    assert code == 0 and "1 outputs exist already" in log and "enhanced 1 of 1" in log


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_int8_and_emulated_bf16_stay_close_to_fp32(packed):
    from tfgridnet_pl.deploy import packed_model as pm

    rng = np.random.default_rng(5)
    wave = (harmonic_tone(2 * FS, rng) + 0.03 * rng.standard_normal(2 * FS)).astype(np.float32)[None]
    ref = pm.Enhancer(packed)(wave)
    scale = np.sqrt(np.mean(ref**2))
    for backend, precision in (("torch", "int8"), ("onnx", "int8"), ("torch", "bf16")):
        out = pm.Enhancer(packed, backend, precision, allow_emulated_bf16=True)(wave)
        err = np.sqrt(np.mean((out - ref) ** 2)) / scale
        assert 0 < err < 0.1, (backend, precision, err)
    if not pm.native_bf16():
        with pytest.raises(ValueError, match="no native bf16"):
            pm.Enhancer(packed, "torch", "bf16")
    with pytest.raises(ValueError, match="torch only"):
        pm.Enhancer(packed, "onnx", "bf16")
