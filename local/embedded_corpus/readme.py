"""README.md of a built embedded corpus, made from its summary (no timings, so builds stay bit-identical)."""

from __future__ import annotations

from .sources import ASTERISK, BABBLE_CHARACTERS, FILLETS, SONICPI

_SOURCES = {
    ASTERISK: "Asterisk's English prompts, one US-English female speaker (Allison), G.722 16 kHz",
    FILLETS: "Czech voice-acted dialogue of the game Fish Fillets NG, Ogg Vorbis 22.05/44.1 kHz",
    SONICPI: "instrument, drum, loop and ambient samples of Sonic Pi, FLAC 44.1 kHz",
}


def readme_text(summary: dict) -> str:
    """Markdown describing the corpus: what it is, sources, speaker -> reader table, totals, skips."""
    lines = [
        *_intro(summary["options"]),
        *_sources(summary["packages"]),
        *_speakers(summary["clean"]),
        *_noise_and_rirs(summary),
        *_totals(summary),
        *_skips_and_repairs(summary),
        "",
        "`manifest.tsv` lists every file with its SHA-1 and duration.",
        "",
    ]
    return "\n".join(lines)


def _intro(opts: dict) -> list[str]:
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in opts.items() if k != "format")
    return [
        "# Embedded DNS5-layout corpus",
        "",
        "A small stand-in for the DNS Challenge 5 download, built offline from Debian packages by",
        "`local/make_embedded_corpus.sh` (see `docs/embedded-corpus.md` of the recipe). Same folders and",
        "file names as DNS5; every file is 48 kHz mono 16-bit PCM WAV. The speech is band-limited by its",
        "sources (7 kHz for Allison, 11 or 22 kHz for the fillets dialogue), so it is 48 kHz in format only.",
        "",
        f"Options: `{flags}`",
        f"(format {opts['format']}).",
        "",
    ]


def _sources(packages: dict[str, str]) -> list[str]:
    lines = ["## Sources", "", "| package | version (.deb) | used for |", "|---|---|---|"]
    lines += [f"| {package} | {deb} | {_SOURCES.get(package, '')} |" for package, deb in packages.items()]
    return [*lines, "", "Each package's Debian copyright file is in `LICENSES/`.", ""]


def _speakers(clean: dict[str, dict]) -> list[str]:
    lines = [
        "## Clean speech: speaker -> reader id",
        "",
        "`datasets_fullband/clean_fullband/read_speech/book_<book>_chp_0001_reader_<reader>_1_seg_<n>.wav`:",
        "one speaker per file, consecutive prompts joined with short pauses into 4-12 s clips, silences",
        "trimmed, normalised to -25 dBFS active level. Books 00001-00007 are Allison's prompt folders,",
        "books 00101 on the fillets levels (in alphabetical order).",
        "",
        "| speaker | reader | clips | minutes | voice |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v['reader']} | {v['clips']} | {v['seconds'] / 60:.2f} | {v['description']} |"
        for name, v in clean.items()
    ]
    return [
        *lines,
        "",
        f"Babble noise is made only from fillets characters {', '.join(BABBLE_CHARACTERS)},",
        "none of which is a clean speaker.",
        "",
    ]


def _noise_and_rirs(summary: dict) -> list[str]:
    lines = ["## Noise and room impulse responses", "", "| noise kind | files | minutes |", "|---|---|---|"]
    lines += [f"| {kind} | {v['files']} | {v['seconds'] / 60:.2f} |" for kind, v in summary["noise"].items()]
    rt = summary["rir_rt60_measured_s"]
    rt_text = f", measured RT60 {rt[0]:.2f}-{rt[1]:.2f} s" if rt else ""
    sizes = ", ".join(f"{n} {size}" for size, n in summary["rirs"].items())
    n_rirs = summary["totals"]["rirs"]
    return [
        *lines,
        "",
        f"RIRs: {n_rirs} ({sizes}) simulated with pyroomacoustics in shoebox rooms{rt_text};",
        "one row per RIR in `rirs.tsv`.",
        "",
    ]


def _totals(summary: dict) -> list[str]:
    t = summary["totals"]
    lines = [
        "## Totals",
        "",
        f"- clean speech: {t['clean_minutes']:.2f} min in {t['clean_clips']} clips, "
        f"{t['clean_speakers']} speakers",
        f"- noise: {t['noise_minutes']:.2f} min in {t['noise_files']} files",
        f"- RIRs: {t['rirs']}",
        f"- unreadable source files skipped: {t['bad_source_files']}",
    ]
    if summary["below_minimums"]:
        lines.append(
            f"- below what the recipe needs from a full build: {', '.join(summary['below_minimums'])}"
        )
    return lines


def _skips_and_repairs(summary: dict) -> list[str]:
    lines = []
    if summary["bad_source_files"]:
        lines += ["", "## Skipped source files", ""]
        lines += [f"- `{b['path']}`: {b['reason']}" for b in summary["bad_source_files"]]
    if summary["unused_source_files"]:
        lines += ["", "## Source files not used", ""]
        lines += [
            f"- {reason}: {v['files']} files, {v['seconds'] / 60:.1f} min"
            for reason, v in summary["unused_source_files"].items()
        ]
    if summary["repairs"]:
        lines += ["", "## Repairs and counts", ""]
        lines += [f"- {k}: {v}" for k, v in summary["repairs"].items()]
    return lines
