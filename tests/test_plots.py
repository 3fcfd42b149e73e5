"""Figures: spectrograms on one colour scale (and the wav copies), training curves from ESPnet logs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import plot_spectrograms as PS
import plot_training_curves as PT

FS = 16000
# Lines as ESPnet 202511's trainer writes them (taken from a tiny enh_train run with the pesq criterion).
LOG = """\
[vm] 2026-11-25 06:54:01,391 (abs_task:1886) INFO: [train] mini-batch sizes summary: N-batch=3, mean=2.0
[vm] 2026-11-25 06:54:09,695 (trainer:394) INFO: 1epoch results: [train] iter_time=0.015, \
forward_time=1.467, si_snr_loss=12.533, loss=12.533, backward_time=0.778, grad_norm=111.414, \
clip=100.000, loss_scale=1.000, optim_step_time=0.007, optim0_lr0=0.010, train_time=2.274, \
time=6.83 seconds, total_count=3, [valid] si_snr_loss=1.914, pesq=1.025, loss=1.914, \
time=1.46 seconds, total_count=2
[vm] 2026-11-25 06:54:09,721 (trainer:462) INFO: The best model has been updated: valid.pesq, valid.loss
[vm] 2026-11-25 06:54:17,895 (trainer:394) INFO: 2epoch results: [train] iter_time=0.012, \
forward_time=1.792, si_snr_loss=0.132, loss=0.132, backward_time=0.655, grad_norm=13.098, \
clip=100.000, loss_scale=1.000, optim_step_time=0.005, optim0_lr0=0.010, train_time=2.468, \
time=7.41 seconds, total_count=6, [valid] si_snr_loss=-2.766, pesq=1.124, loss=-2.766, \
time=0.76 seconds, total_count=4
"""


@pytest.fixture
def saved_figures(monkeypatch) -> list:
    """The matplotlib figures the code under test saves (the real savefig still runs)."""
    from matplotlib.figure import Figure

    figures, savefig = [], Figure.savefig

    def recording_savefig(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    return figures


def panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_parse_results_line():
    epoch, sections = PT.parse_results(LOG.splitlines()[1])
    assert epoch == 1 and set(sections) == {"train", "valid"}
    assert sections["train"]["loss"] == 12.533 and sections["train"]["optim0_lr0"] == 0.01
    assert sections["valid"] == {"si_snr_loss": 1.914, "pesq": 1.025, "loss": 1.914, "total_count": 2.0}
    assert PT.parse_results(LOG.splitlines()[0]) is None


def test_read_curves_merges_resumed_logs(tmp_path):
    (tmp_path / "train.1.log").write_text(LOG.replace("pesq=1.124", "pesq=0.5"))  # interrupted run
    epoch2 = LOG.splitlines()[3]
    (tmp_path / "train.log").write_text(epoch2 + "\n" + epoch2.replace("2epoch", "3epoch") + "\n")
    curves = PT.read_curves(tmp_path)
    assert list(curves) == [1, 2, 3]
    assert curves[2]["valid"]["pesq"] == 1.124  # the later log wins
    with pytest.raises(SystemExit, match="no train.log"):
        PT.read_curves(tmp_path / "nothing")


def test_training_curves_png(tmp_path, caplog, saved_figures):
    for tag in ("dl", "pl"):
        (tmp_path / tag).mkdir()
        (tmp_path / tag / "train.log").write_text(LOG)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "train.log").write_text("nothing yet\n")
    out = tmp_path / "curves.png"
    with caplog.at_level(logging.INFO):
        PT.main(
            [
                "--exp",
                f"DL={tmp_path / 'dl'}",
                "--exp",
                f"PL={tmp_path / 'pl'}",
                "--exp",
                f"X={tmp_path / 'empty'}",
                "--keys",
                "pesq,sdr",
                "--out",
                str(out),
            ]
        )
    assert "key sdr is in no experiment" in caplog.text and "no 'Nepoch results' lines" in caplog.text
    Image.open(out).verify()  # a whole PNG
    (fig,) = saved_figures
    axes = panels(fig)
    assert [ax.get_ylabel() for ax in axes] == ["loss", "pesq", "sdr"]  # one panel per key, loss first
    assert [len(ax.get_lines()) for ax in axes] == [4, 2, 0]  # DL and PL: train+valid loss, valid pesq
    assert "no data" in [t.get_text() for t in axes[2].texts]


def write(path, seconds, fs, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t)), fs)


def test_spectrograms_png_and_copies(tmp_path, saved_figures):
    write(tmp_path / "clean.wav", 2.0, FS, 0)
    write(tmp_path / "noisy.wav", 2.0, 8000, 1)  # resampled to 16 kHz for the figure and the copy
    write(tmp_path / "pl.wav", 2.0, FS, 2)
    out = tmp_path / "egs"
    PS.main(
        [
            "--wav",
            f"clean={tmp_path / 'clean.wav'}",
            "--wav",
            f"noisy={tmp_path / 'noisy.wav'}",
            "--wav",
            f"PL={tmp_path / 'pl.wav'}",
            "--title",
            "t",
            "--out-dir",
            str(out),
            "--name",
            "spec",
        ]
    )
    assert Image.open(out / "spec.png").mode == "P"  # saved as a 256-colour PNG
    (fig,) = saved_figures
    assert [ax.get_title(loc="left") for ax in panels(fig)] == ["clean", "noisy", "PL"]  # top to bottom
    assert fig.get_suptitle() == "t"
    for label in ("clean", "noisy", "pl"):
        info = sf.info(out / f"spec_{label}.wav")
        assert info.samplerate == FS and info.subtype == "PCM_16" and info.frames == 2 * FS


def test_spectrograms_share_one_colour_scale():
    rng = np.random.default_rng(0)
    items = [("loud", 0.5 * rng.standard_normal(FS)), ("quiet", 0.001 * rng.standard_normal(FS))]
    fig = PS.figure(items, FS, "", dynamic_range=70.0)
    axes = panels(fig)
    meshes = [c for ax in axes for c in ax.collections]
    assert len(axes) == len(meshes) == 2
    limits = {(m.norm.vmin, m.norm.vmax) for m in meshes}
    assert len(limits) == 1
    vmin, vmax = limits.pop()
    assert vmax - vmin == pytest.approx(70.0)
    assert sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>") == 1
    assert axes[-1].get_xlabel() == "time (s)" and axes[0].get_ylabel() == "frequency (kHz)"


def test_spectrogram_bad_input(tmp_path):
    with pytest.raises(SystemExit, match="missing.wav"):
        PS.main(["--wav", f"a={tmp_path / 'missing.wav'}", "--out-dir", str(tmp_path)])
    write(tmp_path / "a.wav", 0.5, FS, 0)
    with pytest.raises(SystemExit, match="labels must differ"):
        PS.main(
            [
                "--wav",
                f"DL={tmp_path / 'a.wav'}",
                "--wav",
                f"dl={tmp_path / 'a.wav'}",
                "--out-dir",
                str(tmp_path),
            ]
        )
    with pytest.raises(SystemExit):
        PS.main(["--wav", "no-equals-sign", "--out-dir", str(tmp_path)])
