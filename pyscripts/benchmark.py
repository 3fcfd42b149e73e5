#!/usr/bin/env python3
"""Speed benchmarks of the recipe, as named sections; prints the figures (it asserts nothing).

    python3 pyscripts/benchmark.py                 # every section
    python3 pyscripts/benchmark.py --only dnsmos   # one section (comma list for several)
    python3 pyscripts/benchmark.py --list
    python3 pyscripts/benchmark.py --only dnsmos --json exp/benchmark_dnsmos.json

The sections live in ``tfgridnet_pl/bench/``, a module per group (dnsmos, listing, size, rtf,
training, fastpath). Adding a section: write ``def run_x(args) -> dict`` (print what a reader needs,
return the numbers) and an optional ``def add_x_args(parser)`` for its options (prefix them with the
section name), then list it in that module's ``SECTIONS`` as ``"x": ("one-line description", run_x,
add_x_args)``. Sections are independent: each imports what it needs inside its run function.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass

from tfgridnet_pl.bench import dnsmos, fastpath, listing, rtf, size, training  # numpy only at import


@dataclass
class Section:
    help: str
    run: Callable[[argparse.Namespace], dict]
    add_args: Callable[[argparse.ArgumentParser], None] | None = None


SECTIONS: dict[str, Section] = {
    name: Section(*entry)
    for module in (dnsmos, listing, size, rtf, training, fastpath)
    for name, entry in module.SECTIONS.items()
}


# -- driver -----------------------------------------------------------------------------------------------
def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma list of sections to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the sections and exit")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    for sec in SECTIONS.values():
        if sec.add_args:
            sec.add_args(p)
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    if args.list:
        for name, sec in SECTIONS.items():
            print(f"{name:12s} {sec.help}")
        return
    names = [n for n in args.only.split(",") if n] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        sys.exit(f"benchmark.py: unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    out = {"python": platform.python_version(), "sections": {}}
    for name in names:
        print(f"== {name}: {SECTIONS[name].help}", flush=True)
        out["sections"][name] = SECTIONS[name].run(args)
    if args.json:
        from tfgridnet_pl.fileio import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
