"""DNSMOS: our offline scorer against speechmos's reference implementation on real speech.

The speech is the Asterisk prompt set (one US-English speaker, G.722 at 16 kHz) from the Debian package
``asterisk-core-sounds-en-g722``, cached in ``downloads/pkgs/<package>/`` (the layout that
local/make_embedded_corpus.sh uses: the extracted package and a ``.done`` marker). The first run fetches
it with apt (about 10 MB) when the cache is empty.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tfgridnet_pl.scoring import dnsmos as D

ROOT = Path(__file__).resolve().parents[1]
PKGS = ROOT / "downloads" / "pkgs"
ASTERISK = "asterisk-core-sounds-en-g722"
ALLISON = "usr/share/asterisk/sounds/en_US_f_Allison"
SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 20.0, 40.0)
DURATIONS = (0.6, 1.15, 2.0, 2.4, 4.8, 6.0, 9.5, 11.6, 12.4, 36.0)


def debian_package(name: str) -> Path:
    """Extracted tree of a Debian package under downloads/pkgs/<name>/, fetched once with apt."""
    dest = PKGS / name
    if (dest / ".done").is_file():
        return dest
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.fail(f"{dest}/.done is missing and apt-get/dpkg are not available to fetch {name}")
    PKGS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=PKGS, prefix=f".{name}.") as tmp:
        lists = Path(tmp) / "lists"
        (lists / "partial").mkdir(parents=True)
        apt = ["apt-get", "-q", "-o", f"Dir::State::Lists={lists}"]
        subprocess.run([*apt, "update"], check=True, capture_output=True)
        subprocess.run([*apt, "download", name], check=True, capture_output=True, cwd=tmp)
        (deb,) = Path(tmp).glob(f"{name}_*.deb")
        subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
        (dest / ".done").write_text(deb.name + "\n", encoding="utf-8")
    return dest


def load_g722(path: Path) -> np.ndarray:
    import G722

    pcm = np.asarray(G722.G722(16000, 64000).decode(path.read_bytes()), dtype=np.int16)
    return pcm.astype(np.float64) / 32768.0


def noisy_speech(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Real speech cut to DURATIONS and mixed with coloured noise at -5 to 40 dB SNR.

    Each clip is consecutive prompts (in name order, from a different starting prompt) cut to its
    duration. The durations cover the reference's edge cases with few windows (speechmos is slow):
    tiled clips (0.6-4.8 s: one window after tiling; 6 s: three; 2 s: seven, of which only two differ),
    whose length is a whole number of frame pairs or not (1.15 s), one to three windows (9.5-12.4 s),
    and 36 s (windows 0-6 and 24-26; 7-23 are skipped as in the reference).
    """
    folder = debian_package(ASTERISK) / ALLISON
    files = sorted(folder.glob("*.g722"))
    assert len(files) > 100, f"expected the Allison prompts in {folder}"
    rng = np.random.default_rng(seed)
    out = []
    for i, seconds in enumerate(DURATIONS):
        first = i * len(files) // len(DURATIONS)
        parts, total = [], 0
        for path in files[first:] + files[:first]:
            parts.append(load_g722(path))
            total += len(parts[-1])
            if total >= seconds * 16000:
                break
        speech = np.concatenate(parts)[: int(seconds * 16000)]
        noise = rng.standard_normal(len(speech))
        noise = np.convolve(noise, np.ones(1 + 4 * (i % 3)), mode="same")  # white to low-pass
        snr = SNRS_DB[i % len(SNRS_DB)]
        gain = np.sqrt(np.sum(speech**2) / np.sum(noise**2) / 10 ** (snr / 10))
        mix = speech + gain * noise
        mix *= 0.9 / max(0.9, np.max(np.abs(mix)))
        out.append((f"{files[first].stem}+{seconds:g}s@{snr:g}dB", mix))
    return out


@pytest.fixture(scope="module")
def clips():
    return noisy_speech()


@pytest.fixture(scope="module")
def scorer():
    return D.DNSMOS(num_threads=2)


def test_matches_speechmos_on_real_speech(clips, scorer):
    from speechmos import dnsmos as reference

    names = {"P808": "p808_mos", "SIG": "sig_mos", "BAK": "bak_mos", "OVRL": "ovrl_mos"}
    ovrl = []
    for name, audio in clips:
        ours = scorer(audio)
        ref = reference.run(audio, 16000)
        for key, ref_key in names.items():
            assert ours[key] == pytest.approx(float(ref[ref_key]), abs=1e-3), (name, key, ours, ref)
        ovrl.append(ours["OVRL"])
    assert len(clips) >= 10
    assert max(ovrl) - min(ovrl) > 1.0, f"the clips should span a range of quality, got OVRL {ovrl}"
    durations = [len(a) / 16000 for _, a in clips]
    assert min(durations) < 1.0 and max(durations) > 34.0  # tiled short clips and windows past 23 covered


def test_shared_frontend_equals_plain_per_window(clips):
    """The split model with several chunks (and an overlapping last one) equals the untouched model."""
    name, audio = next(c for c in clips if "+12.4s" in c[0])  # 3 windows, 1092 interior frames: 4 chunks
    plain = D.DNSMOS(shared_frontend=False, num_threads=2)(audio)
    chunked = D.DNSMOS(shared_frontend=True, chunk_frames=302, num_threads=2)
    assert chunked.shared_frontend
    shared = chunked(audio)
    for key in D.METRICS:
        assert shared[key] == pytest.approx(plain[key], abs=1e-4), (name, key)


def test_window_starts_follow_the_reference_arithmetic():
    # 10.5 s: int(floor(10.5) - 9.01) + 1 = 1 window; 11 s: 2 windows
    assert D.window_starts(int(10.5 * 16000)) == [0]
    assert D.window_starts(11 * 16000) == [0, 16000]
    # windows 7..23 come out one sample short in float arithmetic and are skipped, as in the reference
    starts = D.window_starts(40 * 16000)
    assert [s // 16000 for s in starts] == [0, 1, 2, 3, 4, 5, 6, 24, 25, 26, 27, 28, 29, 30]
    # a clip shorter than a window is doubled until it is not
    assert len(D.tile_short(np.ones(5 * 16000))) == 10 * 16000
    assert len(D.tile_short(np.ones(3 * 16000))) == 12 * 16000


def test_calibration_polynomial():
    raw = np.array([[1.0, 2.0, 3.0]])
    cal = D.calibrate(raw)
    assert cal["SIG"][0] == pytest.approx(-0.08397278 + 1.22083953 + 0.0052439)
    assert cal["BAK"][0] == pytest.approx(-0.13166888 * 4 + 1.60915514 * 2 - 0.39604546)
    assert cal["OVRL"][0] == pytest.approx(-0.06766283 * 9 + 1.11546468 * 3 + 0.04602535)


def test_bad_input_is_rejected(scorer):
    audio = np.zeros(16000)
    with pytest.raises(ValueError, match="16000 Hz"):
        scorer(audio, fs=8000)
    audio[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        scorer(audio)
    with pytest.raises(ValueError, match="mono"):
        scorer(np.zeros((2, 16000)))
    with pytest.raises(ValueError, match="empty"):
        scorer(np.zeros(0))


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.onnx"):
        D.DNSMOS(primary_model=tmp_path / "nothere.onnx")


def test_benchmark_sections_are_selectable(capsys):
    import benchmark

    benchmark.main(["--list"])
    assert "dnsmos" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown section"):
        benchmark.main(["--only", "dnsmos,nosuch"])
