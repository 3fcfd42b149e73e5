"""The validation-only PESQ criterion: values, NaN safety, ESPnet integration and best-model selection."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from signals import speechlike
from tfgridnet_pl.model.quality_criterion import QualityCriterion

ROOT = Path(__file__).resolve().parents[1]
FS = 16000


def batch(n: int = 3, noise: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(7)
    ref = np.stack([speechlike(2.0, seed=i) for i in range(n)])
    est = ref + noise * np.arange(1, n + 1)[:, None] * rng.standard_normal(ref.shape)
    return torch.from_numpy(ref).float(), torch.from_numpy(est).float()


def test_per_utterance_pesq_and_flags():
    from pesq import pesq

    crit = QualityCriterion()
    assert crit.name == "pesq" and crit.only_for_test is True
    ref, est = batch()
    out = crit(ref, est)
    assert out.shape == (3,) and out.dtype == torch.float32
    expected = [pesq(FS, ref[i].double().numpy(), est[i].double().numpy(), "wb") for i in range(3)]
    assert out.numpy() == pytest.approx(expected, abs=1e-5)
    assert out[0] > out[2]  # less noise, higher PESQ


def test_unscorable_rows_never_make_nan():
    crit = QualityCriterion()
    ref, est = batch()
    ref[1] = 0.0  # PESQ finds no utterance in a silent reference
    out = crit(ref, est)
    assert torch.isfinite(out).all() and crit.failed == 1
    assert out[1].item() == pytest.approx((out[0].item() + out[2].item()) / 2)
    assert out.mean().item() == pytest.approx((out[0].item() + out[2].item()) / 2)
    out = crit(torch.zeros(2, FS), torch.zeros(2, FS))
    assert out.tolist() == [1.0, 1.0] and crit.failed == 3


def test_options_and_bad_shapes():
    with pytest.raises(ValueError, match="fs 8000 or 16000"):
        QualityCriterion(fs=22050)
    with pytest.raises(ValueError, match="DNSMOS needs fs 16000"):
        QualityCriterion(fs=8000, dnsmos=True)
    with pytest.raises(ValueError, match="batch, samples"):
        QualityCriterion()(torch.zeros(3, 100), torch.zeros(2, 100))
    crit = QualityCriterion(dnsmos=True, name="quality")
    ref, est = batch(n=2)
    out = crit(ref, est)
    ovrl = crit.stats["quality_dnsmos_ovrl"]
    assert out.shape == ovrl.shape == (2,) and ((ovrl >= 1) & (ovrl <= 5)).all()


def tiny_model(monkeypatch):
    """An ESPnet enhancement model (tiny TF-GridNetV2) with si_snr (weight 1) and pesq (weight 0)."""
    import espnet2.tasks.enh as enh_task

    monkeypatch.setitem(enh_task.criterion_choices.classes, "pesq", QualityCriterion)
    parser = enh_task.EnhancementTask.get_parser()
    args = parser.parse_args([])
    args.separator = "tfgridnetv2"
    args.separator_conf = {
        "n_srcs": 1,
        "n_fft": 64,
        "stride": 32,
        "n_layers": 1,
        "lstm_hidden_units": 8,
        "attn_n_head": 1,
        "attn_approx_qk_dim": 16,
        "emb_dim": 8,
        "emb_ks": 2,
    }
    args.encoder = args.decoder = "same"
    args.criterions = [
        {"name": "si_snr", "conf": {}, "wrapper": "fixed_order", "wrapper_conf": {"weight": 1.0}},
        {"name": "pesq", "conf": {"fs": FS}, "wrapper": "fixed_order", "wrapper_conf": {"weight": 0.0}},
    ]
    torch.manual_seed(0)
    return enh_task.EnhancementTask.build_model(args)


def test_espnet_reports_it_in_validation_only_and_it_never_changes_the_loss(monkeypatch):
    model = tiny_model(monkeypatch)
    ref, est = batch(n=2, noise=0.02)
    mix, lengths = est, torch.full((2,), ref.shape[1])
    model.train()
    _, train_stats, _ = model(mix, lengths, speech_ref1=ref)
    assert "pesq" not in train_stats and "si_snr_loss" in train_stats
    model.eval()
    with torch.no_grad():
        loss, stats, _ = model(mix, lengths, speech_ref1=ref)
    assert "pesq" in stats and 1.0 <= stats["pesq"].item() <= 4.7
    assert loss.item() == pytest.approx(stats["si_snr_loss"].item(), abs=1e-6)


TRAIN = """
import sys
import espnet2.tasks.enh as enh_task
from tfgridnet_pl.model.quality_criterion import QualityCriterion
enh_task.criterion_choices.classes["pesq"] = QualityCriterion
from espnet2.bin.enh_train import main
main(sys.argv[1:])
"""

CONFIG = """
separator: tfgridnetv2
separator_conf: {n_srcs: 1, n_fft: 64, stride: 32, n_layers: 1, lstm_hidden_units: 8, attn_n_head: 1,
                 attn_approx_qk_dim: 16, emb_dim: 8, emb_ks: 2, emb_hs: 1}
encoder: same
decoder: same
criterions:
  - {name: si_snr, conf: {}, wrapper: fixed_order, wrapper_conf: {weight: 1.0}}
  - {name: pesq, conf: {fs: 16000}, wrapper: fixed_order, wrapper_conf: {weight: 0.0}}
optim: adam
optim_conf: {lr: 0.01}
max_epoch: 2
batch_type: folded
batch_size: 2
num_workers: 0
best_model_criterion: [[valid, pesq, max], [valid, loss, min]]
keep_nbest_models: 1
use_tensorboard: false
use_matplotlib: false
"""


def tiny_data(root: Path) -> list[str]:
    """Train/valid data dirs and shape files (as collect_stats writes them); returns the trainer args."""
    argv = []
    for split, n, seed in (("train", 6, 0), ("valid", 3, 100)):
        d = root / split
        d.mkdir(parents=True)
        lists = {"speech_mix": [], "speech_ref1": [], "noise_ref1": []}
        for i in range(n):
            clean = speechlike(2.0, seed + i)
            noise = 0.01 * np.random.default_rng(seed + i).standard_normal(len(clean))
            for name, x in (("speech_mix", clean + noise), ("speech_ref1", clean), ("noise_ref1", noise)):
                sf.write(d / f"{split}{i}_{name}.wav", x, FS, subtype="PCM_16")
                lists[name].append(f"{split}{i} {d / f'{split}{i}_{name}.wav'}\n")
        for name, lines in lists.items():
            (d / f"{name}.scp").write_text("".join(lines))
            (d / f"{name}_shape").write_text("".join(f"{ln.split()[0]} {2 * FS}\n" for ln in lines))
            argv += [
                f"--{split}_data_path_and_name_and_type",
                f"{d / name}.scp,{name},sound",
                f"--{split}_shape_file",
                str(d / f"{name}_shape"),
            ]
    return argv + ["--fold_length", "80000"] * 3


@pytest.mark.slow
def test_tiny_training_reports_valid_pesq_and_selects_the_best_model_by_it(tmp_path):
    (tmp_path / "conf.yaml").write_text(CONFIG)
    exp = tmp_path / "exp"
    argv = ["--config", str(tmp_path / "conf.yaml"), "--output_dir", str(exp), *tiny_data(tmp_path / "data")]
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'pyscripts'}:{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }  # a tiny model: more threads only spin on a busy machine
    res = subprocess.run([sys.executable, "-c", TRAIN, *argv], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    results = re.findall(r"(\d+)epoch results: \[train\] (.*?), \[valid\] (.*)", res.stderr)
    assert len(results) == 2
    pesq = {}
    for epoch, train, valid in results:
        assert "pesq=" not in train, "PESQ must not be computed while training"
        pesq[int(epoch)] = float(re.search(r"\bpesq=([0-9.]+)", valid).group(1))
    best = os.readlink(exp / "valid.pesq.best.pth")
    assert pesq[int(best.removesuffix("epoch.pth"))] == max(pesq.values()), (best, pesq)
    assert 1.0 < max(pesq.values()) < 4.7
