"""Small file helpers shared by every stage: Kaldi-style lists and atomic writes.

Every output of the recipe is written to a temporary name in the destination folder and renamed
into place, so a killed job never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
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
    A failed write (disk full, file size limit, read-only folder) raises ``WriteError`` naming ``path``
    and the free space there; no temporary file is left behind.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual permissions
        yield tmp
        os.replace(tmp, path)
    except (OSError, sf.SoundFileError) as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(f"cannot write {path}: {err} ({_free_space(path.parent)})") from err
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


class WriteError(OSError):
    """An output could not be written; the message names the file and the free space."""


def _free_space(folder: Path) -> str:
    """Free space under ``folder`` and the file size limit if any (libsndfile only says "System error")."""
    try:
        text = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there"
    except OSError:
        text = "free space unknown"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        text += f", file size limit (ulimit -f) {limit} bytes"
    return text


def write_text_atomic(path: str | os.PathLike, text: str, keep_identical: bool = False) -> None:
    """Write ``text`` atomically. With ``keep_identical``, a file that already holds exactly ``text``
    is left untouched (its time stamp then still says when the content was made)."""
    if keep_identical and _holds(path, text):
        return
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _holds(path: str | os.PathLike, text: str) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False


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
        if key.split() != [key]:  # empty, or holds whitespace (str.split is C-fast on 1 M keys)
            raise ValueError(f"invalid key {key!r}: keys must be non-empty and contain no whitespace")
        lines.append(f"{key} {value}\n")
    return "".join(lines)


def write_list(
    path: str | os.PathLike,
    items: Mapping[str, object] | Iterable[tuple[str, object]],
    keep_identical: bool = False,
) -> None:
    """Write a sorted Kaldi-style list atomically (``keep_identical``: see ``write_text_atomic``)."""
    write_text_atomic(path, format_list(items), keep_identical=keep_identical)
