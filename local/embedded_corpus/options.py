"""The options that decide the corpus's content, and whether a folder was built with them.

They are stored in ``<out>/build_options.json``; a rerun with the same options finds the corpus built
(``<out>/.done`` present) and does nothing, other options rebuild it. The worker count is not one of
them: it does not change the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1  # bump when a change to the builder changes its output for the same options
OPTIONS_FILE = "build_options.json"


@dataclass(frozen=True)
class BuildOptions:
    seed: int = 0
    max_clean_minutes: float = 0.0  # cap on clean speech in all (0: none)
    max_speaker_minutes: float = 12.0  # cap per clean speaker (> 0)
    max_noise_minutes: float = 0.0  # cap on noise (0: none)
    n_rirs: int = 60

    def __post_init__(self) -> None:
        for name in ("max_clean_minutes", "max_speaker_minutes", "max_noise_minutes", "n_rirs"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
        if self.max_speaker_minutes == 0:
            raise ValueError("--max-speaker-minutes must be > 0")

    def record(self) -> dict[str, object]:
        """What ``build_options.json`` holds."""
        return {
            "format": FORMAT_VERSION,
            "seed": self.seed,
            "max_clean_minutes": float(self.max_clean_minutes),
            "max_speaker_minutes": float(self.max_speaker_minutes),
            "max_noise_minutes": float(self.max_noise_minutes),
            "n_rirs": self.n_rirs,
        }


def is_built(out: Path, options: BuildOptions) -> bool:
    """True when <out> is a complete build made with ``options``."""
    if not (out / ".done").is_file() or not (out / OPTIONS_FILE).is_file():
        return False
    try:
        return json.loads((out / OPTIONS_FILE).read_text(encoding="utf-8")) == options.record()
    except (OSError, json.JSONDecodeError):
        return False
