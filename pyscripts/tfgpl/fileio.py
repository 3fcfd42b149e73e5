"""Small file helpers shared by every stage: Kaldi-style lists and atomic writes.

Every output of the recipe is written to a temporary name in the destination folder and renamed
into place, so a killed job never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` keeps an extension on the temporary name for writers that infer the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_wav_atomic(path: str | os.PathLike, audio: np.ndarray, fs: int, subtype: str = "PCM_16") -> None:
    """Write a WAV file atomically. ``audio`` is float in [-1, 1], shape (samples,) or (samples, ch).

    Prefer PCM subtypes for outputs that must be reproducible byte for byte: libsndfile adds a PEAK
    chunk with a timestamp to FLOAT WAV files.
    """
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, audio, fs, subtype=subtype, format="WAV")


def read_list(path: str | os.PathLike) -> dict[str, str]:
    """Read a Kaldi-style ``key value`` file (wav.scp, utt2spk, utt2dur ...) into an ordered dict.

    Raises ValueError naming the file and line for a line without a value or a duplicate key.
    """
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'key value', got {line!r}")
            key, value = parts
            if key in out:
                raise ValueError(f"{path}:{n}: duplicate key {key!r}")
            out[key] = value
    return out


def format_list(items: Mapping[str, object] | Iterable[tuple[str, object]]) -> str:
    """Format ``key value`` lines sorted by key (C locale order), as Kaldi tools expect."""
    pairs = items.items() if isinstance(items, Mapping) else items
    lines = []
    for key, value in sorted(pairs, key=lambda kv: kv[0].encode("utf-8")):
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"invalid key {key!r}: keys must be non-empty and contain no whitespace")
        lines.append(f"{key} {value}\n")
    return "".join(lines)


def write_list(path: str | os.PathLike, items: Mapping[str, object] | Iterable[tuple[str, object]]) -> None:
    """Write a sorted Kaldi-style list atomically."""
    write_text_atomic(path, format_list(items))
