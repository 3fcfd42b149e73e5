"""What a DNS Challenge 5 tree looks like: sub-folders, subsets, and how speakers are named.

Both the real download and the embedded corpus (local/make_embedded_corpus.sh) follow this layout:

    <root>/datasets_fullband/clean_fullband/<subset>/**/*.wav
    <root>/datasets_fullband/noise_fullband/**/*.wav
    <root>/datasets_fullband/impulse_responses/**/*.wav
"""

from __future__ import annotations

import posixpath
import re

CLEAN_DIR = "datasets_fullband/clean_fullband"
NOISE_DIR = "datasets_fullband/noise_fullband"
RIR_DIR = "datasets_fullband/impulse_responses"

# Clean-speech subsets of DNS5 (folder names under clean_fullband/).
CLEAN_SUBSETS = (
    "read_speech",
    "emotional_speech",
    "vctk_wav48_silence_trimmed",
    "VocalSet_48kHz_mono",
    "german_speech",
    "french_speech",
    "italian_speech",
    "russian_speech",
    "spanish_speech",
)

AUDIO_SUFFIXES = (".wav", ".flac")

# Speaker id from a file name, tried in order; the first match wins.
#   read speech (LibriVox):  book_00701_chp_0012_reader_02603_4_seg_1.wav -> reader02603
#   VCTK:                    p225_001_mic1.wav                              -> vctk_p225
#   CREMA-D (emotional):     1001_DFA_ANG_XX.wav                             -> cremad1001
_SPEAKER_PATTERNS = (
    (re.compile(r"reader_(\d+)"), "reader{}"),
    (re.compile(r"^(p\d{3})_\d+"), "vctk_{}"),
    (re.compile(r"^(\d{4})_[A-Z]{3}_[A-Z]{3}_"), "cremad{}"),
)

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def speaker_of(relpath: str) -> str:
    """Speaker id of a clean file given its path relative to clean_fullband/.

    Files whose name carries no known speaker pattern fall back to their subset and parent folder
    (``<subset>_<folder>``), which is how DNS5's per-speaker folders are organised.
    """
    # Plain string operations rather than pathlib: this runs once per file of a 1 M-file tree.
    parts = [p for p in relpath.split("/") if p]
    for pattern, fmt in _SPEAKER_PATTERNS:
        match = pattern.search(parts[-1])
        if match:
            return fmt.format(match.group(1))
    folder = "_".join(parts[:-1]) if len(parts) > 1 else "unknown"
    return sanitize_key(folder)


def sanitize_key(text: str) -> str:
    """Turn any string into a Kaldi-safe key fragment (no whitespace, ASCII only)."""
    key = _KEY_UNSAFE.sub("_", text).strip("_")
    return key or "x"


def utt_key(speaker: str, relpath: str) -> str:
    """Utterance key ``<speaker>-<path without suffix, slashes as '__'>`` so keys sort by speaker."""
    stem = posixpath.splitext(relpath)[0].replace("/", "__")
    return f"{speaker}-{sanitize_key(stem)}"
