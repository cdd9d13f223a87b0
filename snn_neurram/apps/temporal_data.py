"""Temporal and neuromorphic data sets, read from a folder the user names.

Nothing is downloaded: users who have a data set point the loader at its folder, laid out as the
data set is distributed.

- **Google Speech Commands v0.02** (:func:`load_speech_commands`): one subfolder per word of
  16 kHz mono WAV files, ``_background_noise_/``, ``validation_list.txt`` and
  ``testing_list.txt``. The 12-class keyword-spotting task: 10 keywords, ``_unknown_`` (the other
  words) and ``_silence_`` (1 s cuts of the background noise).
- **Spiking Heidelberg Digits** (:func:`load_shd`; Cramer et al. 2020): ``shd_train.h5`` and
  ``shd_test.h5`` (HDF5, read with ``h5py``, the ``audio`` extra), 700 input channels, 20
  classes.
- **N-MNIST** (:func:`load_nmnist`; Orchard et al. 2015): ``Train/`` and ``Test/`` with class
  subfolders ``0`` .. ``9`` of ``.bin`` event files from a 34 x 34 two-polarity sensor.

Spike trains come out binned in time with at most one spike per bin and input channel (int8 0 or
1): a row of the chip takes one input pulse per cycle, so several events of one channel in one
bin are one pulse.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_range
from .._seeds import check_seed

__all__ = ["load_speech_commands", "load_shd", "load_nmnist", "read_wav", "read_nmnist_events",
           "SPEECH_COMMANDS_KEYWORDS", "SPEECH_SAMPLE_RATE", "UNKNOWN", "SILENCE",
           "BACKGROUND_SPLITS", "SHD_CHANNELS", "NMNIST_SIZE"]

#: The 10 keywords of the standard 12-class task.
SPEECH_COMMANDS_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
#: Sample rate of Speech Commands, Hz; a clip is 1 s of it.
SPEECH_SAMPLE_RATE = 16000
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
#: Which part of every background-noise recording each split cuts its silence clips from, as
#: fractions of the recording's length: disjoint, so no noise is shared between splits.
BACKGROUND_SPLITS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
#: Input channels (cochlea-model units) of the Spiking Heidelberg Digits.
SHD_CHANNELS = 700
#: Width and height of the N-MNIST sensor, pixels.
NMNIST_SIZE = 34

_BACKGROUND = "_background_noise_"
_SC_HINT = "is this the Speech Commands v0.02 folder?"
_SHD_HINT = "is this the folder of the Spiking Heidelberg Digits (shd_train.h5, shd_test.h5)?"
_NMNIST_HINT = "is this the N-MNIST folder (Train/ and Test/ with class folders 0 .. 9)?"
_H5PY_HINT = "pip install 'snn_neurram[audio]'"


# ---------------------------------------------------------------------------------------------
# shared helpers

def _folder(folder: str | os.PathLike[str], hint: str) -> str:
    path = os.fspath(folder)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"folder {path} does not exist or is not a folder: {hint}")
    return path


def _optional_count(value: Any, name: str) -> int | None:
    return None if value is None else check_int(value, name, 1)


def _stream(seed: int | None, purpose: str) -> np.random.Generator:
    """An independent generator per purpose, a pure function of (seed, purpose)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(zlib.crc32(purpose.encode()),)))


def _bin_events(times: np.ndarray, channels: np.ndarray, steps: int, span: float,
                n_channels: int) -> np.ndarray:
    """Events at ``times`` on ``channels`` as an int8 (steps, n_channels) raster of 0 and 1.

    Bin k holds the events with ``k * span / steps <= t < (k + 1) * span / steps``; events at or
    after ``span`` are dropped.
    """
    out = np.zeros((steps, n_channels), dtype=np.int8)
    t = np.asarray(times, dtype=np.float64)
    keep = t < span
    k = np.floor(t[keep] * steps / span).astype(np.int64)
    out[np.minimum(k, steps - 1), np.asarray(channels)[keep]] = 1
    return out


# ---------------------------------------------------------------------------------------------
# Google Speech Commands

def read_wav(path: str | os.PathLike[str]) -> tuple[int, np.ndarray]:
    """A mono WAV file as (sample rate in Hz, float32 samples in [-1, 1]).

    Integer PCM is scaled by its full scale (int16 by 1/32768, 24- and 32-bit by 1/2**31,
    unsigned 8-bit as (x - 128) / 128); float files are returned as stored.

    Raises
    ------
    ValueError
        The file is not a WAV file scipy can read, or has more than one channel.
    """
    from scipy.io import wavfile

    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except ValueError as exc:
        raise ValueError(f"{path} is not a readable WAV file ({exc})") from None
    if data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 1:
        raise ValueError(f"{path} has {data.shape[1]} channels: Speech Commands files are mono")
    return int(rate), _wav_to_float(data)


def _wav_to_float(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    full_scale = float(2 ** (8 * data.dtype.itemsize - 1))
    return (data.astype(np.float64) / full_scale).astype(np.float32)


def _read_16k(path: str) -> np.ndarray:
    rate, data = read_wav(path)
    if rate != SPEECH_SAMPLE_RATE:
        raise ValueError(f"{path} is sampled at {rate} Hz; Speech Commands files are "
                         f"{SPEECH_SAMPLE_RATE} Hz")
    return data


def _one_second(data: np.ndarray) -> np.ndarray:
    """Crop to the first second, or pad with zeros at the end up to one second."""
    out = np.zeros(SPEECH_SAMPLE_RATE, dtype=np.float32)
    n = min(len(data), SPEECH_SAMPLE_RATE)
    out[:n] = data[:n]
    return out


def _read_list(folder: str, name: str) -> set[str]:
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {name} in {folder}: {_SC_HINT}")
    with open(path, encoding="utf-8") as fh:
        return {line.strip().replace("\\", "/") for line in fh if line.strip()}


def _word_files(folder: str, word: str) -> list[str]:
    """Relative paths ("word/file.wav") of the WAV files of one word, sorted."""
    return sorted(f"{word}/{name}" for name in os.listdir(os.path.join(folder, word))
                  if name.lower().endswith(".wav"))


def _check_keywords(keywords: Sequence[str]) -> tuple[str, ...]:
    if isinstance(keywords, str):
        raise ValueError(f"keywords must be a sequence of words, not one string (got "
                         f"{keywords!r})")
    words = tuple(keywords)
    if not words:
        raise ValueError("keywords must name at least one word (got an empty sequence)")
    for w in words:
        if not isinstance(w, str) or not w or w.startswith("_") or "/" in w:
            raise ValueError(f"keywords must be word folder names (no leading '_', no '/'); "
                             f"got {w!r}")
    if len(set(words)) != len(words):
        raise ValueError(f"keywords must not repeat a word (got {list(words)})")
    return words


def _other_words(folder: str, keywords: tuple[str, ...]) -> list[str]:
    """The word folders that are not keywords (``_background_noise_`` and hidden ones left out)."""
    return sorted(name for name in os.listdir(folder)
                  if os.path.isdir(os.path.join(folder, name)) and name not in keywords
                  and not name.startswith(("_", ".")))


def _in_split(files: list[str], split: str, validation: set[str], testing: set[str]) -> list[str]:
    if split == "validation":
        return [f for f in files if f in validation]
    if split == "test":
        return [f for f in files if f in testing]
    return [f for f in files if f not in validation and f not in testing]


def _check_listed(folder: str, words: list[str], name: str, listed: set[str]) -> None:
    """Every file the list names in one of ``words`` must exist."""
    wanted = set(words)
    missing = sorted(f for f in listed if f.split("/", 1)[0] in wanted
                     and not os.path.isfile(os.path.join(folder, f)))
    if missing:
        raise FileNotFoundError(f"{name} in {folder} names {len(missing)} file(s) that are not "
                                f"there, e.g. {missing[0]}: {_SC_HINT}")


def _subset(files: list[str], n: int | None, rng: np.random.Generator) -> list[str]:
    """``n`` of ``files`` drawn without replacement (all when n is None or >= len), sorted."""
    if n is None or n >= len(files):
        return list(files)
    pick = rng.choice(len(files), size=n, replace=False)
    return sorted(files[i] for i in pick)


def _background_segments(folder: str, split: str) -> list[np.ndarray]:
    """The part of every background recording that belongs to ``split`` (see BACKGROUND_SPLITS)."""
    noise_dir = os.path.join(folder, _BACKGROUND)
    if not os.path.isdir(noise_dir):
        raise FileNotFoundError(f"no {_BACKGROUND} folder in {folder} (the source of the "
                                f"{SILENCE} clips; pass silence=False to leave them out): "
                                f"{_SC_HINT}")
    names = sorted(n for n in os.listdir(noise_dir) if n.lower().endswith(".wav"))
    if not names:
        raise FileNotFoundError(f"no WAV files in {noise_dir}: {_SC_HINT}")
    lo, hi = BACKGROUND_SPLITS[split]
    segments = []
    for name in names:
        data = _read_16k(os.path.join(noise_dir, name))
        segments.append(data[int(lo * len(data)):int(hi * len(data))])
    return segments


def _cut_silence(folder: str, split: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` one-second windows of background noise, (n, 16000) float32."""
    out = np.zeros((n, SPEECH_SAMPLE_RATE), dtype=np.float32)
    if n == 0:
        return out
    segments = [s for s in _background_segments(folder, split) if len(s) >= SPEECH_SAMPLE_RATE]
    if not segments:
        lo, hi = BACKGROUND_SPLITS[split]
        raise ValueError(f"no recording in {os.path.join(folder, _BACKGROUND)} is long enough to "
                         f"cut 1 s from its {split} part (fraction {lo:g} to {hi:g} of its "
                         f"length)")
    for i in range(n):
        seg = segments[int(rng.integers(len(segments)))]
        start = int(rng.integers(len(seg) - SPEECH_SAMPLE_RATE + 1))
        out[i] = seg[start:start + SPEECH_SAMPLE_RATE]
    return out


def load_speech_commands(folder: str | os.PathLike[str], *,
                         keywords: Sequence[str] = SPEECH_COMMANDS_KEYWORDS,
                         unknown: bool = True, silence: bool = True, split: str = "train",
                         max_per_class: int | None = None, seed: int | None = 0,
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Google Speech Commands v0.02 as the 12-class keyword-spotting task.

    Parameters
    ----------
    folder : str or path
        The extracted data set: one subfolder per word of 16 kHz mono WAV files,
        ``_background_noise_/``, ``validation_list.txt`` and ``testing_list.txt``.
    keywords : sequence of str
        The keyword classes, in label order (default: the 10 words of the standard task).
    unknown : bool
        Add the class ``_unknown_``: clips of every other word.
    silence : bool
        Add the class ``_silence_``: 1 s cuts of the recordings in ``_background_noise_``.
    split : {"train", "validation", "test"}
        ``validation`` and ``test`` are the files that ``validation_list.txt`` and
        ``testing_list.txt`` name; ``train`` is every other file.
    max_per_class : int, optional
        At most this many clips per keyword class, drawn at random (seeded) from the split
        (``_unknown_`` and ``_silence_``, the size of an average keyword class, then hold at
        most as many too).
    seed : int or None
        Seed of the random draws (unknown clips, silence cuts, ``max_per_class`` subsets); each
        purpose has its own stream. None draws fresh entropy.

    Returns
    -------
    waveforms : ndarray (n, 16000), float32
        1 s at 16 kHz, in [-1, 1] (int16 PCM divided by 32768). Shorter clips are padded with
        zeros at the end, longer ones cropped to their first second.
    labels : ndarray (n,), int64
        Index into ``class_names``.
    class_names : list of str
        ``keywords``, then ``"_unknown_"`` and ``"_silence_"`` when asked for.

    Notes
    -----
    Class sizes follow the TensorFlow recipe of the task (unknown and silence each 10 % of the
    keyword clips when there are 10 keywords): with ``K`` keyword clips in the split (after
    ``max_per_class``) and ``k`` keywords, ``_unknown_`` holds ``ceil(K / k)`` clips drawn
    without replacement from the split's clips of the other words (all of them if there are
    fewer), and ``_silence_`` holds ``ceil(K / k)`` clips -- the size of an average keyword
    class. A silence clip is a window of 16000 consecutive samples of one background recording,
    as recorded (no gain): the recording is drawn uniformly among those long enough, the start
    uniformly among the possible starts. Each split cuts only from its own part of every
    recording -- train the first 80 % of its samples, validation the next 10 %, test the last
    10 % (:data:`BACKGROUND_SPLITS`) -- so no noise is shared between splits.

    Samples come class by class in label order; within a word class by relative path, silence
    clips in the order drawn.

    Raises
    ------
    FileNotFoundError
        The folder, a list file, a keyword's folder, ``_background_noise_`` (when
        ``silence=True``) or a file a list names is missing.
    ValueError
        A bad argument, or a WAV file that is not 16 kHz mono.
    """
    keywords = _check_keywords(keywords)
    check_choice(split, "split", tuple(BACKGROUND_SPLITS))
    max_per_class = _optional_count(max_per_class, "max_per_class")
    seed = check_seed(seed)
    check_choice(unknown, "unknown", (True, False))
    check_choice(silence, "silence", (True, False))
    root = _folder(folder, _SC_HINT)
    validation = _read_list(root, "validation_list.txt")
    testing = _read_list(root, "testing_list.txt")
    for word in keywords:
        if not os.path.isdir(os.path.join(root, word)):
            raise FileNotFoundError(f"no folder {word!r} (a keyword) in {root}: {_SC_HINT}")
    others = _other_words(root, keywords) if unknown else []
    for name, listed in (("validation_list.txt", validation), ("testing_list.txt", testing)):
        _check_listed(root, list(keywords) + others, name, listed)

    per_class = [_subset(_in_split(_word_files(root, w), split, validation, testing),
                         max_per_class, _stream(seed, f"subset {w}")) for w in keywords]
    n_extra = math.ceil(sum(map(len, per_class)) / len(keywords))
    class_names = list(keywords)
    if unknown:
        pool = [f for w in others for f in _in_split(_word_files(root, w), split, validation,
                                                     testing)]
        per_class.append(_subset(pool, n_extra, _stream(seed, "unknown")))
        class_names.append(UNKNOWN)
    clips = [_one_second(_read_16k(os.path.join(root, f))) for files in per_class for f in files]
    labels = [c for c, files in enumerate(per_class) for _ in files]
    waves = np.stack(clips) if clips else np.zeros((0, SPEECH_SAMPLE_RATE), dtype=np.float32)
    if silence:
        quiet = _cut_silence(root, split, n_extra, _stream(seed, "silence"))
        waves = np.concatenate([waves, quiet])
        labels += [len(class_names)] * len(quiet)
        class_names.append(SILENCE)
    return waves, np.asarray(labels, dtype=np.int64), class_names


# ---------------------------------------------------------------------------------------------
# Spiking Heidelberg Digits

def _import_h5py() -> ModuleType:
    try:
        import h5py
    except ImportError:
        raise ImportError(f"reading the SHD files needs h5py: {_H5PY_HINT}") from None
    return h5py


def _shd_path(folder: str, split: str) -> str:
    name = f"shd_{split}.h5"
    path = os.path.join(folder, name)
    if os.path.isfile(path):
        return path
    for packed in (".gz", ".zip"):
        if os.path.isfile(path + packed):
            raise FileNotFoundError(f"no {name} in {folder}, only {name}{packed}: unpack it "
                                    f"first (the loader reads the HDF5 file itself)")
    raise FileNotFoundError(f"no {name} in {folder}: {_SHD_HINT}")


def _shd_dataset(f: Any, path: str, key: str, n: int | None) -> np.ndarray:
    if key not in f:
        raise ValueError(f"{path} has no dataset {key!r}: is this an SHD file?")
    ds = f[key]
    return np.asarray(ds[:] if n is None else ds[:n])


def _check_shd_sample(path: str, i: int, times: np.ndarray, units: np.ndarray) -> None:
    if times.shape != units.shape:
        raise ValueError(f"{path}: sample {i} has {times.size} spike times but {units.size} "
                         f"units")
    if times.size and not (np.all(np.isfinite(times)) and times.min() >= 0):
        raise ValueError(f"{path}: sample {i} has a negative or non-finite spike time")
    if units.size and (units.min() < 0 or units.max() >= SHD_CHANNELS):
        raise ValueError(f"{path}: sample {i} has a unit outside 0 .. {SHD_CHANNELS - 1} "
                         f"(got {units.min()} .. {units.max()})")


def _read_shd(path: str, n: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    h5py = _import_h5py()
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not an HDF5 file ({exc})") from None
    with fh:
        times = _shd_dataset(fh, path, "spikes/times", n)
        units = _shd_dataset(fh, path, "spikes/units", n)
        labels = _shd_dataset(fh, path, "labels", n)
        speakers = _shd_dataset(fh, path, "extra/speaker", n)
    counts = {len(times), len(units), len(labels), len(speakers)}
    if len(counts) != 1:
        raise ValueError(f"{path}: spikes/times, spikes/units, labels and extra/speaker hold "
                         f"{len(times)}, {len(units)}, {len(labels)} and {len(speakers)} "
                         f"samples; they must agree")
    return times, units, labels.astype(np.int64), speakers.astype(np.int64)


def load_shd(folder: str | os.PathLike[str], split: str = "train", *, steps: int = 100,
             duration: float = 1.0, max_samples: int | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Spiking Heidelberg Digits as binned spike trains.

    Parameters
    ----------
    folder : str or path
        The folder that holds ``shd_train.h5`` and ``shd_test.h5`` (unpacked).
    split : {"train", "test"}
    steps : int
        Number of time bins, each ``duration / steps`` seconds wide.
    duration : float
        Time span that is binned, s (a Brian2 quantity in seconds is accepted): spikes at or
        after ``duration`` are dropped. SHD recordings last up to about 1.4 s, most under 1 s.
    max_samples : int, optional
        Read only the first this many samples of the file (in file order).

    Returns
    -------
    spikes : ndarray (n, steps, 700), int8
        1 where a unit spiked at least once in a bin, else 0 (several spikes of a unit in one
        bin are one input pulse: a chip row takes one pulse per cycle). Bin ``k`` covers
        ``[k, k + 1) * duration / steps``.
    labels : ndarray (n,), int64
        Class 0 .. 19 (English digits 0-9, then German 0-9).
    speakers : ndarray (n,), int64
        Speaker of each sample (``extra/speaker``).

    Notes
    -----
    The file holds ``spikes/times`` (one float array per sample, s), ``spikes/units`` (one
    integer array per sample, 0 .. 699), ``labels`` and ``extra/speaker``. The full training
    set binned at 100 steps is about 0.57 GB.

    Raises
    ------
    ImportError
        h5py is not installed.
    FileNotFoundError
        The folder or the split's file is missing.
    ValueError
        A bad argument, a file that is not HDF5 or lacks a dataset, or malformed spikes.
    """
    check_choice(split, "split", ("train", "test"))
    steps = check_int(steps, "steps", 1)
    duration = check_range(duration, "duration", 0.0, lo_open=True, unit="second")
    max_samples = _optional_count(max_samples, "max_samples")
    path = _shd_path(_folder(folder, _SHD_HINT), split)
    times, units, labels, speakers = _read_shd(path, max_samples)
    spikes = np.zeros((len(labels), steps, SHD_CHANNELS), dtype=np.int8)
    for i in range(len(labels)):
        t = np.asarray(times[i], dtype=np.float64)
        u = np.asarray(units[i], dtype=np.int64)
        _check_shd_sample(path, i, t, u)
        spikes[i] = _bin_events(t, u, steps, duration, SHD_CHANNELS)
    return spikes, labels, speakers


# ---------------------------------------------------------------------------------------------
# N-MNIST

def read_nmnist_events(path: str | os.PathLike[str],
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The events of one N-MNIST ``.bin`` file as (x, y, polarity, t), int64 arrays.

    Each event is 5 bytes (40 bits, most significant first): byte 0 is x, byte 1 is y (pixels,
    0 .. 33), bit 7 of byte 2 the polarity (0 OFF, 1 ON), and the remaining 23 bits (bits 0-6
    of byte 2, then bytes 3 and 4) the timestamp in microseconds.

    Raises
    ------
    ValueError
        The file is not a whole number of events, or an event lies outside the 34 x 34 sensor.
    """
    path = os.fspath(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 5-byte events: "
                         f"is this an N-MNIST .bin file?")
    ev = raw.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    polarity = ev[:, 2] >> 7
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    bad = np.flatnonzero((x >= NMNIST_SIZE) | (y >= NMNIST_SIZE))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{path}: event {i} is at x={x[i]}, y={y[i]}, outside the "
                         f"{NMNIST_SIZE} x {NMNIST_SIZE} sensor: is this an N-MNIST .bin file?")
    return x, y, polarity, t


def _nmnist_split_dir(folder: str, split: str) -> str:
    for name in (split.capitalize(), split):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            return path
    raise FileNotFoundError(f"no {split.capitalize()}/ folder in {folder}: {_NMNIST_HINT}")


def _nmnist_files(split_dir: str, max_per_class: int | None) -> list[tuple[str, int]]:
    missing = [str(c) for c in range(10) if not os.path.isdir(os.path.join(split_dir, str(c)))]
    if missing:
        raise FileNotFoundError(f"no class folder(s) {', '.join(missing)} in {split_dir}: "
                                f"{_NMNIST_HINT}")
    files = []
    for c in range(10):
        class_dir = os.path.join(split_dir, str(c))
        names = sorted(n for n in os.listdir(class_dir) if n.lower().endswith(".bin"))
        files += [(os.path.join(class_dir, n), c) for n in names[:max_per_class]]
    if not files:
        raise FileNotFoundError(f"no .bin files in the class folders of {split_dir}: "
                                f"{_NMNIST_HINT}")
    return files


def _nmnist_raster(path: str, steps: int, duration_us: float | None) -> np.ndarray:
    x, y, polarity, t = read_nmnist_events(path)
    channel = (polarity * NMNIST_SIZE + y) * NMNIST_SIZE + x
    span = duration_us if duration_us is not None else float(t.max() + 1 if t.size else 1)
    raster = _bin_events(t, channel, steps, span, 2 * NMNIST_SIZE * NMNIST_SIZE)
    return raster.reshape(steps, 2, NMNIST_SIZE, NMNIST_SIZE)


def load_nmnist(folder: str | os.PathLike[str], split: str = "train", *, steps: int = 30,
                duration: float | None = None, max_per_class: int | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """N-MNIST as binned spike trains of its two polarity channels.

    Parameters
    ----------
    folder : str or path
        The folder that holds ``Train/`` and ``Test/``, each with class folders ``0`` .. ``9``
        of ``.bin`` files (see :func:`read_nmnist_events`).
    split : {"train", "test"}
    steps : int
        Number of time bins.
    duration : float, optional
        Time span that is binned, s, from timestamp 0 of every recording; events at or after it
        are dropped. None (default): each recording's own span, from 0 to its last event
        (inclusive), so every event lands in a bin (N-MNIST recordings last about 0.3 s: three
        saccades).
    max_per_class : int, optional
        At most this many recordings per class: the first ones in file-name order.

    Returns
    -------
    spikes : ndarray (n, steps, 2, 34, 34), int8
        Indexed [sample, bin, polarity, y, x]; polarity 0 is OFF, 1 is ON. 1 where a pixel
        had at least one event of that polarity in the bin, else 0 (a chip row takes one pulse
        per cycle). The full training set at 30 steps is about 4.2 GB: use ``max_per_class``
        for a part.
    labels : ndarray (n,), int64
        Digit 0 .. 9 (the class folder).

    Samples come class by class, files in name order.

    Raises
    ------
    FileNotFoundError
        The folder, the split's folder, a class folder, or every .bin file is missing.
    ValueError
        A bad argument or a malformed .bin file.
    """
    check_choice(split, "split", ("train", "test"))
    steps = check_int(steps, "steps", 1)
    duration_us = None if duration is None else 1e6 * check_range(
        duration, "duration", 0.0, lo_open=True, unit="second")
    max_per_class = _optional_count(max_per_class, "max_per_class")
    files = _nmnist_files(_nmnist_split_dir(_folder(folder, _NMNIST_HINT), split), max_per_class)
    spikes = np.zeros((len(files), steps, 2, NMNIST_SIZE, NMNIST_SIZE), dtype=np.int8)
    for i, (path, _) in enumerate(files):
        spikes[i] = _nmnist_raster(path, steps, duration_us)
    return spikes, np.asarray([c for _, c in files], dtype=np.int64)
