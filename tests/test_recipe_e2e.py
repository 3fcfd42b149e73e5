"""End to end: ./run.sh stages 0-6 on a tiny embedded corpus, DL and PL, then reruns.

The recipe is copied to a temporary folder (its own data/, exp/, dump/), sharing the repository's
.venv and the cached Debian packages under downloads/, so nothing is fetched twice. The models are
the small CPU configs shrunk further, trained for one short epoch: this checks the plumbing and the
outputs, not the quality.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import soundfile as sf

from recipe_copy import make_tiny_recipe, run
from tfgridnet_pl.fileio import read_list

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    recipe = make_tiny_recipe(tmp_path_factory.mktemp("recipe"))
    run(recipe)
    return recipe


def test_enhanced_wavs_have_the_input_lengths(recipe):
    noisy = read_list(recipe / "data" / "test" / "wav.scp")
    for tag in ("dl", "pl", "pl_relative"):  # the default models
        enhanced = read_list(recipe / "exp" / f"enh_{tag}" / "decode_test" / "spk1.scp")
        assert list(enhanced) == list(noisy)
        for key, path in enhanced.items():
            info, ref = sf.info(path), sf.info(noisy[key])
            assert (info.samplerate, info.frames) == (16000, ref.frames)


def test_results_has_finite_scores_for_noisy_dl_and_pl(recipe):
    text = (recipe / "RESULTS.md").read_text()
    for row in ("Noisy", "DL", "PL", "PL-relative"):
        lines = [line for line in text.splitlines() if re.match(rf"\|\s*{row}\s*\|", line)]
        assert lines, f"no {row} row in RESULTS.md"
        numbers = [float(x) for line in lines for x in re.findall(r"-?\d+\.\d+", line)]
        assert numbers and all(math.isfinite(x) for x in numbers)
    assert "PESQ" in text and "DNSMOS" in text and "STOI" in text
    for peer in ("GTCRN (peer)", "DeepFilterNet3 (peer)"):  # the shipped peers, scored on the same set
        assert re.search(rf"^\|{re.escape(peer)}\|[0-9.]+\|–\|\d\.\d+ ± ", text, re.M), peer
    for png in ("spectrograms.png", "training_curves.png"):
        assert (recipe / "egs" / png).stat().st_size > 10_000


def test_stage_7_packs_each_model_for_the_enhance_cli(recipe):
    from tfgridnet_pl.deploy.packed_model import read_pack

    for tag in ("dl", "pl"):
        pack = read_pack(recipe / "exp" / f"enh_{tag}" / "packed" / f"{tag}.tar.gz")  # checks every sha256
        assert pack.info["tag"] == tag and pack.onnx  # with the ONNX core for --backend onnx
        assert not any(k.startswith("separator.heads.") for k in pack.state_dict())  # inference graph only


def test_the_default_models_train_side_by_side_on_cpu(recipe):
    spans = []  # (start, end) of each training: its command file (written at launch), its .done marker
    for tag in ("dl", "pl", "pl_relative"):
        exp = recipe / "exp" / f"enh_{tag}"
        spans.append(((exp / "run.sh").stat().st_mtime, (exp / ".done").stat().st_mtime))
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all three ran at once


def test_rerun_skips_finished_stages(recipe):
    model = recipe / "exp" / "enh_dl" / "valid.loss.best.pth"
    wav = next(iter(read_list(recipe / "exp" / "enh_pl" / "decode_test" / "spk1.scp").values()))
    before = (model.stat().st_mtime_ns, Path(wav).stat().st_mtime_ns)
    log = run(recipe)
    assert "is trained with this config, these options and data" in log
    assert re.search(r"Stage 4: training 3 run\(s\), 3 at a time \(--train-jobs\), \d+ thread", log)
    assert re.search(r"decode_test is up to date", log) and "RESULTS.md and egs/ are up to date" in log
    assert (model.stat().st_mtime_ns, Path(wav).stat().st_mtime_ns) == before


def test_stage_5_to_6_runs_only_those_stages(recipe):
    log = run(recipe, "--stage", "5", "--stop-stage", "6")
    stages = sorted(set(re.findall(r"Stage (\d):", log)))  # not 7 (packing) either
    assert stages == ["5", "6"]


def test_decoding_and_packing_apply_the_model_overrides(recipe):
    """conf/decode_model.yaml (the input mixed back in) reaches ESPnet's decoding, the report and the pack."""
    import yaml

    from tfgridnet_pl.deploy.packed_model import read_pack

    conf = recipe / "conf" / "decode_model.yaml"
    mix_back = yaml.safe_load(conf.read_text())["separator_conf"]["mix_back"]
    decode = recipe / "exp" / "enh_dl" / "decode_test"
    assert "--inference_config conf/decode_model.yaml" in (decode / "logdir" / "inference.1.log").read_text()
    assert (decode / "decode_model.yaml").read_text() == conf.read_text()
    assert f"mix_back: {mix_back}" in (recipe / "RESULTS.md").read_text()
    pack = read_pack(recipe / "exp" / "enh_dl" / "packed" / "dl.tar.gz")
    assert pack.config["separator_conf"]["mix_back"] == mix_back
    # without overrides, decoding is redone (a new key) and leaves no stale copy of them
    wav = next(iter(read_list(decode / "spk1.scp").values()))
    mixed, _ = sf.read(wav)
    log = run(
        recipe,
        "--stage",
        "5",
        "--stop-stage",
        "5",
        "--models",
        "dl",
        "--peers",
        "",
        "--decode-model-config",
        "",
    )
    assert "Decoding" in log
    assert "--inference_config" not in (decode / "logdir" / "inference.1.log").read_text()
    assert not (decode / "decode_model.yaml").exists()
    plain, _ = sf.read(next(iter(read_list(decode / "spk1.scp").values())))
    assert abs(mixed - plain).max() > 1e-4
