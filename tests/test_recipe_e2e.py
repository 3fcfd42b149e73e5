"""End to end: ./run.sh stages 0-6 on a tiny embedded corpus, DL and PL, then reruns.

The recipe is copied to a temporary folder (its own data/, exp/, dump/), sharing the repository's
.venv and the cached Debian packages under downloads/, so nothing is fetched twice. The models are
the small CPU configs shrunk further, trained for one short epoch: this checks the plumbing and the
outputs, not the quality.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from tfgpl.fileio import read_list

ROOT = Path(__file__).resolve().parents[1]
CORPUS_OPTS = "--max-clean-minutes 0.5 --max-noise-minutes 0.6 --n-rirs 3"
TINY_SEPARATOR = {"n_layers": 2, "emb_dim": 8, "lstm_hidden_units": 8, "attn_n_head": 1}
TINY_TRAINING = {"max_epoch": 1, "num_iters_per_epoch": 4, "batch_size": 2, "num_workers": 0}

pytestmark = pytest.mark.slow


def copy_recipe(dst: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\n")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel, follow_symlinks=False)
    (dst / ".venv").symlink_to(ROOT / ".venv")
    (dst / "downloads").mkdir()
    for cache in ("apt", "debs", "pkgs"):
        if (ROOT / "downloads" / cache).exists():
            (dst / "downloads" / cache).symlink_to(ROOT / "downloads" / cache)
    return dst


def shrink_configs(recipe: Path) -> None:
    for tag in ("dl", "pl"):
        path = recipe / "conf" / f"train_{tag}.yaml"
        cfg = yaml.safe_load(path.resolve().read_text())
        cfg["separator_conf"].update(TINY_SEPARATOR)
        if "snrs" in cfg["criterions"][0].get("wrapper_conf", {}):
            cfg["criterions"][0]["wrapper_conf"]["snrs"] = [5.0]  # one intermediate block
        cfg.update(TINY_TRAINING)
        path.unlink()
        path.write_text(yaml.safe_dump(cfg))
    sim = yaml.safe_load((recipe / "conf" / "simulation.yaml").read_text())
    # ESPnet's chunk iterator drops utterances that are not longer than chunk_length (2 s).
    sim["sets"] = {"train": {"num_utts": 8, "segment_s": 3.0}, "dev": {"num_utts": 4, "segment_s": 3.0},
                   "test": {"num_utts": 4, "segment_s": 3.0}}  # fmt: skip
    (recipe / "conf" / "simulation.yaml").write_text(yaml.safe_dump(sim))


def run(recipe: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        ["./run.sh", "--nj", "2", "--corpus-opts", CORPUS_OPTS, *args],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, f"run.sh {args} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    recipe = copy_recipe(tmp_path_factory.mktemp("recipe"))
    shrink_configs(recipe)
    run(recipe)
    return recipe


def test_enhanced_wavs_have_the_input_lengths(recipe):
    noisy = read_list(recipe / "data" / "test" / "wav.scp")
    for tag in ("dl", "pl"):
        enhanced = read_list(recipe / "exp" / f"enh_{tag}" / "decode_test" / "spk1.scp")
        assert list(enhanced) == list(noisy)
        for key, path in enhanced.items():
            info, ref = sf.info(path), sf.info(noisy[key])
            assert (info.samplerate, info.frames) == (16000, ref.frames)


def test_results_has_finite_scores_for_noisy_dl_and_pl(recipe):
    text = (recipe / "RESULTS.md").read_text()
    for row in ("Noisy", "DL", "PL"):
        lines = [line for line in text.splitlines() if re.match(rf"\|\s*{row}\s*\|", line)]
        assert lines, f"no {row} row in RESULTS.md"
        numbers = [float(x) for line in lines for x in re.findall(r"-?\d+\.\d+", line)]
        assert numbers and all(math.isfinite(x) for x in numbers)
    assert "PESQ" in text and "DNSMOS" in text and "STOI" in text
    for png in ("spectrograms.png", "training_curves.png"):
        assert (recipe / "egs" / png).stat().st_size > 10_000


def test_rerun_skips_finished_stages(recipe):
    model = recipe / "exp" / "enh_dl" / "valid.loss.best.pth"
    wav = next(iter(read_list(recipe / "exp" / "enh_pl" / "decode_test" / "spk1.scp").values()))
    before = (model.stat().st_mtime_ns, Path(wav).stat().st_mtime_ns)
    log = run(recipe)
    assert "is trained with this command" in log
    assert re.search(r"decode_test is up to date", log)
    assert (model.stat().st_mtime_ns, Path(wav).stat().st_mtime_ns) == before


def test_stage_5_to_6_runs_only_those_stages(recipe):
    log = run(recipe, "--stage", "5", "--stop-stage", "6")
    stages = sorted(set(re.findall(r"Stage (\d):", log)))
    assert stages == ["5", "6"]
