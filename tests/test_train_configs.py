"""Every shipped training config trains and validates on data shaped like the recipe's own dev set.

The dev set is simulated as ``segment_s`` clips (conf/simulation.yaml). A config whose validation
iterator drops every dev utterance (ESPnet's chunk iterator with chunk_length >= the clip length) used
to train a whole epoch and then die for want of ``valid.loss``: pyscripts/check_training_data.py now
stops it before training (local/train.sh runs it), and each config here must pass that check with
its own settings and then train a few steps with one validation over whole dev utterances.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from test_espnet_entrypoints import FS, ROOT, run, write_set

CONFIGS = sorted((ROOT / "conf" / "tuning").glob("train_*.yaml"))
SIM = yaml.safe_load((ROOT / "conf" / "simulation.yaml").read_text())
DEV_SECONDS = SIM["sets"]["dev"]["segment_s"]
# Few short steps, whatever the model size: only the training-time options change, never the
# validation ones (the iterator the config chose runs on whole dev utterances of the default length).
FEW_STEPS = ["--max_epoch", "1", "--num_iters_per_epoch", "1", "--batch_size", "1", "--chunk_length", "16000",
             "--num_workers", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """train: 3 clips of 5 s (longer than every training chunk); dev: 2 clips of the default dev length."""
    work = tmp_path_factory.mktemp("configs")
    write_set(work / "train", 3, seed=0, seconds=5.0)
    write_set(work / "dev", 2, seed=1, seconds=DEV_SECONDS)
    for split, seconds in (("train", 5.0), ("dev", DEV_SECONDS)):
        keys = [line.split()[0] for line in (work / split / "wav.scp").read_text().splitlines()]
        (work / split / "shape").write_text("".join(f"{k} {int(seconds * FS)}\n" for k in keys))
    return work


def trainer_opts(work: Path, config: Path, out: Path) -> list[str]:
    """The options local/train.sh gives the trainer (one shape file per split, one fold length)."""
    opts = ["--config", str(config), "--output_dir", str(out)]
    for split, folder in (("train", "train"), ("valid", "dev")):
        for scp, name in (
            ("wav.scp", "speech_mix"),
            ("spk1.scp", "speech_ref1"),
            ("noise1.scp", "noise_ref1"),
        ):
            opts += [f"--{split}_data_path_and_name_and_type", f"{work / folder / scp},{name},sound"]
        opts += [f"--{split}_shape_file", str(work / folder / "shape")]
    return [*opts, "--fold_length", "80000"]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_passes_the_batch_check_with_its_own_settings(sets, config, tmp_path):
    from check_training_data import main

    assert main(trainer_opts(sets, config, tmp_path / "exp")) == 0


def test_batch_check_names_the_config_value_and_the_data(sets, tmp_path, caplog):
    from check_training_data import main

    config = yaml.safe_load(CONFIGS[0].read_text())
    config.pop("valid_iterator_type", None)
    config.update(iterator_type="chunk", chunk_length=int(DEV_SECONDS * FS))  # the old paper configs
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(trainer_opts(sets, path, tmp_path / "exp")) == 1
    message = caplog.text
    assert f"chunk_length: {int(DEV_SECONDS * FS)}" in message and str(sets / "dev" / "shape") in message
    assert "valid_iterator_type: sequence" in message and "the valid set yields no batches" in message


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_trains_and_validates_on_whole_dev_utterances(sets, config, tmp_path):
    exp = tmp_path / "exp"
    proc = run(
        str(ROOT / "pyscripts" / "enh_train.py"), *trainer_opts(sets, config, exp), *FEW_STEPS, cwd=ROOT
    )
    log = proc.stderr
    assert "1epoch results" in log and "[valid]" in log, log[-3000:]
    results = next(line for line in log.splitlines() if "1epoch results" in line)
    valid = results[results.index("[valid]") :]
    assert "loss=" in valid and "pesq=" in valid  # the validation loss and the PESQ criterion were reported
    assert (exp / "valid.loss.best.pth").exists() and (exp / "valid.pesq.best.pth").exists()
