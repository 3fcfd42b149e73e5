"""pyscripts/enhance.py against a careless or hostile user's inputs, names and options.

Outputs never land on an input; every input found is enhanced or named and counted; FIFOs, devices and
sockets are never opened; NaN/Inf, empty, non-audio, unreadable, absurd-rate and absurd-channel files are
named and the run goes on; odd names (not UTF-8, newlines) are read and written with their own bytes;
every option is checked up front. The checks that need no model run ``enhance.main`` with a dummy
``--model`` file: usage errors stop before the model is read.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from signals import harmonic_tone
from test_pack_enhance import FS, run_py, tiny_pack
from tfgridnet_pl.deploy.inputs import plan_jobs


def wav(path: Path, seconds: float = 0.5, fs: int = FS, channels: int = 1, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = harmonic_tone(int(seconds * fs), np.random.default_rng(len(str(path))), fs)
    sf.write(path, np.tile(x[:, None], (1, channels)).astype(np.float32), fs, subtype=subtype)
    return path


def cli(caplog: pytest.LogCaptureFixture, *args: str) -> tuple[int, str]:
    import enhance

    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = enhance.main([*args, "--quiet"])
    return code, caplog.text


@pytest.fixture
def dummy_model(tmp_path) -> str:
    """A regular file as --model: usage errors must stop before it is read."""
    path = tmp_path / "dummy.tar.gz"
    path.write_bytes(b"not read")
    return str(path)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    return tiny_pack(tmp_path_factory, onnx=False)


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- class 3: outputs never land on an input -----------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["keep", "overwrite"])
def test_an_output_on_another_input_is_refused_with_or_without_overwrite(
    tmp_path, caplog, dummy_model, overwrite
):
    """enhance.py Y/ Z/sub/c.wav --out-dir Z: Y/sub/c.wav's output is the input Z/sub/c.wav."""
    wav(tmp_path / "Y" / "sub" / "c.wav")
    victim = wav(tmp_path / "Z" / "sub" / "c.wav", seconds=0.3)
    before = victim.read_bytes()
    args = [str(tmp_path / "Y"), str(victim), "--out-dir", str(tmp_path / "Z"), *overwrite]
    code, log = cli(caplog, "--model", dummy_model, *args)
    assert code == 2 and "would overwrite the input" in log and str(victim) in log
    assert victim.read_bytes() == before and tree(tmp_path / "Z") == ["sub/c.wav"]


def test_an_output_reaching_an_input_through_a_link_is_refused(tmp_path, caplog, dummy_model):
    src = wav(tmp_path / "in" / "c.wav")
    (tmp_path / "sym").mkdir()
    (tmp_path / "sym" / "c.wav").symlink_to(src)  # the output name is a link to the input
    (tmp_path / "hard").mkdir()
    os.link(src, tmp_path / "hard" / "c.wav")  # the same inode
    (tmp_path / "linkdir").mkdir()
    (tmp_path / "linkdir" / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    wav(tmp_path / "in2" / "sub" / "d.wav")
    cases = [
        ([str(src), "--out-dir", str(tmp_path / "sym"), "--overwrite"], "would overwrite the input"),
        ([str(src), "--out-dir", str(tmp_path / "hard"), "--overwrite"], "would overwrite the input"),
        ([str(tmp_path / "in2"), "--out-dir", str(tmp_path / "linkdir")], "outside --out-dir"),
    ]
    for args, message in cases:
        code, log = cli(caplog, "--model", dummy_model, *args)
        assert code == 2 and message in log, (args, log)
    assert sf.info(src).frames == FS // 2


def test_two_inputs_with_one_output_are_both_named(tmp_path, caplog, dummy_model):
    a, b = wav(tmp_path / "A" / "x.wav"), wav(tmp_path / "B" / "x.wav")
    for inputs in ([a, b], [tmp_path / "A", tmp_path / "B"]):
        code, log = cli(caplog, "--model", dummy_model, *map(str, inputs), "--out-dir", str(tmp_path / "o"))
        assert code == 2 and f"{a} and {b} would both be written to {tmp_path / 'o' / 'x.wav'}" in log
    assert not (tmp_path / "o").exists()


def test_out_dir_inside_an_input_reached_through_a_link_is_refused(tmp_path, caplog, dummy_model):
    wav(tmp_path / "in" / "a.wav")
    (tmp_path / "in" / "link").symlink_to(tmp_path / "target", target_is_directory=True)
    (tmp_path / "target").mkdir()
    code, log = cli(
        caplog, "--model", dummy_model, str(tmp_path / "in"), "--out-dir", str(tmp_path / "target" / "o")
    )
    assert code == 2 and "is inside" in log and "through a symbolic link" in log


def test_non_regular_inputs_are_refused_up_front_never_opened(tmp_path, caplog, dummy_model):
    """A FIFO given as INPUT (a subprocess with a timeout: opening it would hang), a socket, a device."""
    os.mkfifo(tmp_path / "fifo.wav")
    wav(tmp_path / "in" / "a.wav")
    r = run_py(
        "enhance.py",
        "--model",
        dummy_model,
        str(tmp_path / "fifo.wav"),
        "--out-dir",
        str(tmp_path / "o"),
        timeout=60,
    )
    assert r.returncode == 2 and "fifo.wav: a FIFO, not a regular file; not opened" in r.stderr
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.wav"))
        for path, what in ((tmp_path / "sock.wav", "a socket"), (Path("/dev/null"), "a character device")):
            code, log = cli(
                caplog,
                "--model",
                dummy_model,
                str(path),
                str(tmp_path / "in"),
                "--out-dir",
                str(tmp_path / "o"),
            )
            assert code == 2 and f"{path}: {what}, not a regular file; not opened" in log
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_every_entry_of_an_input_folder_is_enhanced_or_named_and_counted(packed, tmp_path):
    """Through the real command line (a FIFO in the folder must not hang it): symbolic links to folders
    are followed, a folder reached twice is counted, FIFOs, sockets, broken links and loops are named."""
    src = tmp_path / "in"
    wav(src / "a.wav")
    wav(src / "sub" / "b.flac", subtype="PCM_16")
    wav(tmp_path / "real" / "c.wav")
    (src / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (src / "sub" / "up").symlink_to("..", target_is_directory=True)  # a folder loop
    os.mkfifo(src / "fifo.wav")
    (src / "dangling.wav").symlink_to("nowhere.wav")
    (src / "self.wav").symlink_to("self.wav")
    (src / "notes.txt").write_text("not audio")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock.wav"))
        r = run_py(
            "enhance.py",
            "--model",
            str(packed),
            "--threads",
            "1",
            "--quiet",
            str(src),
            "--out-dir",
            str(tmp_path / "o"),
        )
    assert r.returncode == 1, r.stderr[-3000:]
    assert tree(tmp_path / "o") == ["a.wav", "linked/c.wav", "sub/b.flac"]
    assert "enhanced 3 of 8 files" in r.stderr and "skipped 5" in r.stderr and "0 failed" in r.stderr
    for name, reason in [
        ("fifo.wav", "a FIFO, not a regular file; not opened"),
        ("sock.wav", "a socket, not a regular file; not opened"),
        ("dangling.wav", "a broken symbolic link (to nowhere.wav)"),
        ("self.wav", "a symbolic link loop"),
        ("sub/up", "folder reached a second time"),
    ]:
        assert f"{src / name}: skipped: {reason}" in r.stderr, name
    assert "ignored 1 files" in r.stderr


def unreadable(path: Path, monkeypatch) -> None:
    """``path`` cannot be opened: chmod 0, or, as root (who reads anything), os.open refuses it."""
    os.chmod(path, 0)
    if os.geteuid() == 0:
        real_open = os.open

        def refusing_open(name, flags, *args, **kwargs):
            if os.fspath(name) == str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(name, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)


def bad_audio_folder(src: Path, monkeypatch) -> dict[str, str]:
    """A folder of one good file and one of each kind of bad audio; name -> expected message."""
    wav(src / "good.wav")
    x = harmonic_tone(FS // 2, np.random.default_rng(0)).astype(np.float32)
    nan = x.copy()
    nan[1000] = np.nan
    sf.write(src / "nan.wav", nan, FS, subtype="FLOAT")
    inf = np.stack([x, x], axis=1).astype(np.float64)
    inf[3000:3010, 1] = -np.inf
    sf.write(src / "inf.wav", inf, FS, subtype="DOUBLE")
    sf.write(src / "empty.wav", np.zeros(0, np.float32), FS)
    (src / "text.wav").write_text("this is not audio\n")
    (src / "cut.wav").write_bytes(wav(src / "tmp.wav").read_bytes()[:30])
    (src / "tmp.wav").unlink()
    rate = bytearray(wav(src / "rate.wav").read_bytes())
    rate[24:28] = struct.pack("<I", 0x7FFFFFFF)  # sampling rate field of the fmt chunk
    (src / "rate.wav").write_bytes(bytes(rate))
    sf.write(src / "channels.wav", np.zeros((100, 100), np.float32), FS)
    unreadable(wav(src / "locked.wav"), monkeypatch)
    return {
        "nan.wav": "1 non-finite samples (NaN or Inf), the first at 0.062 s (frame 1000, channel 0)",
        "inf.wav": "10 non-finite samples (NaN or Inf), the first at 0.188 s (frame 3000, channel 1)",
        "empty.wav": "zero-length audio (no samples)",
        "text.wav": "cannot read audio",
        "cut.wav": "cannot read audio",
        "rate.wav": "sampling rate 2147483647 Hz is outside 1000-768000 Hz",
        "channels.wav": "100 channels: enhance takes 1 to 64",
        "locked.wav": "cannot open it: Permission denied",
    }


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_bad_audio_is_named_and_counted_and_the_run_goes_on(packed, tmp_path, caplog, monkeypatch):
    src = tmp_path / "in"
    expected = bad_audio_folder(src, monkeypatch)
    code, log = cli(
        caplog, "--model", str(packed), "--threads", "1", str(src), "--out-dir", str(tmp_path / "o")
    )
    assert code == 1
    for name, message in expected.items():
        assert f"{src / name}: {message}" in log, (name, log)
    assert f"enhanced 1 of {len(expected) + 1} files" in log and f"{len(expected)} failed" in log
    assert os.listdir(tmp_path / "o") == ["good.wav"]  # nothing else, no temporary left


# -- class 4: names the code did not expect ----------------------------------------------------------------
ODD_NAMES = [
    b"caf\xe9 latin-1.wav",  # not UTF-8
    b"new\nline.wav",
    b"carriage\rreturn.flac",
    b"tab\tand space.wav",
    b"-starts-with-dash.wav",
    "üñí 声音.ogg".encode(),
    b"x" * 240 + b".wav",  # near NAME_MAX: a temporary name derived from it would not fit
]


@pytest.mark.slow  # the tiny trained model: ESPnet training + pack, ~1 min once per session
def test_odd_names_are_enhanced_with_their_own_bytes_and_logged_safely(packed, tmp_path, caplog):
    src, out = tmp_path / "in", tmp_path / "o"
    for name in ODD_NAMES:
        subtype = "VORBIS" if name.endswith(b".ogg") else "PCM_16"
        data = wav(tmp_path / "tmp.wav" if subtype == "PCM_16" else tmp_path / "tmp.ogg", subtype=subtype)
        src.mkdir(exist_ok=True)
        os.rename(data, os.fsencode(src) + b"/" + name)
    bad = os.fsencode(src) + b"/bad\n\xff.wav"
    Path(os.fsdecode(bad)).write_bytes(b"junk")
    code, log = cli(caplog, "--model", str(packed), "--threads", "1", str(src), "--out-dir", str(out))
    assert code == 1 and f"enhanced {len(ODD_NAMES)} of {len(ODD_NAMES) + 1} files" in log
    assert sorted(os.listdir(os.fsencode(out))) == sorted(ODD_NAMES)  # the same bytes
    for name in ODD_NAMES:
        assert sf.info(os.fsencode(out) + b"/" + name).frames > 0  # bytes: soundfile cannot encode them
    assert all("\n" not in r.getMessage() and "\r" not in r.getMessage() for r in caplog.records)
    assert f"{ascii(os.fsdecode(bad))}: cannot read audio" in log


def test_symlink_loops_and_aliases_are_counted_never_walked_forever(tmp_path):
    src = tmp_path / "in"
    wav(src / "a.wav")
    wav(src / "sub" / "deeper" / "b.wav")
    wav(tmp_path / "external" / "e.wav")
    (src / "self").symlink_to("self")
    (src / "x").symlink_to("y")
    (src / "y").symlink_to("x")
    (src / "sub" / "up").symlink_to("..", target_is_directory=True)
    (src / "sub" / "deeper" / "up2").symlink_to("../..", target_is_directory=True)
    (src / "alias").symlink_to("sub", target_is_directory=True)  # a second name for a real folder
    (src / "ext").symlink_to(tmp_path / "external", target_is_directory=True)
    plan = plan_jobs([str(src)], str(tmp_path / "o"))
    assert sorted(job.dst.relative_to(tmp_path / "o").as_posix() for job in plan.jobs) == [
        "a.wav",
        "ext/e.wav",
        "sub/deeper/b.wav",
    ]
    skipped = dict(plan.skipped)
    assert (
        skipped[str(src / "self")]
        == skipped[str(src / "x")]
        == skipped[str(src / "y")]
        == "a symbolic link loop"
    )
    for name in ("sub/up", "sub/deeper/up2", "alias"):
        assert skipped[str(src / name)].startswith("folder reached a second time"), name
    assert len(skipped) == 6


def test_output_names_stay_inside_the_out_dir(tmp_path):
    """Names come from the file system (no '/' in a name) or a file INPUT's last component."""
    wav(tmp_path / "in" / "a.wav")
    plan = plan_jobs([str(tmp_path / "in" / ".." / "in" / "a.wav")], str(tmp_path / "o"))
    assert [job.dst for job in plan.jobs] == [tmp_path / "o" / "a.wav"]


def test_an_output_path_that_is_a_folder_is_skipped_and_named(tmp_path):
    wav(tmp_path / "in" / "a.wav")
    wav(tmp_path / "in" / "b.wav")
    (tmp_path / "o" / "a.wav").mkdir(parents=True)
    plan = plan_jobs([str(tmp_path / "in")], str(tmp_path / "o"))
    assert [job.dst.name for job in plan.jobs] == ["b.wav"]
    assert plan.skipped == [
        (str(tmp_path / "in" / "a.wav"), f"its output {tmp_path / 'o' / 'a.wav'} exists and is a folder")
    ]
