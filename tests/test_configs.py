"""Training and decoding YAMLs: they load through ESPnet, DL/PL siblings differ in a few lines."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml
from espnet2.enh.loss.wrappers.fixed_order import FixedOrderSolver

from tfgridnet_pl.model.complexity import build_enh_model
from tfgridnet_pl.model.hybrid_loss import HybridLoss
from tfgridnet_pl.model.pl_wrapper import ProgressiveLossWrapper
from tfgridnet_pl.model.quality_criterion import QualityCriterion
from tfgridnet_pl.model.separator import TFGridNetPL

ROOT = Path(__file__).resolve().parents[1]
TUNING = ROOT / "conf" / "tuning"
CONFIGS = {
    "dl": "train_enh_tfgridnet_dl.yaml",
    "pl": "train_enh_tfgridnet_pl.yaml",
    "pl_relative": "train_enh_tfgridnet_pl_relative.yaml",
    "dl_small": "train_enh_tfgridnet_dl_small.yaml",
    "pl_small": "train_enh_tfgridnet_pl_small.yaml",
    "pl_relative_small": "train_enh_tfgridnet_pl_relative_small.yaml",
}
SIBLINGS = [("dl", "pl"), ("dl_small", "pl_small"), ("pl", "pl_relative"), ("pl_small", "pl_relative_small")]


def changed_lines(a: str, b: str) -> int:
    """Lines removed plus lines added between two files (the '<' and '>' lines of `diff`)."""
    diff = difflib.unified_diff(
        (TUNING / a).read_text().splitlines(), (TUNING / b).read_text().splitlines(), lineterm="", n=0
    )
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


@pytest.mark.parametrize(("a", "b"), SIBLINGS)
def test_siblings_differ_in_at_most_ten_lines(a, b):
    n = changed_lines(CONFIGS[a], CONFIGS[b])
    assert 0 < n <= 10, f"{CONFIGS[a]} vs {CONFIGS[b]}: {n} changed lines"


# What may differ between siblings (dotted keys of the loaded YAML, list items by index): DL and PL
# only in the heads and the first criterion's wrapper, absolute and relative PL only in its targets.
# Everything else (data, model size, steps, seed, optimizer) is the same, so the comparison is fair.
MAY_DIFFER = {
    ("dl", "pl"): ("separator_conf.intermediate_heads", "criterions.0.wrapper"),
    ("pl", "pl_relative"): ("criterions.0.wrapper_conf",),
}


def flat(tree, prefix: str = "") -> dict[str, object]:
    """{dotted key: leaf value} of a loaded YAML (list items by index; empty mappings are leaves)."""
    if isinstance(tree, dict) and tree:
        items = tree.items()
    elif isinstance(tree, list) and tree:
        items = enumerate(tree)
    else:
        return {prefix: tree}
    return {
        k: v for key, sub in items for k, v in flat(sub, f"{prefix}.{key}" if prefix else str(key)).items()
    }


@pytest.mark.parametrize(("a", "b"), SIBLINGS)
def test_siblings_differ_only_in_what_makes_them_siblings(a, b):
    conf_a, conf_b = (flat(yaml.safe_load((TUNING / CONFIGS[t]).read_text())) for t in (a, b))
    differ = {
        k for k in conf_a.keys() | conf_b.keys() if conf_a.get(k, "<absent>") != conf_b.get(k, "<absent>")
    }
    allowed = MAY_DIFFER[(a.removesuffix("_small"), b.removesuffix("_small"))]
    assert differ, f"{CONFIGS[a]} and {CONFIGS[b]} are the same"
    assert all(k.startswith(allowed) for k in differ), sorted(k for k in differ if not k.startswith(allowed))


@pytest.mark.parametrize("tag", sorted(CONFIGS))
def test_config_builds_the_described_model(tag):
    path = TUNING / CONFIGS[tag]
    conf = yaml.safe_load(path.read_text())
    assert conf["best_model_criterion"] == [["valid", "loss", "min"], ["valid", "pesq", "max"]]
    assert conf["iterator_type"] == "chunk" and conf["optim"] == "adam"
    assert not [k for k in conf if "data_path" in k or "shape_file" in k], "data paths belong to run.sh"
    model = build_enh_model(path)
    sep = model.separator
    assert isinstance(sep, TFGridNetPL)
    assert (sep.enc.stft.n_fft, sep.enc.stft.hop_length, sep.enc.stft.window) == (512, 256, "sqrt_hann")
    assert sep.n_layers == 5 and sep.blocks[0].n_head == 4
    assert sep.blocks[0].intra_rnn.bidirectional and sep.blocks[0].inter_rnn.bidirectional
    wrapper, monitor = model.loss_wrappers
    assert type(monitor.criterion) is QualityCriterion and monitor.weight == 0.0  # valid PESQ only
    assert monitor.criterion.only_for_test
    crit = wrapper.criterion
    assert isinstance(crit, HybridLoss)
    # CPU configs: mask output, 30x the SI-SNR weight (docs/progressive-learning.md, Tuning the CPU configs)
    small = tag.endswith("_small")
    assert sep.output == ("mask" if small else "mapping")
    assert (crit.mag_weight, crit.ri_weight, crit.compress_exp) == (70, 30, 0.3)
    assert crit.sisnr_weight == (30 if small else 1)
    if tag.startswith("dl"):
        assert not sep.intermediate_heads and type(wrapper) is FixedOrderSolver
    else:
        assert sep.intermediate_heads and isinstance(wrapper, ProgressiveLossWrapper)
        assert wrapper.mode == ("relative" if "relative" in tag else "absolute")
        if wrapper.mode == "absolute":
            assert wrapper.snrs == [0, 5, 10, 15]
    params = sum(p.numel() for p in model.parameters())
    if tag.endswith("small"):
        assert 1.2e6 < params < 1.4e6  # the 1.29 M the small configs' header gives
    else:
        assert 2.3e6 < params < 2.4e6


def test_decode_config_is_accepted_by_enh_inference(tmp_path):
    from espnet2.bin.enh_inference import get_parser

    args = get_parser().parse_args(
        [
            "--config",
            str(ROOT / "conf" / "decode.yaml"),
            "--output_dir",
            str(tmp_path),
            "--data_path_and_name_and_type",
            "data/test/wav.scp,speech_mix,sound",
        ]
    )
    conf = yaml.safe_load((ROOT / "conf" / "decode.yaml").read_text())
    for key, value in conf.items():
        assert getattr(args, key) == value, key
    assert args.segment_size is None and args.normalize_output_wav is False
