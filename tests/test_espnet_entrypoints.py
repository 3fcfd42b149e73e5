"""pyscripts/enh_train.py and enh_inference.py on a tiny synthetic data dir: stats, DL/PL training, decoding.

The small configs are shrunk further on the command line (ESPnet's ``--separator_conf key=value``
overrides) so that each run takes seconds: one epoch of 4 utterances, 1-s chunks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FS = 16000
SHRINK = [
    "--max_epoch", "1", "--num_iters_per_epoch", "4", "--batch_size", "2", "--chunk_length", "16000",
    "--separator_conf", "emb_dim=8", "--separator_conf", "lstm_hidden_units=8", "--num_workers", "0",
]  # fmt: skip

pytestmark = pytest.mark.slow  # about 1-2 min: 5 ESPnet processes (stats, 2 trainings, 2 decodings)


def write_set(folder: Path, n: int, seed: int, seconds: float = 2.0) -> None:
    """A Kaldi-style enh data dir of n clips: harmonic 'speech' plus noise at 0-10 dB SNR."""
    rng = np.random.default_rng(seed)
    (folder / "wav").mkdir(parents=True)
    t = np.arange(int(seconds * FS)) / FS
    lists: dict[str, list[str]] = {
        name: [] for name in ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "spk2utt")
    }
    for i in range(n):
        utt = f"spk{i % 2}-utt{i}"
        speech = sum(np.sin(2 * np.pi * h * rng.uniform(100, 200) * t) / h for h in range(1, 6))
        speech *= 0.05 * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
        noise = rng.standard_normal(len(t))
        noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (rng.uniform(0, 10) / 10))
        for name, audio in (("wav.scp", speech + noise), ("spk1.scp", speech), ("noise1.scp", noise)):
            path = folder / "wav" / f"{utt}_{name.split('.')[0]}.wav"
            sf.write(path, audio.astype(np.float32), FS, subtype="FLOAT")
            lists[name].append(f"{utt} {path}")
        lists["utt2spk"].append(f"{utt} spk{i % 2}")
    lists["spk2utt"] = [
        f"spk{s} " + " ".join(f"spk{s}-utt{i}" for i in range(n) if i % 2 == s) for s in (0, 1)
    ]
    for name, lines in lists.items():
        (folder / name).write_text("".join(f"{line}\n" for line in sorted(lines)))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'pyscripts'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stderr[-4000:]}"
    return proc


def data_opts(work: Path) -> list[str]:
    opts = []
    for split in ("train", "valid"):
        for scp, name in (
            ("wav.scp", "speech_mix"),
            ("spk1.scp", "speech_ref1"),
            ("noise1.scp", "noise_ref1"),
        ):
            opts += [f"--{split}_data_path_and_name_and_type", f"{work / split / scp},{name},sound"]
    return opts


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Data dirs and shape statistics (collect_stats through our entry point)."""
    work = tmp_path_factory.mktemp("enh")
    write_set(work / "train", 4, seed=0)
    write_set(work / "valid", 2, seed=1)
    shapes = ["--train_shape_file", str(work / "train" / "wav.scp")]
    shapes += ["--valid_shape_file", str(work / "valid" / "wav.scp")]
    train = str(ROOT / "pyscripts" / "enh_train.py")
    run(
        train,
        "--collect_stats",
        "true",
        *data_opts(work),
        *shapes,
        "--output_dir",
        str(work / "stats"),
        cwd=ROOT,
    )
    for split in ("train", "valid"):
        shape = (work / "stats" / split / "speech_mix_shape").read_text().split()
        assert shape[1] == str(2 * FS)
    return work


@pytest.fixture(scope="module")
def trained(work) -> dict[str, tuple[Path, str]]:
    """Train the small DL and PL configs for one tiny epoch; {tag: (exp dir, log)}."""
    out = {}
    for tag in ("dl", "pl"):
        exp = work / f"exp_{tag}"
        shapes = []
        for split in ("train", "valid"):
            for name in ("speech_mix", "speech_ref1", "noise_ref1"):
                shapes += [f"--{split}_shape_file", str(work / "stats" / split / f"{name}_shape")]
        config = ROOT / "conf" / "tuning" / f"train_enh_tfgridnet_{tag}_small.yaml"
        args = ["--config", str(config), *data_opts(work), *shapes, *["--fold_length", "80000"] * 3]
        proc = run(
            str(ROOT / "pyscripts" / "enh_train.py"), *args, "--output_dir", str(exp), *SHRINK, cwd=ROOT
        )
        out[tag] = (exp, proc.stderr)
    return out


@pytest.mark.parametrize("tag", ["dl", "pl"])
def test_training_writes_a_model(trained, tag):
    exp, log = trained[tag]
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["separator"] == "tfgridnet_pl"
    assert config["separator_conf"]["intermediate_heads"] is (tag == "pl")
    assert config["separator_conf"]["emb_dim"] == 8  # the command-line override reached the model
    assert (exp / "valid.loss.best.pth").exists()
    assert "1epoch results" in log and "hybrid=" in log
    assert ("pl_block4=" in log) is (tag == "pl")  # the per-block losses are logged in PL training only
    state = torch.load(exp / "valid.loss.best.pth", map_location="cpu")
    assert any(k.startswith("separator.heads.") for k in state) is (tag == "pl")


@pytest.mark.parametrize("tag", ["dl", "pl"])
def test_inference_writes_full_length_wavs(work, trained, tag):
    exp, _ = trained[tag]
    out = work / f"decode_{tag}"
    args = ["--config", str(ROOT / "conf" / "decode.yaml"), "--fs", str(FS)]
    args += ["--train_config", str(exp / "config.yaml"), "--model_file", str(exp / "valid.loss.best.pth")]
    args += ["--data_path_and_name_and_type", f"{work / 'valid' / 'wav.scp'},speech_mix,sound"]
    run(str(ROOT / "pyscripts" / "enh_inference.py"), *args, "--output_dir", str(out), cwd=ROOT)
    lines = dict(line.split(maxsplit=1) for line in (out / "spk1.scp").read_text().splitlines())
    inputs = dict(line.split(maxsplit=1) for line in (work / "valid" / "wav.scp").read_text().splitlines())
    assert set(lines) == set(inputs)
    for utt, path in lines.items():
        info = sf.info(path)
        assert info.samplerate == FS and info.frames == sf.info(inputs[utt]).frames


def test_pl_checkpoint_decodes_with_the_final_head_only(work, trained):
    from espnet2.bin.enh_inference import SeparateSpeech

    import tfgridnet_pl.register  # noqa: F401

    exp, _ = trained["pl"]
    enh = SeparateSpeech(train_config=exp / "config.yaml", model_file=exp / "valid.loss.best.pth")
    separator = enh.enh_model.separator
    assert len(separator.heads) == 4 and not separator.training

    def fail(*_args):
        raise AssertionError("an intermediate head ran at inference")

    for head in separator.heads:
        head.register_forward_hook(fail)
    mixture, _ = sf.read(work / "valid" / "wav" / "spk0-utt0_wav.wav", dtype="float32")
    [enhanced] = enh(mixture[None], fs=FS)
    assert enhanced.shape == (1, len(mixture)) and np.isfinite(enhanced).all()


@pytest.mark.parametrize("tag", ["dl", "pl"])
def test_complexity_of_a_trained_experiment(trained, tag):
    """pyscripts/complexity.py reads the config.yaml that ESPnet saved (as local/report.sh does)."""
    from tfgridnet_pl.model.complexity import config_complexity

    exp, _ = trained[tag]
    result = config_complexity(exp / "config.yaml")
    state = torch.load(exp / "valid.loss.best.pth", map_location="cpu")
    assert result["params"] == sum(v.numel() for k, v in state.items() if k.startswith("separator."))
    heads = sum(v.numel() for k, v in state.items() if k.startswith("separator.heads."))
    assert result["params"] - result["params_inference"] == heads


def test_distributed_training_on_cpu_with_two_processes(work, tmp_path):
    """ESPnet's DDP path on CPU: torchrun starts two ranks (gloo), ESPnet takes RANK/WORLD_SIZE from
    the environment (its external-launcher mode), wraps the model in DistributedDataParallel and
    rank 0 writes the checkpoint. The PL config, so the per-block heads go through DDP too."""
    exp = tmp_path / "exp_ddp"
    shapes = []
    for split in ("train", "valid"):
        for name in ("speech_mix", "speech_ref1", "noise_ref1"):
            shapes += [f"--{split}_shape_file", str(work / "stats" / split / f"{name}_shape")]
    config = ROOT / "conf" / "tuning" / "train_enh_tfgridnet_pl_small.yaml"
    args = ["--config", str(config), *data_opts(work), *shapes, *["--fold_length", "80000"] * 3]
    args += ["--ngpu", "0", "--dist_backend", "gloo", "--multiprocessing_distributed", "false"]
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2"]
    proc = run(*torchrun, str(ROOT / "pyscripts" / "enh_train.py"), *args, "--output_dir", str(exp),
               *SHRINK, cwd=ROOT)  # fmt: skip
    log = proc.stderr
    assert ":0/2]" in log, "rank 0 of a world of 2 did not log"  # ESPnet's per-rank log prefix
    assert "1epoch results" in log
    assert yaml.safe_load((exp / "config.yaml").read_text())["distributed"] is True
    state = torch.load(exp / "valid.loss.best.pth", map_location="cpu")
    assert any(k.startswith("separator.heads.") for k in state)
    assert not any(k.startswith("module.") for k in state)  # saved unwrapped, loadable without DDP
