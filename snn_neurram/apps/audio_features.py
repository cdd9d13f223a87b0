"""Features of audio clips for the keyword benchmark: MFCCs (for ANNs) and cochlear spike trains
(for spiking networks, an input like the Spiking Heidelberg Digits').

:func:`mfcc`
    40 MFCCs of 40 ms frames every 20 ms (49 frames per second of audio), from 40 HTK-mel bands
    between 20 Hz and 4 kHz: the input of the Speech Commands keyword-spotting networks (Zhang
    et al. 2017, "Hello Edge"; the paper's third benchmark). Needs ``librosa`` (the ``audio``
    extra), imported when called.

:func:`cochlear_spikes`
    A cochlea model in three stages, numpy only:

    1. filterbank: short-time power spectra (Hann window of ``n_fft`` samples centred on each of
       ``steps`` equally spaced instants), summed through ``channels`` triangular filters spaced
       evenly on the HTK mel scale between ``fmin`` and ``fmax`` (:func:`mel_filterbank`);
    2. envelope: each channel's level in dB re a full-scale sine (a sine of amplitude 1 at the
       channel's centre reads about 0 dB), mapped linearly from ``db_range`` onto a drive in
       [0, 1] (log compression, as the cochlea's);
    3. spikes: one leaky integrate-and-fire hair cell (a fibre) per channel, stepped once per
       time step, ``v <- leak * v + drive``, a spike and ``v <- v - 1`` (reset by subtraction)
       when ``v >= 1``; at most one spike per step. The rate grows with the level (``drive``
       spikes per step on average for ``leak = 1``); a channel whose drive stays below
       ``1 - leak`` never fires (the fibre's threshold: with the defaults, 6 dB above the floor
       of ``db_range``). A rate code rather than threshold crossings of the envelope
       (send-on-delta): in the noise of the keyword clips, the level of a narrow band fluctuates
       by several dB from frame to frame, and a crossing code fired on the noise about as
       often as on the words.

    The result is an int8 array (n, steps, channels) of 0 and 1. On the default keyword clips
    (SNR 0 to 20 dB) about 16 % of the (step, channel) slots of a word clip hold a spike, 9 % of
    a ``_silence_`` clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_int, check_range

__all__ = ["mfcc", "cochlear_spikes", "mel_filterbank", "channel_frequencies", "hz_to_mel",
           "mel_to_hz", "AUDIO_EXTRA_HINT"]

AUDIO_EXTRA_HINT = "pip install 'snn_neurram[audio]'"
_BATCH = 128


def _librosa() -> Any:
    try:
        import librosa
    except ImportError as exc:
        raise ImportError(f"MFCCs need librosa: {AUDIO_EXTRA_HINT} (or pip install librosa)") \
            from exc
    return librosa


def _clips(X: ArrayLike) -> np.ndarray:
    """``X`` as float32 (n, samples); one 1-D clip becomes n = 1."""
    arr = as_finite_array(X, "X", dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"X must be clips of shape (n, samples) (got shape {arr.shape})")
    return np.ascontiguousarray(arr)


# ---------------------------------------------------------------------------------------------
# mel scale

def hz_to_mel(f: ArrayLike) -> np.ndarray:
    """HTK mel of frequencies ``f`` (Hz): ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: ArrayLike) -> np.ndarray:
    """Frequencies (Hz) of HTK mels ``m``: the inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def channel_frequencies(channels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequencies (Hz) of ``channels`` filters evenly spaced in mel between ``fmin`` and
    ``fmax`` (Hz), the edges excluded."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), channels + 2))
    return edges[1:-1]


def mel_filterbank(sr: float, n_fft: int, channels: int, fmin: float,
                   fmax: float) -> np.ndarray:
    """Triangular filters on the HTK mel scale, (channels, n_fft // 2 + 1), float64.

    Filter ``c`` rises from 0 at edge ``c`` to 1 at its centre and falls back to 0 at edge
    ``c + 2`` (linearly in Hz), the ``channels + 2`` edges evenly spaced in mel from ``fmin`` to
    ``fmax`` (Hz). Rows are evaluated at the FFT bins ``k * sr / n_fft``; a filter narrower than
    a bin keeps the weight of the bin nearest its centre, so that no channel is empty.
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), channels + 2))
    bins = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (bins[None] - lo) / (mid - lo)
    fall = (hi - bins[None]) / (hi - mid)
    W = np.clip(np.minimum(rise, fall), 0.0, None)
    empty = ~W.any(axis=1)
    if empty.any():
        nearest = np.abs(bins[None] - edges[1:-1, None]).argmin(axis=1)
        W[np.flatnonzero(empty), nearest[empty]] = 1.0
    return W


# ---------------------------------------------------------------------------------------------
# MFCC

def mfcc(X: ArrayLike, sr: int = 16000, n_mfcc: int = 40, *, n_fft: int = 640,
         hop_length: int = 320, n_mels: int = 40, fmin: float = 20.0, fmax: float = 4000.0,
         top_db: float | None = 80.0) -> np.ndarray:
    """Mel-frequency cepstral coefficients of clips, computed with librosa.

    Parameters
    ----------
    X : array (n, samples) or (samples,)
        Clips, amplitude in [-1, 1].
    sr : int
        Sample rate, Hz.
    n_mfcc : int
        Coefficients per frame (at most ``n_mels``).
    n_fft, hop_length : int
        Frame length and step, samples (defaults: 40 ms and 20 ms at 16 kHz). Frames are not
        centred (no padding): ``1 + (samples - n_fft) // hop_length`` frames, 49 for 1 s.
    n_mels : int
        Mel bands (HTK mel scale, triangular filters) between ``fmin`` and ``fmax`` (Hz).
    top_db : float or None
        Floor of each clip's log-mel spectrogram, dB below that clip's own maximum (each clip
        alone: the features of a clip do not depend on the others in ``X``).

    Returns
    -------
    ndarray (n, frames, n_mfcc), float32
        DCT-II (orthonormal) of the log-mel power spectrum (dB) of each frame.

    Raises
    ------
    ImportError
        librosa is not installed.
    """
    librosa = _librosa()
    X = _clips(X)
    sr = check_int(sr, "sr", 1)
    n_mels = check_int(n_mels, "n_mels", 1)
    n_mfcc = check_int(n_mfcc, "n_mfcc", 1, n_mels)
    n_fft = check_int(n_fft, "n_fft", 2, X.shape[1])
    hop_length = check_int(hop_length, "hop_length", 1)
    fmax = check_range(fmax, "fmax", 0.0, sr / 2.0, lo_open=True)
    fmin = check_range(fmin, "fmin", 0.0, fmax, hi_open=True)
    out = []
    for start in range(0, len(X), _BATCH):
        S = librosa.feature.melspectrogram(
            y=X[start:start + _BATCH], sr=sr, n_fft=n_fft, hop_length=hop_length, center=False,
            power=2.0, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=True, norm="slaney")
        log_S = 10.0 * np.log10(np.maximum(S, 1e-10))
        if top_db is not None:
            floor = log_S.max(axis=(-2, -1), keepdims=True) - check_range(top_db, "top_db", 0.0)
            log_S = np.maximum(log_S, floor)
        coef = librosa.feature.mfcc(S=log_S, n_mfcc=n_mfcc, dct_type=2, norm="ortho")
        out.append(np.swapaxes(coef, 1, 2).astype(np.float32))
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# cochlear spikes

def _band_levels(X: np.ndarray, sr: float, steps: int, n_fft: int, W: np.ndarray) -> np.ndarray:
    """Level (dB re a full-scale sine) of each channel at each step, (n, steps, channels)."""
    n_samples = X.shape[1]
    centres = (2 * np.arange(steps) + 1) * n_samples // (2 * steps)
    padded = np.pad(X, ((0, 0), (n_fft // 2, n_fft - n_fft // 2)))
    window = np.hanning(n_fft + 2)[1:-1].astype(np.float32)     # Hann without its zero ends
    frames = padded[:, centres[:, None] + np.arange(n_fft)[None]] * window
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    power *= 2.0 / (n_fft * float(np.sum(window.astype(np.float64) ** 2)))   # sum = mean power
    band = power @ W.T
    return 10.0 * np.log10(band / 0.5 + 1e-12)


def _lif(drive: np.ndarray, leak: float) -> np.ndarray:
    v = np.zeros(drive.shape[::2], np.float64)
    spikes = np.zeros(drive.shape, np.int8)
    for t in range(drive.shape[1]):
        v = leak * v + drive[:, t]
        fired = v >= 1.0
        v -= fired
        spikes[:, t] = fired
    return spikes


def cochlear_spikes(X: ArrayLike, sr: int = 16000, channels: int = 64, steps: int = 100, *,
                    fmin: float = 100.0, fmax: float | None = None, n_fft: int = 512,
                    db_range: Sequence[float] = (-70.0, -10.0), leak: float = 0.9) -> np.ndarray:
    """Spike trains of a cochlea model (mel filterbank, log envelope, a LIF hair cell per
    channel); see the module's docstring.

    Parameters
    ----------
    X : array (n, samples) or (samples,)
        Clips, amplitude in [-1, 1] (full scale 1).
    sr : int
        Sample rate, Hz.
    channels : int
        Filters (and fibres), evenly spaced on the HTK mel scale from ``fmin`` to ``fmax`` (Hz;
        ``fmax`` defaults to ``sr / 2``).
    steps : int
        Time steps the clip is cut into (100 steps of 1 s: 10 ms each).
    n_fft : int
        Analysis window, samples (512 at 16 kHz: 32 ms), centred on each step.
    db_range : (float, float)
        Levels (dB re a full-scale sine) mapped onto drive 0 and 1; levels outside are clipped.
    leak : float
        Decay of the hair cell's potential per step, in [0, 1] (1: no leak, a perfect
        integrator).

    Returns
    -------
    ndarray (n, steps, channels), int8
        1 where a fibre spikes in a step, else 0; channel 0 is the lowest frequency.
    """
    X = _clips(X)
    sr = check_int(sr, "sr", 1)
    channels = check_int(channels, "channels", 1)
    steps = check_int(steps, "steps", 1, X.shape[1])
    n_fft = check_int(n_fft, "n_fft", 2)
    fmax = sr / 2.0 if fmax is None else check_range(fmax, "fmax", 0.0, sr / 2.0, lo_open=True)
    fmin = check_range(fmin, "fmin", 0.0, fmax, hi_open=True)
    if len(db_range) != 2:
        raise ValueError(f"db_range must be (low, high) in dB (got {db_range!r})")
    lo, hi = (check_range(v, "db_range", -300.0, 300.0) for v in db_range)
    if hi <= lo:
        raise ValueError(f"db_range must be (low, high) with low < high (got {db_range!r})")
    leak = check_range(leak, "leak", 0.0, 1.0)
    W = mel_filterbank(sr, n_fft, channels, fmin, fmax).astype(np.float32)
    out = []
    for start in range(0, len(X), _BATCH):
        level = _band_levels(X[start:start + _BATCH], sr, steps, n_fft, W)
        out.append(_lif(np.clip((level - lo) / (hi - lo), 0.0, 1.0), leak))
    return np.concatenate(out)
