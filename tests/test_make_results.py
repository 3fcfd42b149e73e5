"""make_results.py: RESULTS.md from a fake experiment tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import make_results

DNSMOS = ("DNSMOS_P808", "DNSMOS_SIG", "DNSMOS_BAK", "DNSMOS_OVRL")
INTRUSIVE = ("PESQ_WB", "STOI", "SI_SNR")


def summary(base: float, metrics, has_ref: bool, n: int = 40, flagged: int = 0) -> dict:
    return {
        "n_utts": n,
        "has_reference": has_ref,
        "inf_scp": "x/spk1.scp",
        "ref_scp": "data/test/spk1.scp" if has_ref else None,
        "metrics": {
            m: {
                "n": n - flagged,
                "n_flagged": flagged,
                "mean": base + i,
                "std": 0.3,
                "ci95": 0.0123 + i / 1000,
            }
            for i, m in enumerate(metrics)
        },
    }


def write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)


@pytest.fixture
def tree(tmp_path):
    exp = tmp_path / "exp"
    write(exp / "noisy/decode_test/scoring/summary.json", summary(1.0, INTRUSIVE + DNSMOS, True))
    for k, tag in enumerate(("dl", "pl")):
        d = exp / f"enh_{tag}"
        write(d / "decode_test/scoring/summary.json", summary(2.0 + k, INTRUSIVE + DNSMOS, True, flagged=k))
        write(d / "decode_blind/scoring/summary.json", summary(3.0 + k, DNSMOS, False, n=12))
        write(d / "config.yaml", "separator: tfgridnet_pl\n")
        write(
            d / "complexity.json",
            {
                "params": 2_368_018 + k * 30_000,
                "params_inference": 2_368_018,
                "gmacs_per_s_train": 33.84 + k * 0.04,
                "gmacs_per_s_inference": 33.84,
                "config": f"conf/train_{tag}.yaml",
            },
        )
        write(
            d / "run.sh",
            f"#!/usr/bin/env bash\ncd /x\n. ./path.sh\npython3 pyscripts/enh_train.py --config "
            f'conf/train_{tag}.yaml "$@"\n',
        )
        write(
            d / "decode_test/logdir/inference.1.log", "# python3 pyscripts/enh_inference.py --key_file k.1\n"
        )
    write(
        exp / "noisy/decode_test/scoring/logdir/score.1.log",
        "# python3 pyscripts/score_enh.py --x 1\n# ...\n",
    )
    return tmp_path


def render(tree: Path, sets: str, systems: str = "noisy dl pl", *extra: str) -> str:
    out = tree / "RESULTS.md"
    make_results.main(
        [
            *extra,
            "--exp",
            str(tree / "exp"),
            "--sets",
            sets,
            "--systems",
            systems,
            "--out",
            str(out),
            "--sim-config",
            "conf/simulation.yaml",
            "--figures",
            "",
        ]
    )
    assert not list(tree.glob(".RESULTS.md.*")), "no temporary file left behind"
    return out.read_text()


def section(text: str, title: str) -> str:
    start = text.index(title)
    nxt = text.find("\n### ", start + 1)
    return text[start : nxt if nxt > 0 else None]


def test_both_tables_with_rows_values_and_reference(tree):
    text = render(tree, "test")
    assert text.startswith(make_results.MARKER)
    assert "## Environments" in text and "- python version:" in text and "- CPU:" in text
    t1 = section(text, "### Table 1: DNSMOS (test)")
    t2 = section(text, "### Table 2: intrusive metrics (test)")
    assert "|system|Para. (M)|MACs (G/s)|DNSMOS P.808|BAK|SIG|OVRL|#utt|" in t1
    assert "|system|Para. (M)|MACs (G/s)|PESQ|STOI|SI-SNR (dB)|#utt|" in t2
    ours = t2[: t2.index("The reference's published numbers")]
    rows = [ln for ln in ours.splitlines() if ln.startswith("|")][2:]
    assert [r.split("|")[1] for r in rows] == ["Noisy", "DL", "PL"]
    # PL: base 3.0, PESQ is metric 0 -> 3.000 +- 0.012; SI_SNR metric 2 -> 5.000 +- 0.014; one flagged
    assert rows[2] == "|PL|2.37|33.84|3.000 ± 0.012|4.000 ± 0.013|5.000 ± 0.014|40 (1 flagged)|"
    assert rows[0] == "|Noisy|–|–|1.000 ± 0.012|2.000 ± 0.013|3.000 ± 0.014|40|"
    # DNSMOS columns are in P.808, BAK, SIG, OVRL order whatever the order in summary.json
    dl = next(ln for ln in t1.splitlines() if ln.startswith("|DL|"))
    assert dl.split("|")[4:8] == ["5.000 ± 0.015", "7.000 ± 0.017", "6.000 ± 0.016", "8.000 ± 0.018"]
    # the reference's numbers, labelled as such
    assert "DNS Challenge 5" in t1 and "not comparable" in t1
    assert "|PL (reference)|2.36|33.69|3.877|4.128|3.481|3.219|–|" in t1
    assert "|DL (reference)|2.36|33.65|2.763|0.882|16.827|–|" in t2
    assert "SI-SNR in dB" in text and "higher-is-better" in text
    assert "PL training graph (with its training-only heads): 2.40 M params, 33.88 GMAC/s." in text
    assert "DL training graph" not in text  # DL's training and inference graphs are the same
    assert "python3 pyscripts/enh_train.py --config conf/train_pl.yaml`" in text
    assert "decode (job 1): `python3 pyscripts/enh_inference.py --key_file k.1`" in text
    assert "score (job 1): `python3 pyscripts/score_enh.py --x 1`" in text
    assert "Warning" not in text


def test_set_without_references_gets_table_1_only_and_missing_system_warns(tree):
    text = render(tree, "test blind")
    blind = text[text.index("## blind") :]
    assert "### Table 1: DNSMOS (blind)" in blind
    assert "Table 2" not in blind
    assert "`blind` has no clean references" in blind
    assert re.search(r"> \*\*Warning:\*\* Noisy has no scores for `blind`: `.*summary.json` is missing", text)
    noisy = next(
        ln for ln in section(text, "### Table 1: DNSMOS (blind)").splitlines() if ln.startswith("|Noisy|")
    )
    assert noisy == "|Noisy|–|–|–|–|–|–|–|"


def test_missing_metric_complexity_and_bad_json_warn_instead_of_crashing(tree):
    exp = tree / "exp"
    s = json.loads((exp / "enh_dl/decode_test/scoring/summary.json").read_text())
    del s["metrics"]["STOI"]
    write(exp / "enh_dl/decode_test/scoring/summary.json", s)
    (exp / "enh_pl/complexity.json").unlink()
    write(exp / "noisy/decode_test/scoring/summary.json", "{not json")
    text = render(tree, "test", systems="noisy dl pl xl")
    assert "> **Warning:** DL on `test`: no STOI in its summary.json" in text
    assert "PL: `" in text and "complexity.json` is missing" in text
    assert "is not valid JSON" in text
    assert "XL has no scores for `test`" in text
    pl = next(ln for ln in section(text, "### Table 2").splitlines() if ln.startswith("|PL|"))
    assert pl.startswith("|PL|–|–|3.000")


def test_peer_rows_are_labelled_with_their_parameters_and_rtf(tree):
    exp = tree / "exp"
    write(exp / "peer_gtcrn/decode_test/scoring/summary.json", summary(2.5, INTRUSIVE + DNSMOS, True))
    peer = {"system": "gtcrn", "params": 82_580, "rtf": 0.0817, "threads": 1, "model_file": "gtcrn.onnx"}
    write(exp / "peer_gtcrn/complexity.json", peer)
    text = render(tree, "test", "noisy dl pl peer_gtcrn")
    row = next(
        line for line in section(text, "### Table 2").splitlines() if line.startswith("|GTCRN (peer)|")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["0.08", "–"]  # params in M; MACs not measured for peers
    assert cells[3].startswith("2.50")  # PESQ mean of the peer's own summary
    assert "RTF 0.082 with 1 thread(s)" in text and "`gtcrn.onnx`" in text


def test_training_budget_of_each_model_is_counted_from_its_train_log(tree):
    config = "separator: tfgridnet_pl\nbatch_size: 4\niterator_type: chunk\nchunk_length: 32000\n"
    write(tree / "exp/enh_dl/config.yaml", config)
    log = "".join(
        f"[vm] x (trainer:394) INFO: {e}epoch results: [train] loss=1.0, total_count={n}, "
        f"[valid] loss=2.0, total_count=80\n"
        for e, n in ((1, 38), (2, 75))  # cumulative, as ESPnet's reporter counts
    )
    write(tree / "exp/enh_dl/train.log", log)
    text = render(tree, "test")
    assert "- DL training budget: 2 epochs, 75 steps in all, batches of 4 chunks of 2 s." in text
    assert "PL training budget" not in text  # no train.log: no line, no guess


def test_decoding_overrides_of_each_model_are_reported(tree):
    write(tree / "exp/enh_dl/decode_test/decode_model.yaml", "separator_conf:\n  mix_back: 0.2\n")
    text = render(tree, "test")
    assert "- DL decoded with the model-config overrides `separator_conf.mix_back: 0.2`" in text
    assert "- PL decoded without model-config overrides." in text
    write(tree / "exp/enh_pl/decode_test/decode_model.yaml", "separator_conf:\n  mix_back: 0.2\n")
    text = render(tree, "test")
    assert "- DL, PL decoded with the model-config overrides `separator_conf.mix_back: 0.2`" in text
    write(tree / "exp/enh_pl/decode_test/decode_model.yaml", "separator_conf: [unclosed\n")
    text = render(tree, "test")
    assert "decode_model.yaml` is not YAML" in text and "- PL decoded without" not in text
    assert "- PL decoded with the model-config overrides in `" in text


def test_models_trained_at_several_seeds_get_their_spread_and_a_verdict(tmp_path):
    """--seeds "0 1 2": one row per seed in Tables 1 and 2 (seed 0 is the default run, exp/enh_<tag>),
    then mean ± sd over seeds per model, and each DL/PL difference said to lie inside or outside it."""
    exp = tmp_path / "exp"
    write(exp / "noisy/decode_test/scoring/summary.json", summary(1.0, INTRUSIVE + DNSMOS, True))
    per_seed = {"dl": (2.0, 2.1, 2.2), "pl": (2.05, 2.15, 2.25), "pl_relative": (3.0, 3.0, 3.0)}

    def run(tag: str, seed: int) -> str:
        return tag if seed == 0 else f"{tag}_seed{seed}"

    for tag, bases in per_seed.items():
        for seed, base in enumerate(bases):
            write(exp / f"enh_{run(tag, seed)}/decode_test/scoring/summary.json",
                  summary(base, INTRUSIVE + DNSMOS, True))  # fmt: skip
    systems = "noisy " + " ".join(run(t, s) for t in per_seed for s in range(3))
    text = render(tmp_path, "test", systems)
    assert "|DL (seed 1)|" in text and "|PL-relative (seed 2)|" in text and "|DL|" in text
    section = text[text.index("### Spread over seeds (test)") :]
    row = next(line for line in section.splitlines() if line.startswith("|DL|"))
    assert row.startswith("|DL|0, 1, 2|") and "2.100 ± 0.100 (2.000–2.200)" in row  # PESQ_WB: base + 0
    assert "- PL − DL, PESQ: +0.050 (inside the spread over seeds: sd 0.100 and 0.100)" in section
    assert "- PL-relative − DL, PESQ: +0.900 (larger than the spread over seeds" in section
    # The default run's RESULTS.md (seed 0 only in its tables) reports the spread of the seed runs given.
    seed_runs = " ".join(run(t, s) for t in ("dl", "pl") for s in range(3))
    text = render(tmp_path, "test", "noisy dl pl", "--seed-systems", seed_runs)
    assert "|DL|" in text and "(seed 1)|" not in text and "- PL − DL, PESQ: +0.050 (inside" in text
    assert "PL-relative" not in text  # not asked for
