#!/usr/bin/env python3
"""Parameters and GMAC per second of 16 kHz audio of a training config (see tfgridnet_pl/model/complexity.py).

    python3 pyscripts/complexity.py --config conf/tuning/train_enh_tfgridnet_pl.yaml \
        [--out exp/enh_pl/complexity.json]

Prints one summary line; ``--out`` also writes JSON with ``params``, ``params_inference``,
``gmacs_per_s_train``, ``gmacs_per_s_inference``, ``config`` (and per-op breakdowns).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tfgridnet_pl.fileio import write_text_atomic
from tfgridnet_pl.model.complexity import config_complexity, summary_line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", required=True, help="training YAML (conf/tuning/*.yaml or exp/*/config.yaml)"
    )
    parser.add_argument("--out", help="also write the result here as JSON (atomically)")
    parser.add_argument("--fs", type=int, default=16000, help="sampling rate of the one second of audio")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        result = config_complexity(args.config, fs=args.fs)
    except (FileNotFoundError, ValueError) as e:
        logging.error("%s", e)
        return 1
    if args.out:
        write_text_atomic(args.out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
