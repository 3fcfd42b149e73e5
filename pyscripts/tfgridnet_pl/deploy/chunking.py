"""Chunked overlap-add processing of long recordings with bounded memory.

A recording of any length arrives as blocks (``soundfile.blocks``); :class:`OverlapAdd` cuts it into
chunks of ``chunk`` samples that start every ``hop = chunk - overlap`` samples, runs a function on
each chunk, and cross-fades consecutive outputs over the ``overlap`` samples they share with
complementary raised-cosine ramps (``fade_in + fade_out == 1`` sample by sample), so an identity
function gives back the input exactly. Output comes out in order as soon as it is final; memory holds
at most about two chunks, whatever the recording's length.

The last chunk is shifted back to end at the end of the recording (so it is a full chunk whenever
the recording is at least one chunk long) and only its part after the already emitted output is
used: the tail of a recording never gets a chunk with less context than the others.

:class:`RunningStd` accumulates a per-channel standard deviation over blocks (a first pass), so
every chunk can be scaled like the whole recording is in full-length processing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

ChunkFn = Callable[[np.ndarray], np.ndarray]


def fade_in(n: int) -> np.ndarray:
    """Raised-cosine ramp of ``n`` samples from ~0 to ~1; ``fade_in(n)[::-1] + fade_in(n) == 1``."""
    if n <= 0:
        return np.zeros(0)
    t = (np.arange(n) + 0.5) / n
    return np.sin(0.5 * np.pi * t) ** 2


class OverlapAdd:
    """Streaming overlap-add: :meth:`push` blocks [n, ch], :meth:`finish` at the end; both yield output.

    Args:
        fn: maps a chunk [m, ch] to an output of the same shape (m <= chunk).
        chunk: chunk length in samples (> overlap).
        overlap: samples shared by consecutive chunks (cross-faded), >= 0.
    """

    def __init__(self, fn: ChunkFn, chunk: int, overlap: int):
        if chunk <= 0 or overlap < 0 or overlap >= chunk:
            raise ValueError(f"need chunk > overlap >= 0, got chunk {chunk}, overlap {overlap}")
        self.fn, self.chunk, self.overlap, self.hop = fn, int(chunk), int(overlap), int(chunk - overlap)
        self.ramp = fade_in(self.overlap)
        self.buffer: np.ndarray | None = None  # input samples from index self.start on
        self.start = 0  # absolute index of self.buffer[0]
        self.pos = 0  # next output sample to emit == start of the next chunk
        self.tail: np.ndarray | None = None  # faded-out end of the last chunk's output, from self.pos
        self.chunks = 0

    def _run(self, segment: np.ndarray) -> np.ndarray:
        out = np.asarray(self.fn(segment))
        if out.shape != segment.shape:
            raise ValueError(f"chunk function returned shape {out.shape} for input {segment.shape}")
        self.chunks += 1
        return out

    def _blend(self, out: np.ndarray) -> np.ndarray:
        """Output from self.pos on: the pending tail cross-faded with the head of ``out``."""
        if self.tail is None:
            return out
        k = min(len(self.tail), len(out))
        head = self.tail[:k] + out[:k] * self.ramp[:k, None]
        return np.concatenate([head, out[k:]])

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Add input samples [n, ch] (or [n]); yield every output sample that is now final."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        self.buffer = block if self.buffer is None else np.concatenate([self.buffer, block])
        # A chunk is run once input exists beyond it: only then is it certain not to be the last one.
        while self.start + len(self.buffer) - self.pos > self.chunk:
            offset = self.pos - self.start
            out = self._run(self.buffer[offset : offset + self.chunk])
            yield self._blend(out[: self.hop])
            self.tail = out[self.hop :] * self.ramp[::-1, None]
            self.pos += self.hop
            keep = max(0, self.pos - self.chunk) - self.start  # the last chunk may reach back a chunk
            if keep > 0:
                self.buffer = self.buffer[keep:]
                self.start += keep

    def finish(self) -> Iterator[np.ndarray]:
        """Process what is left (the last chunk, shifted back to a full chunk when possible)."""
        if self.buffer is None:
            return
        end = self.start + len(self.buffer)
        if end > self.pos:
            first = max(self.start, end - self.chunk)
            out = self._run(self.buffer[first - self.start :])
            yield self._blend(out[self.pos - first :])  # push() leaves > overlap samples after pos
        self.buffer, self.tail, self.pos = None, None, end


def overlap_add(blocks: Iterable[np.ndarray], fn: ChunkFn, chunk: int, overlap: int) -> Iterator[np.ndarray]:
    """Run ``fn`` over ``blocks`` chunk by chunk with :class:`OverlapAdd`; yield the output blocks."""
    ola = OverlapAdd(fn, chunk, overlap)
    for block in blocks:
        yield from ola.push(block)
    yield from ola.finish()


class RunningStd:
    """Per-channel mean and unbiased standard deviation over blocks [n, ch] (float64 sums, Welford merge)."""

    def __init__(self):
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim == 1:
            block = block[:, None]
        n = len(block)
        if n == 0:
            return
        mean = block.mean(axis=0)
        m2 = ((block - mean) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total

    def std(self) -> np.ndarray:
        """Unbiased standard deviation per channel (as ``torch.std``); NaN with fewer than 2 samples."""
        if self.m2 is None or self.count < 2:
            return np.full(0 if self.m2 is None else len(self.m2), np.nan)
        return np.sqrt(self.m2 / (self.count - 1))
