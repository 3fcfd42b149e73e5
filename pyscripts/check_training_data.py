#!/usr/bin/env python3
"""Before training starts: will the training and validation sets yield batches with this config?

    python3 pyscripts/check_training_data.py <the trainer's options: --config ... --*_shape_file ...>

Takes exactly the options ``pyscripts/enh_train.py`` gets (local/train.sh passes the same array),
parses them with ESPnet's own parser (the YAML, then the command line on top), and reads the shape
files. ESPnet's chunk iterator (``iterator_type: chunk``) drops, with a warning only, every utterance
that is not longer than the shortest chunk length; a validation set dropped whole leaves the trainer
without ``valid.loss`` and it dies at the end of the first epoch (``KeyError: valid.loss``), hours
into a DNS5 run. This check stops before that, naming the config value and the data, and says how
to fix it. Exit status 0: both sets yield batches; 1: one does not (the message says which and why).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from espnet2.tasks.enh import EnhancementTask

import tfgridnet_pl.register  # noqa: F401  (our separator and criteria, so that the config parses)

log = logging.getLogger("check_training_data")


def chunk_lengths(value: int | str) -> list[int]:
    """Candidates of ESPnet's ``chunk_length``: ``32000``, ``"16000,32000"`` or ``"8000-9000"``."""
    if isinstance(value, int):
        return [value]
    out: list[int] = []
    for part in str(value).split(","):
        bounds = [int(x) for x in part.split("-")]
        out += list(range(bounds[0], bounds[-1] + 1))
    return out


def read_lengths(shape_file: str) -> dict[str, int]:
    """Utterance -> length in samples, from an ESPnet shape file (``key 64000`` or ``key 64000,1``)."""
    lengths = {}
    for n, line in enumerate(Path(shape_file).read_text(encoding="utf-8").splitlines(), 1):
        key, _, value = line.partition(" ")
        try:
            lengths[key] = int(value.split(",")[0])
        except ValueError:
            raise SystemExit(f"check_training_data: {shape_file}:{n}: not a shape line: {line!r}") from None
    return lengths


def check_split(args, split: str) -> str | None:
    """The problem of one split (``train`` or ``valid``), or None when it yields batches."""
    shape_files = getattr(args, f"{split}_shape_file")
    data = [item[0] for item in getattr(args, f"{split}_data_path_and_name_and_type")]
    if not shape_files:
        return f"no --{split}_shape_file given"
    lengths = read_lengths(shape_files[0])
    if not lengths:
        return f"{shape_files[0]} is empty: the {split} set ({', '.join(data)}) has no utterances"
    iterator = args.iterator_type
    setting = "iterator_type"
    if split == "valid" and args.valid_iterator_type is not None:
        iterator, setting = args.valid_iterator_type, "valid_iterator_type"
    if iterator != "chunk":
        return None
    shortest = min(chunk_lengths(args.chunk_length))
    kept = [k for k, n in lengths.items() if n > shortest]
    log.info(
        "%s: %d of %d utterances are longer than the shortest chunk (%d samples)",
        split,
        len(kept),
        len(lengths),
        shortest,
    )
    if kept:
        return None
    longest = max(lengths.values())
    fix = (
        "set `valid_iterator_type: sequence` in the config (validation on whole utterances, as ESPnet's "
        "enh recipes do)"
        if split == "valid"
        else f"use a chunk_length below {longest} (e.g. --train-args '--chunk_length {longest // 2}')"
    )
    return (
        f"the {split} set yields no batches: `{setting}: chunk` with `chunk_length: {args.chunk_length}` "
        f"(from {args.config} or the command line) drops every utterance that is not longer than "
        f"{shortest} samples, and the longest of the {len(lengths)} utterances in {shape_files[0]} "
        f"({', '.join(data)}) has {longest}; {fix}"
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    args = EnhancementTask.get_parser().parse_args(argv)
    problems = [p for p in (check_split(args, "train"), check_split(args, "valid")) if p]
    for problem in problems:
        log.error(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
