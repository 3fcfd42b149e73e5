"""The Debian packages the embedded corpus is made from: who speaks in which file, and decoding.

Packages (extracted by local/make_embedded_corpus.sh into <pkgs>/<package>/, with a .done marker):

  asterisk-core-sounds-en-g722  US-English prompts of one speaker (Allison), raw G.722 at 16 kHz
  fillets-ng-data-cs            Czech voice-acted game dialogue; the character is the 2nd dash-separated
                                token of the file name (vit-m-hlava.ogg -> m)
  sonic-pi-samples              instrument and ambient samples, used as noise

Clean speakers are a fixed table (CLEAN_SPEAKERS) with their DNS5 reader ids; babble is made only
from the fillets characters in BABBLE_CHARACTERS, which are disjoint from the clean ones. Files
whose name has no character token, or a character in neither table, are not used and are counted.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import G722
import numpy as np
import soundfile as sf

from .audio import to_mono

ASTERISK = "asterisk-core-sounds-en-g722"
FILLETS = "fillets-ng-data-cs"
SONICPI = "sonic-pi-samples"
PACKAGES = (ASTERISK, FILLETS, SONICPI)

ALLISON_DIR = "usr/share/asterisk/sounds/en_US_f_Allison"
FILLETS_DIR = "usr/share/games/fillets-ng/sound"
SONICPI_DIR = "usr/share/sonic-pi/samples"
G722_RATE = 16000  # the Asterisk .g722 files are 64 kbit/s, 16 kHz, no header: 1 byte = 2 samples


@dataclass(frozen=True)
class Speaker:
    """A clean speaker: short name, DNS5 reader id, package and what we know about the voice."""

    name: str
    reader: int
    package: str
    description: str


CLEAN_SPEAKERS = (
    Speaker("allison", 90001, ASTERISK, "Allison, US-English female (Asterisk prompts)"),
    Speaker("m", 90002, FILLETS, "Czech, character m (small fish)"),
    Speaker("v", 90003, FILLETS, "Czech, character v (big fish)"),
    Speaker("hs", 90004, FILLETS, "Czech, character hs (levels city, music, pavement)"),
    Speaker("r", 90005, FILLETS, "Czech, character r (level corridor)"),
    Speaker("p", 90006, FILLETS, "Czech, character p (level bathyscaph)"),
    Speaker("pap", 90007, FILLETS, "Czech, character pap (levels cabin1, cabin2)"),
    Speaker("c", 90008, FILLETS, "Czech, character c (level ending)"),
    Speaker("leb", 90009, FILLETS, "Czech, character leb (level captain)"),
)
# Fillets characters used only inside babble noise: x appears in 12 levels (likely several voices),
# the digits are level-local characters (keys, viking1, viking2), k, s and o have a few lines each.
BABBLE_CHARACTERS = ("x", "k", "s", "o", "0", "1", "2", "3", "4", "5", "6", "7", "8")
assert not {s.name for s in CLEAN_SPEAKERS} & set(BABBLE_CHARACTERS)

# Book numbers in clean file names: Allison's folders are books 1.., fillets levels books 101..
FILLETS_BOOK_BASE = 101


class SourceError(Exception):
    """A source file that cannot be read; ``str()`` says why."""


@dataclass(frozen=True)
class Prompt:
    """One source recording: package-relative path, who speaks, its book number and header duration."""

    package: str
    relpath: str
    who: str
    book: int
    seconds: float


@dataclass
class Inventory:
    """What a scan of the packages found."""

    clean: dict[str, list[Prompt]] = field(default_factory=dict)  # speaker name -> prompts in order
    babble: list[Prompt] = field(default_factory=list)
    noise: list[Prompt] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (package/relpath, reason)
    unused: Counter = field(default_factory=Counter)  # reason -> files
    unused_seconds: Counter = field(default_factory=Counter)


def _natural(text: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def fillets_character(filename: str) -> str | None:
    """Character code of a fillets sound file name (``vit-m-hlava.ogg`` -> ``m``); None when unclear."""
    tokens = Path(filename).stem.split("-")
    return tokens[1] if len(tokens) >= 3 and tokens[1] else None


def _header_seconds(path: Path) -> float:
    """Duration from the file header (G.722: from the size); SourceError when unreadable or empty."""
    try:
        if path.suffix == ".g722":
            size = path.stat().st_size
            seconds = size * 2 / G722_RATE
        else:
            info = sf.info(str(path))
            seconds = info.frames / info.samplerate
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise SourceError(f"unreadable header: {err}") from err
    if seconds <= 0:
        raise SourceError("empty file")
    return seconds


def load(path: Path) -> tuple[np.ndarray, int]:
    """Decode a source file to mono float32 and its rate; SourceError when it cannot be decoded."""
    try:
        if path.suffix == ".g722":
            data = path.read_bytes()
            if not data:
                raise SourceError("empty file")
            decoded = G722.G722(G722_RATE, 64000).decode(data)
            audio = np.asarray(decoded, dtype=np.int16).astype(np.float32) / 32768.0
            fs = G722_RATE
        else:
            with sf.SoundFile(str(path)) as f:
                expected, fs = f.frames, f.samplerate
                audio = f.read(dtype="float32", always_2d=True)
            if len(audio) < expected:  # libsndfile stops quietly at a damaged Ogg page
                raise SourceError(f"damaged: decoded {len(audio)} of {expected} frames")
            audio = to_mono(audio)
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise SourceError(f"decode failed: {err}") from err
    if audio.size == 0:
        raise SourceError("no samples")
    if not np.all(np.isfinite(audio)):
        raise SourceError("NaN or Inf samples")
    return audio, int(fs)


def check_packages(pkgs_dir: Path) -> dict[str, str]:
    """Each package's .done marker content (the .deb it came from); SystemExit naming what is missing."""
    versions = {}
    for package in PACKAGES:
        marker = pkgs_dir / package / ".done"
        if not marker.is_file():
            raise SystemExit(
                f"make_embedded_corpus: {marker} is missing: package {package} is not (completely) "
                f"extracted under {pkgs_dir}; run local/make_embedded_corpus.sh to fetch it"
            )
        versions[package] = marker.read_text(encoding="utf-8").strip() or package
    return versions


def _measure(
    inv: Inventory, pkgs_dir: Path, package: str, paths: list[Path]
) -> list[tuple[str, float | None]]:
    """Package-relative paths and header durations, read by a few threads (libsndfile releases the
    GIL); a bad file is recorded in ``inv.bad`` (in input order) and gets None."""

    def one(path: Path) -> tuple[str, float | None, str]:
        relpath = str(path.relative_to(pkgs_dir / package))
        try:
            return relpath, _header_seconds(path), ""
        except SourceError as err:
            return relpath, None, str(err)

    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(one, paths))
    inv.bad.extend((f"{package}/{relpath}", why) for relpath, seconds, why in rows if seconds is None)
    return [(relpath, seconds) for relpath, seconds, _ in rows]


def scan(pkgs_dir: Path) -> Inventory:
    """List every usable source file with its speaker, and every unreadable one with the reason."""
    inv = Inventory()
    clean_names = {s.name for s in CLEAN_SPEAKERS}
    inv.clean = {s.name: [] for s in CLEAN_SPEAKERS}

    allison = pkgs_dir / ASTERISK / ALLISON_DIR
    files = sorted(allison.rglob("*.g722"), key=lambda p: _natural(str(p.relative_to(allison))))
    if not files:
        raise SystemExit(f"make_embedded_corpus: no .g722 prompts under {allison}")
    folders = sorted({str(p.parent.relative_to(allison)) for p in files}, key=_natural)
    for path, (relpath, seconds) in zip(files, _measure(inv, pkgs_dir, ASTERISK, files), strict=True):
        if seconds is not None:
            book = 1 + folders.index(str(path.parent.relative_to(allison)))
            inv.clean["allison"].append(Prompt(ASTERISK, relpath, "allison", book, seconds))

    sound = pkgs_dir / FILLETS / FILLETS_DIR
    files = sorted(sound.glob("*/cs/*.ogg"), key=lambda p: (p.parts[-3], _natural(p.name)))
    if not files:
        raise SystemExit(f"make_embedded_corpus: no */cs/*.ogg dialogue under {sound}")
    levels = sorted({p.parts[-3] for p in files})
    for path, (relpath, seconds) in zip(files, _measure(inv, pkgs_dir, FILLETS, files), strict=True):
        if seconds is None:
            continue
        who = fillets_character(path.name)
        book = FILLETS_BOOK_BASE + levels.index(path.parts[-3])
        prompt = Prompt(FILLETS, relpath, who or "", book, seconds)
        if who in clean_names:
            inv.clean[who].append(prompt)
        elif who in BABBLE_CHARACTERS:
            inv.babble.append(prompt)
        else:
            reason = (
                "fillets: no character token in the name"
                if who is None
                else f"fillets: character {who} unused"
            )
            inv.unused[reason] += 1
            inv.unused_seconds[reason] += prompt.seconds

    samples = pkgs_dir / SONICPI / SONICPI_DIR
    files = sorted(samples.glob("*.flac"))
    if not files:
        raise SystemExit(f"make_embedded_corpus: no .flac samples under {samples}")
    for relpath, seconds in _measure(inv, pkgs_dir, SONICPI, files):
        if seconds is not None:
            inv.noise.append(Prompt(SONICPI, relpath, "noise", 0, seconds))
    return inv


def copyright_file(pkgs_dir: Path, package: str) -> Path:
    """The package's Debian copyright file (SystemExit when the package has none)."""
    path = pkgs_dir / package / "usr/share/doc" / package / "copyright"
    if not path.is_file():
        raise SystemExit(f"make_embedded_corpus: {path} is missing: the package has no copyright file")
    return path
