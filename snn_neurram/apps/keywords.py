"""Spoken keywords made by the project: a temporal benchmark laid out as Google Speech Commands.

The paper's third benchmark is keyword spotting on Google Speech Commands (12 classes, 40 MFCCs),
which cannot be downloaded here. This module synthesises a data set of the same form with the
text-to-speech program ``espeak-ng`` (Debian: ``apt-get install espeak-ng``): one-second clips at
16 kHz, mono.

Vocabulary
    The 12 classes of the Speech Commands keyword-spotting task (``CLASSES``): the ten keywords
    ``yes no up down left right on off stop go``, ``_unknown_`` (one of the 20 other words of
    Speech Commands, ``UNKNOWN_WORDS``) and ``_silence_`` (background noise only). This is the
    task the paper reports, with its open-set classes (a word that is not a keyword, no word at
    all), which ten digits would not exercise.

Voices
    A voice (a "speaker") is an accent (``ACCENTS``: seven English dialects of espeak-ng) with a
    voice variant (``TRAIN_VARIANTS``, ``VAL_VARIANTS``, ``TEST_VARIANTS``: the timbre, formants
    and pitch range of one of 36 espeak-ng variants, male and female, ``espeak-ng
    --voices=variant`` lists them), and a base speed and pitch drawn from the seed
    (``SPEED_WPM``, ``PITCH``). Each voice says every class once.

Split by voice
    The variants are split into train (24), validation (6) and test (6) once and for all: no test
    or validation voice timbre is heard in training. The accents are shared by all splits (as
    dialects recur among the speakers of Speech Commands).

Augmentation (numpy, every draw from generators derived from ``seed`` with ``SeedSequence``)
    espeak-ng's speed (words per minute) and pitch jitter around the voice's base
    (``SPEED_JITTER_WPM``, ``PITCH_JITTER``); a tape-speed change (speed and pitch together) of
    up to ``TAPE_JITTER`` (5 %) applied while resampling to 16 kHz; the speech level (RMS of the
    spoken part, ``LEVEL_DBFS``, dB re full scale); a time shift (the word starts anywhere that
    keeps it inside the 1 s window); stationary coloured noise with power spectrum proportional
    to ``1 / f**beta``, ``beta`` uniform in ``NOISE_BETA`` (white to brown, pink in between), at a
    signal-to-noise ratio uniform in ``snr_db`` (dB: speech RMS over noise RMS, default
    ``DEFAULT_SNR_DB``). ``_silence_`` clips hold the noise a word of the same draw would have.
    The SNR range is the difficulty knob: ``snr_db=(20, 40)`` is nearly clean, ``(-5, 10)`` hard.

Sizes
    ``"full"``: 36 variants x 7 accents = 252 voices x 12 classes = 3024 clips (2016 train, 504
    validation, 504 test), a 98 MB file made in 21 s with 2 espeak-ng processes on 2 cores (38 s
    with one). ``"ci"``: 8 variants (4 / 2 / 2), one accent each, 96 clips, 3 MB, 1.6 s. Both
    are balanced: every voice says every class once.

Difficulty (full, seed 0; accuracy on the test voices)
    ========================  ==========  ==========  ==========
    SNR range (dB)            20 to 40    0 to 20     -5 to 10
    ========================  ==========  ==========  ==========
    logistic regression [1]_  0.748       0.526       0.438
    MLP [1]_                  0.758       0.546       0.446
    ========================  ==========  ==========  ==========

    .. [1] :func:`mfcc_baseline` on time-pooled MFCCs (:func:`pooled_mfcc`).

Cache
    ``<folder>/keywords-<size>-<seed>.npz`` (``-snr<lo>_<hi>`` added for a non-default SNR
    range), ``folder`` by default ``$XDG_CACHE_HOME/snn_neurram`` or ``~/.cache/snn_neurram``,
    written atomically, with its SHA-256 checksum beside it in ``<file>.sha256`` (the format of
    ``sha256sum``, so ``sha256sum -c`` checks it too). The file is an uncompressed npz with fixed
    zip time stamps: the same seed, espeak-ng version and numpy / scipy give the same bytes, and
    so the same checksum. Its arrays: ``audio`` (n, 16000) int16 PCM, ``y``, ``classes``,
    ``voices``, ``split``, ``words``, ``accents``, ``variants`` and the drawn parameters
    ``speed_wpm``, ``pitch``, ``tape``, ``level_db``, ``snr_db``, ``noise_beta``, ``shift``
    (samples), and ``meta`` (a JSON string: generator version, espeak-ng version, size, seed, SNR
    range).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_choice, check_int, check_range
from .._io import atomic_write_bytes

__all__ = ["make_keywords", "load_keywords", "keywords_path", "default_cache_folder",
           "Keywords", "KeywordsCacheError", "CLASSES", "KEYWORDS", "UNKNOWN_WORDS", "ACCENTS",
           "TRAIN_VARIANTS", "VAL_VARIANTS", "TEST_VARIANTS", "SPLITS", "SIZES", "SAMPLE_RATE",
           "CLIP_SAMPLES", "DEFAULT_SNR_DB", "LEVEL_DBFS", "NOISE_BETA", "SPEED_WPM", "PITCH",
           "SPEED_JITTER_WPM", "PITCH_JITTER", "TAPE_JITTER", "GENERATOR_VERSION", "coloured_noise",
           "pooled_mfcc", "mfcc_baseline", "BASELINE_MODELS"]

#: The ten keywords of the Speech Commands keyword-spotting task.
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
#: The other 20 words of Speech Commands (v0.02 without its 5 later words): the ``_unknown_`` class.
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
                 "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero")
#: Class names; a label is an index into this tuple.
CLASSES = KEYWORDS + ("_unknown_", "_silence_")
_UNKNOWN = CLASSES.index("_unknown_")
_SILENCE = CLASSES.index("_silence_")

#: espeak-ng languages: English dialects (en = British English). ``en-us-nyc`` is left out: it
#: says most of the words exactly as ``en-us``.
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
           "en-029")
#: espeak-ng voice variants (file names under ``voices/!v``) of each split, male and female
#: alternating; the first few of each list make the "ci" size.
TRAIN_VARIANTS = ("m1", "f1", "m2", "f2", "m3", "f3", "m4", "Alicia", "m5", "Andrea", "m6",
                  "belinda", "klatt", "linda", "klatt2", "steph", "klatt3", "Alex", "Andy",
                  "david", "john", "max", "paul", "robert")
VAL_VARIANTS = ("m7", "f4", "klatt4", "Annie", "edward", "Michael")
TEST_VARIANTS = ("m8", "f5", "klatt5", "anika", "benjamin", "quincy")
SPLITS = ("train", "val", "test")
_VARIANTS = {"train": TRAIN_VARIANTS, "val": VAL_VARIANTS, "test": TEST_VARIANTS}

SIZES = ("full", "ci")
#: variants per split and accents per variant of each size
_SIZE_PLAN = {"full": ({"train": 24, "val": 6, "test": 6}, len(ACCENTS)),
              "ci": ({"train": 4, "val": 2, "test": 2}, 1)}

SAMPLE_RATE = 16000
#: samples of one clip (1 s)
CLIP_SAMPLES = SAMPLE_RATE
#: default range of the signal-to-noise ratio, dB (speech RMS over noise RMS)
DEFAULT_SNR_DB = (0.0, 20.0)
#: range of the speech level, dB re full scale (RMS of the spoken part of the clip)
LEVEL_DBFS = (-40.0, -20.0)
#: range of the spectral exponent of the background noise (0 white, 1 pink, 2 brown)
NOISE_BETA = (0.0, 2.0)
#: range of a voice's base speed, words per minute (espeak-ng ``-s``)
SPEED_WPM = (130.0, 190.0)
#: range of a voice's base pitch, espeak-ng's 0..99 scale (``-p``)
PITCH = (30.0, 70.0)
#: per-clip jitter around the voice's base: speed (wpm) and pitch (espeak-ng units), +-
SPEED_JITTER_WPM = 15.0
PITCH_JITTER = 8.0
#: per-clip tape-speed change (speed and pitch together), relative, +-
TAPE_JITTER = 0.05
#: version of the recipe: changes whenever the same seed would give other data
GENERATOR_VERSION = 1

_ESPEAK = "espeak-ng"
_AMPLITUDE = 100            # espeak-ng -a: the level is set afterwards, in numpy
_TRIM_DB = -45.0            # start and end of a word: first and last sample above this, re peak
_WORKERS = 2
# stream tags of SeedSequence spawn keys
_VOICE_TAG, _CLIP_TAG, _NOISE_TAG = 1, 2, 3

_Progress = Callable[[int, int], None] | None
_Log = Callable[[str], None] | None


class KeywordsCacheError(ValueError):
    """A cached keyword file does not match its SHA-256 checksum (altered or truncated)."""


class Keywords(NamedTuple):
    """A keyword data set (see the module's docstring).

    Attributes
    ----------
    X : ndarray (n, 16000), float32
        Clips, 1 s at 16 kHz, in [-1, 1].
    y : ndarray (n,), int64
        Labels, indices into ``classes``.
    voices : ndarray (n,), str
        Voice of each clip, ``"<accent>+<variant>"`` (``"en-us+f3"``).
    classes : ndarray (12,), str
        Class names.
    split : ndarray (n,), str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    X: np.ndarray
    y: np.ndarray
    voices: np.ndarray
    classes: np.ndarray
    split: np.ndarray


@dataclass(frozen=True)
class _Voice:
    accent: str
    variant: str
    split: str
    key: tuple[int, int]          # (variant index, accent index): keys the voice's streams

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}"


@dataclass(frozen=True)
class _Clip:
    voice: _Voice
    label: int
    word: str                     # "" for _silence_
    speed_wpm: int
    pitch: int
    tape: float
    level_db: float
    snr_db: float
    noise_beta: float
    shift_u: float                # position of the word in the free room of the window, [0, 1)
    noise_key: tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# paths and checks

def default_cache_folder() -> str:
    """``$XDG_CACHE_HOME/snn_neurram``, or ``~/.cache/snn_neurram`` when it is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "snn_neurram")


def _check_snr(snr_db: Sequence[float]) -> tuple[float, float]:
    if len(snr_db) != 2:
        raise ValueError(f"snr_db must be a (low, high) pair in dB (got {snr_db!r})")
    lo = check_range(snr_db[0], "snr_db[0]", -40.0, 100.0)
    hi = check_range(snr_db[1], "snr_db[1]", -40.0, 100.0)
    if hi < lo:
        raise ValueError(f"snr_db must be (low, high) with low <= high (got {snr_db!r})")
    return lo, hi


def keywords_path(size: str = "full", seed: int = 0,
                  folder: str | os.PathLike[str] | None = None, *,
                  snr_db: Sequence[float] = DEFAULT_SNR_DB) -> str:
    """Path of the cached data set of this size, seed and SNR range.

    Returns
    -------
    str
        ``<folder>/keywords-<size>-<seed>.npz``, with ``-snr<lo>_<hi>`` before ``.npz`` when
        ``snr_db`` is not ``DEFAULT_SNR_DB``.
    """
    check_choice(size, "size", SIZES)
    seed = check_int(seed, "seed", 0, 2 ** 63 - 1)
    lo, hi = _check_snr(snr_db)
    folder = default_cache_folder() if folder is None else os.fspath(folder)
    tag = "" if (lo, hi) == DEFAULT_SNR_DB else f"-snr{lo:g}_{hi:g}"
    return os.path.join(folder, f"keywords-{size}-{seed}{tag}.npz")


def _espeak_or_raise() -> str:
    exe = shutil.which(_ESPEAK)
    if exe is None:
        raise FileNotFoundError("espeak-ng not installed: apt-get install espeak-ng")
    return exe


def _espeak_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"speak NG text-to-speech:\s*(\S+)", out, re.IGNORECASE)
    return match.group(1) if match else out.strip()


def _check_variants(exe: str, variants: Sequence[str]) -> None:
    """espeak-ng silently falls back to its default voice for an unknown variant: refuse that."""
    out = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout
    known = set(re.findall(r"!v/(\S+)", out))
    missing = sorted(set(variants) - known)
    if missing:
        raise RuntimeError(f"espeak-ng lacks the voice variants {', '.join(missing)} "
                           f"(espeak-ng --voices=variant lists those it has)")


# ---------------------------------------------------------------------------------------------
# the plan: every random draw, made before any synthesis

def _voices(size: str) -> list[_Voice]:
    per_split, n_accents = _SIZE_PLAN[size]
    voices = []
    offset = 0
    for split in SPLITS:
        for j, variant in enumerate(_VARIANTS[split][:per_split[split]]):
            v_index = offset + j
            if n_accents == len(ACCENTS):
                accents = range(len(ACCENTS))
            else:
                accents = range(v_index % len(ACCENTS), v_index % len(ACCENTS) + 1)
            for a in accents:
                voices.append(_Voice(ACCENTS[a], variant, split, (v_index, a)))
        offset += len(_VARIANTS[split])
    return voices


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _plan(size: str, seed: int, snr_db: tuple[float, float]) -> list[_Clip]:
    """One clip per voice and class, every parameter drawn from streams keyed by the voice (and
    class): the plan is a pure function of (size, seed, snr_db)."""
    clips = []
    for voice in _voices(size):
        vr = _rng(seed, _VOICE_TAG, *voice.key)
        base_speed, base_pitch = _uniform(vr, SPEED_WPM), _uniform(vr, PITCH)
        for label, name in enumerate(CLASSES):
            cr = _rng(seed, _CLIP_TAG, *voice.key, label)
            word = name
            if label == _UNKNOWN:
                word = UNKNOWN_WORDS[int(cr.integers(len(UNKNOWN_WORDS)))]
            elif label == _SILENCE:
                word = ""
            speed = base_speed + _uniform(cr, (-SPEED_JITTER_WPM, SPEED_JITTER_WPM))
            pitch = base_pitch + _uniform(cr, (-PITCH_JITTER, PITCH_JITTER))
            clips.append(_Clip(
                voice=voice, label=label, word=word, speed_wpm=int(round(speed)),
                pitch=int(np.clip(round(pitch), 0, 99)),
                tape=1.0 + _uniform(cr, (-TAPE_JITTER, TAPE_JITTER)),
                level_db=_uniform(cr, LEVEL_DBFS), snr_db=_uniform(cr, snr_db),
                noise_beta=_uniform(cr, NOISE_BETA), shift_u=float(cr.random()),
                noise_key=(_NOISE_TAG, *voice.key, label)))
    return clips


# ---------------------------------------------------------------------------------------------
# synthesis

def _parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(sample rate in Hz, int16 samples) of espeak-ng's mono 16-bit WAV output. Its streamed
    header carries no data length: the samples are everything after the ``data`` tag."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not write a WAV file")
    rate = int.from_bytes(data[24:28], "little")
    channels = int.from_bytes(data[22:24], "little")
    bits = int.from_bytes(data[34:36], "little")
    start = data.find(b"data", 12)
    if channels != 1 or bits != 16 or start < 0:
        raise RuntimeError(f"unexpected espeak-ng WAV: {channels} channels, {bits} bits")
    payload = data[start + 8:]
    payload = payload[:len(payload) - len(payload) % 2]
    return rate, np.frombuffer(payload, "<i2")


def _synthesise(exe: str, clip: _Clip) -> np.ndarray:
    """The clip's word at 16 kHz (tape speed applied), float64 in [-1, 1], silence trimmed."""
    if not clip.word:
        return np.zeros(0)
    cmd = [exe, "-v", clip.voice.name, "-s", str(clip.speed_wpm), "-p", str(clip.pitch),
           "-a", str(_AMPLITUDE), "--stdout", clip.word]
    rate, pcm = _parse_wav(subprocess.run(cmd, capture_output=True, check=True).stdout)
    return _trim(_resample(pcm.astype(np.float64) / 32768.0, rate, clip.tape))


def _resample(x: np.ndarray, rate: int, tape: float) -> np.ndarray:
    """Resample from ``rate`` to 16 kHz, played ``tape`` times faster (and higher)."""
    from scipy.signal import resample_poly

    ratio = Fraction(SAMPLE_RATE / (rate * tape)).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator)


def _trim(x: np.ndarray) -> np.ndarray:
    """The part of ``x`` between its first and last sample above ``_TRIM_DB`` re its peak."""
    peak = np.abs(x).max() if x.size else 0.0
    if peak == 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) >= peak * 10.0 ** (_TRIM_DB / 20.0))
    return x[loud[0]:loud[-1] + 1]


# ---------------------------------------------------------------------------------------------
# augmentation

def coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian noise of ``n`` samples with power spectrum proportional to
    ``1 / f**beta`` (0 white, 1 pink, 2 brown), zero mean, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    spectrum *= f ** (-beta / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise ** 2))


def _mix(clip: _Clip, speech: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """The clip: the word at its level and time shift plus noise at its SNR, as int16 PCM, and
    the word's first sample (0 for silence)."""
    out = np.zeros(CLIP_SAMPLES)
    level = 10.0 ** (clip.level_db / 20.0)
    start = 0
    if speech.size:
        if speech.size > CLIP_SAMPLES:                   # keep the middle second
            cut = (speech.size - CLIP_SAMPLES) // 2
            speech = speech[cut:cut + CLIP_SAMPLES]
        speech = speech * (level / np.sqrt(np.mean(speech ** 2)))
        start = int(clip.shift_u * (CLIP_SAMPLES - speech.size + 1))
        out[start:start + speech.size] = speech
    noise = coloured_noise(CLIP_SAMPLES, clip.noise_beta, _rng(seed, *clip.noise_key))
    out += noise * (level / 10.0 ** (clip.snr_db / 20.0))
    return np.round(np.clip(out, -1.0, 32767 / 32768) * 32768).astype(np.int16), start


# ---------------------------------------------------------------------------------------------
# the file

def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed npz with fixed time stamps: its bytes are a function of the arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _arrays(clips: list[_Clip], audio: np.ndarray, shifts: list[int],
            meta: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        "audio": audio,
        "y": np.array([c.label for c in clips], np.int64),
        "classes": np.array(CLASSES),
        "voices": np.array([c.voice.name for c in clips]),
        "split": np.array([c.voice.split for c in clips]),
        "words": np.array([c.word for c in clips]),
        "accents": np.array([c.voice.accent for c in clips]),
        "variants": np.array([c.voice.variant for c in clips]),
        "speed_wpm": np.array([c.speed_wpm for c in clips], np.int16),
        "pitch": np.array([c.pitch for c in clips], np.int16),
        "tape": np.array([c.tape for c in clips]),
        "level_db": np.array([c.level_db for c in clips]),
        "snr_db": np.array([c.snr_db for c in clips]),
        "noise_beta": np.array([c.noise_beta for c in clips]),
        "shift": np.array(shifts, np.int32),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }


def _counts(clips: list[_Clip]) -> dict[str, dict[str, int]]:
    counts = {s: {c: 0 for c in CLASSES} for s in SPLITS}
    for clip in clips:
        counts[clip.voice.split][CLASSES[clip.label]] += 1
    return counts


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_checksum(sha_path: str) -> str | None:
    try:
        with open(sha_path, encoding="ascii") as fh:
            text = fh.read().split()
    except (OSError, UnicodeDecodeError):
        return None
    return text[0].lower() if text and re.fullmatch(r"[0-9a-fA-F]{64}", text[0]) else None


# ---------------------------------------------------------------------------------------------
# public API

def make_keywords(folder: str | os.PathLike[str] | None = None, *, size: str = "full",
                  seed: int = 0, snr_db: Sequence[float] = DEFAULT_SNR_DB,
                  workers: int | None = None, progress: _Progress = None,
                  log: _Log = print) -> dict[str, Any]:
    """Synthesise the keyword data set and write it, with its checksum, to the cache.

    Parameters
    ----------
    folder : path, optional
        Cache folder; default :func:`default_cache_folder`.
    size : {"full", "ci"}
        ``"full"``: 3024 clips of 252 voices; ``"ci"``: 96 clips of 8 voices.
    seed : int
        Seed of every random draw (voices' base speed and pitch, jitter, level, SNR, noise,
        time shift, unknown words). The same seed gives bit-identical clips.
    snr_db : (float, float)
        Range of the signal-to-noise ratio, dB; each clip's is drawn uniformly from it.
    workers : int, optional
        espeak-ng processes run at once (default 2). The result does not depend on it.
    progress : callable(done, total), optional
        Called after each clip is synthesised.
    log : callable(str), optional
        Receives a line when generation starts and ends (``None``: silent).

    Returns
    -------
    dict
        ``paths`` (``{"npz": ..., "sha256": ...}``), ``checksum`` (SHA-256 of the npz, hex),
        ``counts`` (``{split: {class: clips}}``), ``seconds`` (wall time of the generation, s),
        ``clips`` (total number).

    Raises
    ------
    FileNotFoundError
        espeak-ng is not installed.
    """
    check_choice(size, "size", SIZES)
    seed = check_int(seed, "seed", 0, 2 ** 63 - 1)
    snr = _check_snr(snr_db)
    workers = _WORKERS if workers is None else check_int(workers, "workers", 1, 64)
    path = keywords_path(size, seed, folder, snr_db=snr)
    exe = _espeak_or_raise()
    t0 = time.perf_counter()
    clips = _plan(size, seed, snr)
    _check_variants(exe, sorted({c.voice.variant for c in clips}))
    if log is not None:
        log(f"keywords: synthesising {len(clips)} clips ({size}, seed {seed}, SNR {snr[0]:g} to "
            f"{snr[1]:g} dB) with {workers} espeak-ng processes")
    audio = np.empty((len(clips), CLIP_SAMPLES), np.int16)
    shifts = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, speech in enumerate(pool.map(lambda c: _synthesise(exe, c), clips)):
            audio[i], shift = _mix(clips[i], speech, seed)
            shifts.append(shift)
            if progress is not None:
                progress(i + 1, len(clips))
    meta = {"generator_version": GENERATOR_VERSION, "espeak_ng": _espeak_version(exe),
            "size": size, "seed": seed, "snr_db": list(snr), "sample_rate": SAMPLE_RATE}
    data = _npz_bytes(_arrays(clips, audio, shifts, meta))
    checksum = _sha256(data)
    atomic_write_bytes(path, data)
    atomic_write_bytes(path + ".sha256",
                       f"{checksum}  {os.path.basename(path)}\n".encode("ascii"))
    seconds = time.perf_counter() - t0
    if log is not None:
        log(f"keywords: wrote {path} ({len(data) / 1e6:.1f} MB) in {seconds:.1f} s")
    return {"paths": {"npz": path, "sha256": path + ".sha256"}, "checksum": checksum,
            "counts": _counts(clips), "seconds": seconds, "clips": len(clips)}


def load_keywords(size: str = "full", seed: int = 0,
                  folder: str | os.PathLike[str] | None = None, *,
                  snr_db: Sequence[float] = DEFAULT_SNR_DB, log: _Log = print) -> Keywords:
    """The keyword data set from the cache, generated first (:func:`make_keywords`) when the
    file or its checksum file is missing.

    Returns
    -------
    Keywords
        ``(X, y, voices, classes, split)``: X (n, 16000) float32 in [-1, 1] (16 kHz), y (n,)
        int64, voices (n,) str, classes (12,) str, split (n,) str.

    Raises
    ------
    KeywordsCacheError
        The file does not match the SHA-256 checksum stored beside it.
    """
    path = keywords_path(size, seed, folder, snr_db=snr_db)
    if not (os.path.exists(path) and os.path.exists(path + ".sha256")):
        make_keywords(folder, size=size, seed=seed, snr_db=snr_db, log=log)
    expected = _read_checksum(path + ".sha256")
    with open(path, "rb") as fh:
        data = fh.read()
    actual = _sha256(data)
    if expected is None or actual != expected:
        raise KeywordsCacheError(
            f"{path} does not match its checksum in {path}.sha256 (expected {expected}, found "
            f"{actual}): the file is altered or truncated. Delete both files to regenerate them, "
            f"or call make_keywords(size={size!r}, seed={seed}).")
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        X = (f["audio"].astype(np.float32) / np.float32(32768.0))
        return Keywords(X, f["y"], f["voices"], f["classes"], f["split"])


BASELINE_MODELS = ("logreg", "mlp")


def pool_frames(M: np.ndarray) -> np.ndarray:
    """Features (n, frames, k) pooled over time: mean, standard deviation, maximum and minimum
    of each of the k features, (n, 4 k). Insensitive to where the word lies in the clip."""
    return np.concatenate([M.mean(1), M.std(1), M.max(1), M.min(1)], axis=1)


def pooled_mfcc(X: np.ndarray) -> np.ndarray:
    """Time-pooled MFCCs of clips (:func:`pool_frames` of :func:`audio_features.mfcc`: 49
    frames of 40 coefficients), (n, 160) float32. Needs librosa."""
    from .audio_features import mfcc

    return pool_frames(mfcc(X))


def mfcc_baseline(size: str = "full", seed: int = 0,
                  folder: str | os.PathLike[str] | None = None, *,
                  snr_db: Sequence[float] = DEFAULT_SNR_DB, model: str = "logreg",
                  log: _Log = print) -> dict[str, float]:
    """Accuracy of a simple classifier trained on the train split's time-pooled MFCCs.

    Parameters
    ----------
    model : {"logreg", "mlp"}
        Standardised features, then a logistic regression (L2, C = 0.01) or an MLP (one hidden
        layer of 256 ReLU, L2 0.01, early stopping, seed 0), from scikit-learn.

    Returns
    -------
    dict
        Accuracy (fraction) on ``"train"``, ``"val"`` and ``"test"``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_choice(model, "model", BASELINE_MODELS)
    data = load_keywords(size, seed, folder, snr_db=snr_db, log=log)
    F = pooled_mfcc(data.X)
    clf: Any = (LogisticRegression(C=0.01, max_iter=3000) if model == "logreg" else
                MLPClassifier((256,), alpha=1e-2, max_iter=300, early_stopping=True,
                              random_state=0))
    train = data.split == "train"
    fitted = make_pipeline(StandardScaler(), clf).fit(F[train], data.y[train])
    return {s: float(fitted.score(F[data.split == s], data.y[data.split == s])) for s in SPLITS}
