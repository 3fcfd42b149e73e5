"""pyscripts/sweep_mix_back.py: scores of (1 - beta) * estimate + beta * noisy, from one decoding."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import sweep_mix_back
from signals import speechlike
from tfgridnet_pl.scoring import metrics as M

FS = 16000


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """data/dev (clean, noisy) and exp/enh_x/decode_dev (an estimate: clean plus weaker noise)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    data, decode = tmp_path / "data" / "dev", tmp_path / "exp" / "enh_x" / "decode_dev"
    for folder in (data, decode):
        folder.mkdir(parents=True)
    lists = {"wav.scp": [], "spk1.scp": [], "est": []}
    sigs = {}
    for k in range(2):
        clean = 0.1 * speechlike(3.0, seed=k)
        noisy = clean + 0.05 * rng.standard_normal(clean.size)
        est = clean + 0.2 * (noisy - clean) + 0.005 * rng.standard_normal(clean.size)
        for name, sig, folder in (("clean", clean, data), ("noisy", noisy, data), ("est", est, decode)):
            path = folder / f"u{k}_{name}.wav"
            sf.write(path, sig, FS, subtype="FLOAT")
            lists[{"clean": "spk1.scp", "noisy": "wav.scp", "est": "est"}[name]].append(f"u{k} {path}\n")
        sigs[f"u{k}"] = (clean, noisy, est)
    (data / "wav.scp").write_text("".join(lists["wav.scp"]))
    (data / "spk1.scp").write_text("".join(lists["spk1.scp"]))
    (decode / "spk1.scp").write_text("".join(lists["est"]))
    return tmp_path, sigs


def test_each_beta_scores_the_mix_and_the_best_is_named(tree, capsys):
    root, sigs = tree
    assert (
        sweep_mix_back.main(["--data", "data/dev", "--models", "x", "--betas", "0,0.5,1", "--jobs", "1"]) == 0
    )
    out = capsys.readouterr().out
    rows = {
        line.split("|")[1].strip(): line
        for line in out.splitlines()
        if line.startswith("| ") and "mix_back" not in line
    }
    assert sorted(rows) == ["0", "0.5", "1"]

    def mean_si_snr(beta):
        return np.mean([M.si_snr(c, (1 - beta) * e + beta * n) for c, n, e in sigs.values()])

    for beta in (0.0, 0.5, 1.0):  # the SI-SNR column of model x, and the models' mean (the same here)
        cells = [c.strip() for c in rows[f"{beta:g}"].split("|")[1:-1]]
        assert float(cells[3]) == pytest.approx(mean_si_snr(beta), abs=1e-3)
        assert cells[3] == cells[6]
    best = max((0.0, 0.5, 1.0), key=mean_si_snr)
    assert f"highest mean SI-SNR over x on data/dev: mix_back {best:g}" in out


def test_refuses_decodings_that_mixed_already_and_bad_betas(tree, capsys):
    root, _ = tree
    (root / "exp/enh_x/decode_dev/decode_model.yaml").write_text("separator_conf:\n  mix_back: 0.2\n")
    with pytest.raises(SystemExit, match="decoded with mix_back 0.2"):
        sweep_mix_back.main(["--data", "data/dev", "--models", "x"])
    with pytest.raises(SystemExit, match="decode_dev/spk1.scp is missing"):
        sweep_mix_back.main(["--data", "data/dev", "--models", "y"])
    for bad in ("0,2", "a", ""):
        with pytest.raises(SystemExit):
            sweep_mix_back.main(["--data", "data/dev", "--models", "x", "--betas", bad])
        assert "--betas" in capsys.readouterr().err
