"""pyscripts/train_progress.py: one console line per epoch from ESPnet's train.log."""

from __future__ import annotations

import subprocess
import time

from train_progress import follow

LINE = (
    "[vm] 2026-11-27 17:38:37,933 (trainer:394) INFO: {e}epoch results: [train] iter_time=0.037, "
    "hybrid_si_snr_db=-1.840, hybrid=8.446, loss={loss}, backward_time=5.095, time=4 minutes and 18.2 s, "
    "total_count=28, [valid] hybrid_mag=0.044, hybrid_si_snr_db={sisnr}, hybrid=8.705, pesq={pesq}, "
    "loss=8.705, time=1 minute and 20.26 seconds, total_count=20\n"
)


def finished_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_one_line_per_epoch_with_validation_and_time_left(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("max_epoch: 4\n")
    log = tmp_path / "train.log"
    log.write_text(
        "# python3 pyscripts/enh_train.py ...\n"
        "INFO: The training was resumed using exp/enh_pl/checkpoint.pth\n"
        + LINE.format(e=2, loss=8.446, sisnr=2.084, pesq=1.589)
        + LINE.format(e=3, loss=7.9, sisnr=3.5, pesq=1.7)
    )
    follow(log, finished_pid(), since=time.time() - 120, tag="pl", poll=0.01)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pl: resumed from exp/enh_pl/checkpoint.pth"
    assert lines[1].startswith(
        "pl: epoch 2/4, train loss 8.446, valid SI-SNR 2.08 dB, PESQ 1.589, elapsed 2m0"
    )
    assert "left ~" in lines[1] and "epoch 3/4" in lines[2] and "valid SI-SNR 3.50 dB" in lines[2]


def test_a_log_older_than_the_run_is_not_read(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text(LINE.format(e=1, loss=1, sisnr=1, pesq=1))
    follow(log, finished_pid(), since=time.time() + 60, tag="dl", poll=0.01)
    assert capsys.readouterr().out == ""
