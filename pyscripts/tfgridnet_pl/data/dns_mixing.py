"""On-the-fly DNS-style mixing for training: ESPnet preprocessor ``dns_mixing``.

Each time a training utterance is loaded, it is mixed afresh with noise drawn from ``noise_scp``,
reverberated with a RIR from ``rir_scp`` with probability ``rir_prob``, at an SNR and a speech level
drawn from the same ranges as the fixed sets. The ranges come from the simulation YAML
(conf/simulation.yaml), so on-the-fly and pre-synthesised data follow one definition
(``tfgridnet_pl.data.mixing.mix``). The training data dir then only lists clean speech (``speech_ref1``).

Randomness: every utterance draws its parameters from a generator seeded by NumPy's global
generator, which ESPnet re-seeds each epoch (and each data-loader worker) from ``--seed``. Two models
trained with the same seed and batch settings (DL and PL) therefore see the same mixtures, and every
epoch sees new ones. Validation and inference data (which carry ``speech_mix``) pass through, and a
preprocessor built for them reads no lists (a packed model need not carry the training lists).
"""

from __future__ import annotations

import numpy as np
import soundfile as sf
from espnet2.train.preprocessor import AbsPreprocessor

from tfgridnet_pl.fileio import read_list
from tfgridnet_pl.data.mixing import mix
from tfgridnet_pl.data.simulation_config import load_simulation_config

def read_span(path: str, offset: int, n: int) -> np.ndarray:
    """``n`` samples of a mono file from ``offset``, wrapping around its end (bounded memory)."""
    with sf.SoundFile(path) as f:
        if f.channels != 1:
            raise ValueError(f"{path}: expected mono audio (run stage 1), got {f.channels} channels")
        total = f.frames
        if total == 0:
            raise ValueError(f"{path}: empty audio file")
        out = np.empty(n, dtype=np.float32)
        pos, got = offset % total, 0
        while got < n:
            f.seek(pos)
            chunk = f.read(min(n - got, total - pos), dtype="float32")
            out[got : got + len(chunk)] = chunk
            got += len(chunk)
            pos = 0
    return out


class DNSMixingPreprocessor(AbsPreprocessor):
    """Mix clean ``speech_ref1`` with noise and RIRs on the fly (training only)."""

    def __init__(
        self,
        train: bool,
        simulation_config: str,
        noise_scp: str,
        rir_scp: str,
        speech_ref_name: str = "speech_ref1",
        speech_name: str = "speech_mix",
        noise_ref_name: str = "noise_ref1",
    ):
        super().__init__(train)
        self.speech_ref_name = speech_ref_name
        self.speech_name = speech_name
        self.noise_ref_name = noise_ref_name
        if not train:  # validation and inference only pass data through: no lists needed
            return
        self.cfg = load_simulation_config(simulation_config)
        self.noises = list(read_list(noise_scp).values())
        self.rirs = list(read_list(rir_scp).values())
        if not self.noises:
            raise ValueError(f"dns_mixing: no noise files in {noise_scp}")
        if self.cfg.rir_prob > 0 and not self.rirs:
            raise ValueError(f"dns_mixing: no RIRs in {rir_scp} but rir_prob is {self.cfg.rir_prob}")
        self.noise_frames = [sf.info(p).frames for p in self.noises]

    def draw(self, rng: np.random.Generator, n: int) -> dict:
        """The random parameters of one mixture of ``n`` samples (what meta.tsv holds for fixed sets)."""
        cfg = self.cfg
        k = int(rng.integers(cfg.noises_per_mixture[0], cfg.noises_per_mixture[1] + 1))
        picks = [int(rng.integers(len(self.noises))) for _ in range(k)]
        return {
            "noises": [(self.noises[i], int(rng.integers(self.noise_frames[i]))) for i in picks],
            "rir": self.rirs[int(rng.integers(len(self.rirs)))] if rng.random() < cfg.rir_prob else None,
            "snr_db": float(rng.uniform(*cfg.snr_db)),
            "level_dbfs": float(rng.uniform(*cfg.speech_level_dbfs)),
        }

    def __call__(self, uid: str, data: dict) -> dict:
        if not self.train or self.speech_name in data:
            return data
        speech = np.asarray(data[self.speech_ref_name], dtype=np.float32)
        if speech.ndim != 1:
            raise ValueError(f"dns_mixing: {uid}: expected mono speech, got shape {speech.shape}")
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        p = self.draw(rng, len(speech))
        noises = [read_span(path, offset, len(speech)) for path, offset in p["noises"]]
        rir = None if p["rir"] is None else sf.read(p["rir"], dtype="float32")[0]
        try:
            m = mix(speech, noises, rir, p["snr_db"], p["level_dbfs"], self.cfg.fs,
                    self.cfg.early_reflection_ms, self.cfg.clipping)  # fmt: skip
        except ValueError as err:
            raise ValueError(f"dns_mixing: utterance {uid}: {err} (noises {p['noises']})") from err
        data[self.speech_name] = m.noisy
        data[self.speech_ref_name] = m.target
        data[self.noise_ref_name] = m.noise
        return data
