"""Tell the bot's own echo from a caller: estimate the echo path and take the echo out.

Line echo is the bot's audio coming back down the line late and quieter (a hybrid, a handset, a
speakerphone). A level gate alone (caller louder than the bot's loudest frame minus 15 dB) also
throws away a quiet caller: real phone speech arrives at -30 to -40 dBFS, as quiet as the echo of
a bot speaking at -15 dBFS. This canceller models the echo as what it is, a delayed, filtered copy
of what the bot sent:

* every `update_frames` (every `refit_frames` once a fit is adopted: a call's echo path holds
  still, and a fit costs ~2.5 ms of a SIP worker's loop), the delay is found by normalised
  cross-correlation of the caller's last `window_ms` with the bot's audio up to `max_delay_ms`
  earlier, and a short FIR filter (`taps`) around that delay by least squares;
* each caller frame then has that filter's estimate of the echo subtracted.

Least squares (not an adaptive NLMS filter) because the caller talking over the bot is
uncorrelated with the bot's audio: it adds variance to the estimate, never bias. A fit is only
adopted when it explains most of the caller channel (`converged_erle_db` of echo return loss
enhancement: the bot's echo alone); fits during double talk explain less and are not adopted, so
the filter stays the echo's. Nothing is subtracted before a fit is adopted (a filter fitted to
no echo would add the bot's voice to a silent line), and an adopted filter that no longer takes
anything out (the echo went away) is dropped. Until then the session keeps the level gate,
except on a line that returns nothing of the bot (a softphone with its own echo control, a
recording played into `ivr talk`): while the bot talks the caller channel stays `no_echo_db`
below it, and `echo_free_dbfs` records how quiet it stays, the most an echo there could be.
"""

from __future__ import annotations

import math

import numpy as np

from ivr.audio.frames import FRAME_BYTES, PHONE_RATE

_FRAME = FRAME_BYTES // 2
_EPS = 1e-9


def _erle(near: np.ndarray, echo: np.ndarray) -> float:
    """dB taken out of `near` by subtracting `echo` (negative: subtracting adds)."""
    residual = near - echo
    return 10 * math.log10((float(near @ near) + _EPS) / (float(residual @ residual) + _EPS))


def _dbfs(samples: np.ndarray) -> float:
    power = float(samples @ samples) / samples.size if samples.size else 0.0
    return 10 * math.log10(power / 32768.0 ** 2) if power > 0 else -math.inf


class EchoCanceller:
    """Feed the bot's frames as they are sent (`reference`) and the caller's as they arrive
    (`cancel`), one each per 20 ms tick, in any order within a tick: the n-th caller frame is
    lined up with the n-th bot frame, and the echo delay is measured from there."""

    def __init__(self, window_ms: int = 600, max_delay_ms: int = 600, taps: int = 16,
                 update_frames: int = 5, refit_frames: int = 25,
                 converged_erle_db: float = 12.0, no_echo_db: float = 40.0,
                 rate: int = PHONE_RATE) -> None:
        self.window = rate * window_ms // 1000
        self.max_delay = rate * max_delay_ms // 1000
        self.taps = taps
        self.update_frames = update_frames
        self.refit_frames = refit_frames
        self.converged_erle_db = converged_erle_db
        self.no_echo_db = no_echo_db
        self._ref = np.zeros(self.window + self.max_delay + taps + 4 * _FRAME, np.float32)
        self._ref_end = 0  # samples of bot audio seen (the absolute index after the last)
        self._near = np.zeros(self.window, np.float32)
        self._near_end = 0
        self.delay: int | None = None  # samples from a bot sample to its echo (first tap)
        self.filter = np.zeros(taps, np.float32)
        self.erle_db = 0.0  # echo return loss enhancement of the adopted fit
        self._voiced_end = -self.max_delay - self.window  # after the bot's last non-silent frame
        self.echo_dbfs = -math.inf  # level of the echo estimate in the last frame
        # the caller channel's level while the bot talked, on a line found to return no echo
        # (None: not found so)
        self.echo_free_dbfs: float | None = None

    def reference(self, frame: bytes | None) -> None:
        """The bot's frame sent at this tick (None: silence)."""
        samples = (np.frombuffer(frame, "<i2").astype(np.float32) if frame is not None
                   else np.zeros(_FRAME, np.float32))
        self._ref = np.concatenate((self._ref[len(samples):], samples))
        self._ref_end += len(samples)
        if frame is not None and samples.any():
            self._voiced_end = self._ref_end

    def cancel(self, frame: bytes) -> bytes:
        """The caller's frame of this tick with the estimated echo subtracted."""
        near = np.frombuffer(frame, "<i2").astype(np.float32)
        self._near = np.concatenate((self._near[len(near):], near))
        self._near_end += len(near)
        if self._near_end - self._voiced_end > self.max_delay + self.window:
            self.echo_dbfs = -math.inf  # the bot has been silent longer than any echo lasts
            return frame
        every = self.refit_frames if self.converged else self.update_frames
        if self._near_end % (every * _FRAME) == 0:
            self._fit()
        if not self.converged:
            self.echo_dbfs = -math.inf
            return frame
        # echo[i] = sum_k filter[k] * bot[start + i - k]: one convolution over the span it needs
        start = self._near_end - len(near) - self.delay
        span = self._bot(start - self.taps + 1, len(near) + self.taps - 1)
        echo = np.convolve(span, self.filter, "valid").astype(np.float32)
        self.echo_dbfs = _dbfs(echo)
        return np.clip(np.rint(near - echo), -32768, 32767).astype("<i2").tobytes()

    def _bot(self, start: int, count: int) -> np.ndarray:
        """Bot samples at absolute indices [start, start + count); zeros where not held."""
        out = np.zeros(count, np.float32)
        first = self._ref_end - len(self._ref)
        lo, hi = max(start, first), min(start + count, self._ref_end)
        if lo < hi:
            out[lo - start:hi - start] = self._ref[lo - first:hi - first]
        return out

    def _fit(self) -> None:
        near, w, dmax = self._near.astype(np.float64), self.window, self.max_delay
        seg = self._bot(self._near_end - w - dmax, w + dmax).astype(np.float64)
        bot_dbfs, near_dbfs = _dbfs(seg), _dbfs(near)
        if bot_dbfs >= -60 and near_dbfs < bot_dbfs - self.no_echo_db:
            # nothing of the bot comes back (a caller talking over it would be louder: such
            # windows leave the finding as it was)
            self.echo_free_dbfs = near_dbfs
        if bot_dbfs < -60 or near_dbfs < -70:
            return  # the bot said nothing lately (or the line is dead): keep what we had
        size = 1 << (len(seg) + w).bit_length()
        # xcorr[m] = sum_i near[i] * seg[m + i]; lag d sits at m = dmax - d
        xcorr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(near, size)), size)
        cumulative = np.concatenate(([0.0], np.cumsum(seg * seg)))
        m = np.arange(dmax + 1)
        energy = cumulative[m + w] - cumulative[m]
        score = np.abs(xcorr[:dmax + 1]) / np.sqrt(energy + _EPS)
        best = dmax - int(np.argmax(score))
        first = max(0, best - self.taps // 4)
        columns = self._columns(first)
        gram = columns.T @ columns
        gram += np.eye(self.taps) * (1e-3 * np.trace(gram) / self.taps + _EPS)
        taps = np.linalg.solve(gram, columns.T @ near)
        erle = _erle(near, columns @ taps)
        if erle >= self.converged_erle_db:
            self.delay, self.filter, self.erle_db = first, taps.astype(np.float32), erle
        elif self.delay is not None:
            adopted = self._columns(self.delay) @ self.filter.astype(np.float64)
            if _erle(near, adopted) < -1.0:  # it adds more than it takes out: no echo left
                self.delay, self.erle_db = None, 0.0

    @property
    def converged(self) -> bool:
        """A fit of the echo path is adopted: frames have it subtracted."""
        return self.delay is not None

    def _columns(self, first: int) -> np.ndarray:
        """The bot's audio at lags first..first+taps-1 for each sample of the caller window."""
        w = self.window
        return np.stack([self._bot(self._near_end - w - first - k, w) for k in range(self.taps)],
                        axis=1).astype(np.float64)
