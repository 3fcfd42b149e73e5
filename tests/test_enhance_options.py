"""pyscripts/enhance.py checks every option's type, range and combination before anything is read.

``enhance.main`` runs with a dummy ``--model`` file: a usage error must stop the run before the model
(or any input) is read, with exit status 2 and a message naming the option.
"""

from __future__ import annotations

import os

import pytest

from test_enhance_hostile import cli, wav


@pytest.fixture
def dummy_model(tmp_path) -> str:
    """A regular file as --model: usage errors must stop before it is read."""
    path = tmp_path / "dummy.tar.gz"
    path.write_bytes(b"not read")
    return str(path)


# -- class 6: every option checked up front ------------------------------------------------------------------
OPTION_CASES = {
    "negative chunk": (["--chunk-seconds", "-1"], "--chunk-seconds and --overlap-seconds must be >= 0"),
    "tiny chunk": (
        ["--chunk-seconds", "0.01"],
        "--chunk-seconds 0.01 must be 0 (whole files) or 0.1 to 86400",
    ),
    "huge chunk": (
        ["--chunk-seconds", "1e308"],
        "--chunk-seconds 1e+308 must be 0 (whole files) or 0.1 to 86400",
    ),
    "overlap = chunk": (
        ["--chunk-seconds", "1", "--overlap-seconds", "1"],
        "must be below --chunk-seconds 1",
    ),
    "overlap > chunk": (
        ["--chunk-seconds", "1", "--overlap-seconds", "5"],
        "must be below --chunk-seconds 1",
    ),
    "hop of a sample": (
        ["--chunk-seconds", "10", "--overlap-seconds", "9.9999"],
        "must leave at least 0.05 s",
    ),
    "negative overlap": (["--overlap-seconds", "-0.5"], "must be >= 0"),
    "no unchunked length": (["--max-unchunked-seconds", "0"], "--max-unchunked-seconds 0 must be > 0"),
    "zero threads": (["--threads", "0"], "--threads 0 must be 1 to 1024"),
    "negative threads": (["--threads", "-3"], "--threads -3 must be 1 to 1024"),
    "absurd threads": (["--threads", "100000"], "--threads 100000 must be 1 to 1024"),
    "onnx bf16": (
        ["--backend", "onnx", "--precision", "bf16"],
        "--precision bf16 exists for --backend torch only",
    ),
    "onnx file for torch": (["--onnx-file", "x.onnx"], "--onnx-file is only used with --backend onnx"),
    "missing onnx file": (
        ["--backend", "onnx", "--onnx-file", "/nonexistent.onnx"],
        "--onnx-file: /nonexistent.onnx",
    ),
    "member cap 0": (["--max-member-mib", "0"], "--max-member-mib 0 must be >= 1"),
    "member cap over total": (["--max-member-mib", "4096"], "at most --max-archive-mib 1024"),
}


@pytest.mark.parametrize("case", OPTION_CASES, ids=list(OPTION_CASES))
def test_each_option_is_checked_up_front_naming_it(tmp_path, caplog, dummy_model, case):
    args, message = OPTION_CASES[case]
    wav(tmp_path / "in" / "a.wav")
    code, log = cli(
        caplog, "--model", dummy_model, str(tmp_path / "in"), "--out-dir", str(tmp_path / "o"), *args
    )
    assert code == 2 and message in log, log
    assert not (tmp_path / "o").exists()


def test_paths_given_as_options_are_checked_up_front(tmp_path, caplog, dummy_model):
    wav(tmp_path / "in" / "a.wav")
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo.tar.gz")
    inputs = [str(tmp_path / "in")]
    cases = [
        (
            ["--model", dummy_model, *inputs, "--out-dir", str(tmp_path / "file")],
            "--out-dir",
            "is a file, not a folder",
        ),
        (
            ["--model", dummy_model, *inputs, "--out-dir", str(tmp_path / "file" / "o")],
            "--out-dir",
            "which is a file",
        ),
        (["--model", dummy_model, *inputs, "--out-dir", ""], "--out-dir", "is empty"),
        (["--model", str(tmp_path / "nope.tar.gz"), *inputs, "--out-dir", "o"], "--model", "No such file"),
        (["--model", str(tmp_path), *inputs, "--out-dir", "o"], "--model", "a folder, not the model archive"),
        (
            ["--model", str(tmp_path / "fifo.tar.gz"), *inputs, "--out-dir", "o"],
            "--model",
            "not a regular file",
        ),
        (["--model", dummy_model, "--out-dir", "o"], "INPUT", "is required"),
        (["--unpack", dummy_model, "d", *inputs], "--unpack", "takes no INPUT"),
    ]
    for args, option, message in cases:
        code, log = cli(caplog, *args)
        assert code == 2 and option in log and message in log, (args, log)


@pytest.mark.parametrize(
    "args,option",
    [
        (["--chunk-seconds", "nan"], "--chunk-seconds"),
        (["--overlap-seconds", "inf"], "--overlap-seconds"),
        (["--max-unchunked-seconds", "-inf"], "--max-unchunked-seconds"),
        (["--threads", "two"], "--threads"),
        (["--backend", "tensorrt"], "--backend"),
        (["--precision", "fp16"], "--precision"),
    ],
)
def test_values_of_the_wrong_type_are_refused_by_the_parser_naming_the_option(tmp_path, capsys, args, option):
    import enhance

    with pytest.raises(SystemExit) as exit_:
        enhance.main(["--model", "m", "in", "--out-dir", "o", *args])
    assert exit_.value.code == 2 and f"argument {option}" in capsys.readouterr().err
