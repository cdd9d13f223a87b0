"""Loaders of the temporal data sets (snn_neurram.apps.temporal_data).

Every test writes small files in the data set's own format into tmp_path and checks that the
loader returns exactly what was written, and that wrong folders and bad arguments give errors
that name what is wrong.
"""

import os
import re

import numpy as np
import pytest
from optional import need
from scipy.io import wavfile

from snn_neurram.apps import temporal_data as td

SR = 16000

# ---------------------------------------------------------------------------------------------
# Google Speech Commands

#: word -> {file stem: (int16 value of the clip, number of samples)}
SC_FILES = {
    "yes": {"y0": (100, SR), "y1": (200, SR // 2), "y2": (300, SR), "y3": (400, SR)},
    "no": {"n0": (500, SR + 4000), "n1": (600, SR), "n2": (700, SR)},
    "cat": {"c0": (800, SR), "c1": (900, SR), "c2": (1000, SR)},
    "dog": {"d0": (1100, SR), "d1": (1200, SR)},
}
VALIDATION = ["yes/y2.wav", "cat/c2.wav"]
TESTING = ["yes/y3.wav", "no/n1.wav", "dog/d0.wav"]
#: length of the background ramp: 10 s, so validation and test parts are exactly 1 s each
RAMP_LEN = 10 * SR


def _value(code):
    """What the loader returns for an int16 sample of value ``code``."""
    return np.float32(code / 32768)


def _write_wav(path, data, rate=SR):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wavfile.write(path, rate, data)


def _ramp():
    """Background noise whose every sample tells its position (exact in float32)."""
    return (np.arange(RAMP_LEN) * 2.0 ** -20).astype(np.float32)


def _make_speech_commands(root, files=SC_FILES, validation=VALIDATION, testing=TESTING):
    for word, clips in files.items():
        for stem, (code, n) in clips.items():
            data = np.full(n, code, dtype=np.int16)
            if n > SR:
                data[SR:] = -code          # the part that must be cropped away
            _write_wav(os.path.join(root, word, stem + ".wav"), data)
    _write_wav(os.path.join(root, "_background_noise_", "a_ramp.wav"), _ramp())
    # too short to give a 1 s cut in any split: must never be used
    _write_wav(os.path.join(root, "_background_noise_", "b_short.wav"),
               np.full(SR // 2, 7, dtype=np.int16))
    with open(os.path.join(root, "README.md"), "w") as fh:
        fh.write("not a word folder\n")
    for name, listed in (("validation_list.txt", validation), ("testing_list.txt", testing)):
        with open(os.path.join(root, name), "w") as fh:
            fh.write("\n".join(listed) + "\n")
    return root


@pytest.fixture
def sc_folder(tmp_path):
    return _make_speech_commands(str(tmp_path / "speech_commands_v0.02"))


def _clip(code, n=SR):
    out = np.zeros(SR, dtype=np.float32)
    out[:min(n, SR)] = _value(code)
    return out


def _codes(waves):
    """The int16 value each (constant) clip was written with."""
    return sorted(int(round(w[0] * 32768)) for w in waves)


def _ramp_start(clip):
    """Where in the ramp a silence clip was cut from (and that it is a contiguous window)."""
    start = int(round(float(clip[0]) * 2 ** 20))
    np.testing.assert_array_equal(clip, _ramp()[start:start + SR])
    return start


def test_speech_commands_train_split(sc_folder):
    waves, labels, names = td.load_speech_commands(sc_folder, keywords=("yes", "no"))
    assert names == ["yes", "no", "_unknown_", "_silence_"]
    assert waves.dtype == np.float32 and waves.shape == (8, SR)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2, 3, 3])
    # keywords: every file not in a list, sorted; y1 padded with zeros, n0 cropped to 1 s
    np.testing.assert_array_equal(waves[0], _clip(100))
    np.testing.assert_array_equal(waves[1], _clip(200, SR // 2))
    assert np.all(waves[1, SR // 2:] == 0)
    np.testing.assert_array_equal(waves[2], _clip(500))
    np.testing.assert_array_equal(waves[3], _clip(700))
    # unknown: ceil(4 keyword clips / 2 keywords) = 2 distinct training clips of other words
    unknown = [int(round(w[0] * 32768)) for w in waves[labels == 2]]
    assert len(set(unknown)) == 2 and set(unknown) <= {800, 900, 1200}
    assert unknown == sorted(unknown)           # in path order: cat/c0, cat/c1, dog/d1
    for w in waves[labels == 2]:
        assert np.all(w == w[0])
    # silence: 2 one-second windows of the ramp from its first 80 %, never the short file
    for clip in waves[labels == 3]:
        start = _ramp_start(clip)
        assert 0 <= start <= int(0.8 * RAMP_LEN) - SR


def test_speech_commands_validation_and_test_splits(sc_folder):
    waves, labels, names = td.load_speech_commands(sc_folder, keywords=("yes", "no"),
                                                   split="validation")
    # yes/y2 only; no has no validation clip; ceil(1 / 2) = 1 unknown (cat/c2) and 1 silence
    np.testing.assert_array_equal(labels, [0, 2, 3])
    np.testing.assert_array_equal(waves[0], _clip(300))
    np.testing.assert_array_equal(waves[1], _clip(1000))
    assert _ramp_start(waves[2]) == int(0.8 * RAMP_LEN)   # the validation part is exactly 1 s

    waves, labels, _ = td.load_speech_commands(sc_folder, keywords=("yes", "no"), split="test")
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    np.testing.assert_array_equal(waves[:3], [_clip(400), _clip(600), _clip(1100)])
    assert _ramp_start(waves[3]) == int(0.9 * RAMP_LEN)


def test_speech_commands_splits_partition_the_word_files(sc_folder):
    seen = []
    for split in ("train", "validation", "test"):
        waves, labels, _ = td.load_speech_commands(sc_folder, keywords=("yes", "no", "cat", "dog"),
                                                   unknown=False, silence=False, split=split)
        seen += _codes(waves)
    every = sorted(code for clips in SC_FILES.values() for code, _ in clips.values())
    assert sorted(seen) == every


def test_speech_commands_without_unknown_and_silence(sc_folder):
    waves, labels, names = td.load_speech_commands(sc_folder, keywords=("no", "yes"),
                                                   unknown=False, silence=False)
    assert names == ["no", "yes"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    assert _codes(waves) == [100, 200, 500, 700]
    _, labels, names = td.load_speech_commands(sc_folder, keywords=("yes",), unknown=False)
    assert names == ["yes", "_silence_"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])


def test_speech_commands_silence_without_background_folder_not_needed(sc_folder):
    import shutil

    shutil.rmtree(os.path.join(sc_folder, "_background_noise_"))
    waves, labels, names = td.load_speech_commands(sc_folder, keywords=("yes",), silence=False)
    assert names == ["yes", "_unknown_"]
    with pytest.raises(FileNotFoundError, match="no _background_noise_ folder in .*silence=False"):
        td.load_speech_commands(sc_folder, keywords=("yes",))


def test_speech_commands_seeded_draws(sc_folder):
    kw = dict(keywords=("yes", "no"))
    a = td.load_speech_commands(sc_folder, seed=3, **kw)
    b = td.load_speech_commands(sc_folder, seed=3, **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    silences, unknowns = set(), set()
    for seed in range(12):
        waves, labels, _ = td.load_speech_commands(sc_folder, seed=seed, **kw)
        in_order = [int(round(w[0] * 32768)) for w in waves[labels == 2]]
        assert in_order == sorted(in_order)      # the drawn clips come in path order
        unknowns.add(tuple(in_order))
        silences.add(tuple(_ramp_start(c) for c in waves[labels == 3]))
        np.testing.assert_array_equal(waves[labels == 0], a[0][a[1] == 0])   # keywords fixed
    assert len(unknowns) > 1 and len(silences) > 1


def test_speech_commands_max_per_class(sc_folder):
    waves, labels, _ = td.load_speech_commands(sc_folder, keywords=("yes", "no"),
                                               max_per_class=1, seed=5)
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    assert _codes(waves[:1])[0] in (100, 200) and _codes(waves[1:2])[0] in (500, 700)
    picks = {_codes(td.load_speech_commands(sc_folder, keywords=("yes", "no"), max_per_class=1,
                                            seed=s)[0][:1])[0] for s in range(10)}
    assert picks == {100, 200}


def test_speech_commands_default_twelve_classes(tmp_path):
    files = {w: {f"{w}_0": (10 * (i + 1), SR)} for i, w in enumerate(td.SPEECH_COMMANDS_KEYWORDS)}
    files["zero"] = {"z0": (999, SR), "z1": (998, SR)}
    root = _make_speech_commands(str(tmp_path / "sc"), files, validation=[], testing=[])
    waves, labels, names = td.load_speech_commands(root)
    assert names == list(td.SPEECH_COMMANDS_KEYWORDS) + ["_unknown_", "_silence_"]
    np.testing.assert_array_equal(labels, list(range(12)))
    np.testing.assert_array_equal(waves[:10], [_clip(10 * (i + 1)) for i in range(10)])
    assert _codes(waves[10:11])[0] in (998, 999)
    # empty validation split: no keyword clips, so no unknown or silence clips either
    waves, labels, _ = td.load_speech_commands(root, split="validation")
    assert waves.shape == (0, SR) and labels.shape == (0,)


def test_speech_commands_int16_scaling_and_float_files(tmp_path):
    files = {"yes": {"a": (-32768, SR), "b": (32767, SR)}}
    root = _make_speech_commands(str(tmp_path / "sc"), files, [], [])
    waves, _, _ = td.load_speech_commands(root, keywords=("yes",), unknown=False, silence=False)
    assert waves[0, 0] == -1.0 and waves[1, 0] == np.float32(32767 / 32768)
    rate, data = td.read_wav(os.path.join(root, "_background_noise_", "a_ramp.wav"))
    assert rate == SR
    np.testing.assert_array_equal(data, _ramp())


def test_speech_commands_wrong_folders(sc_folder, tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        td.load_speech_commands(missing)
    os.remove(os.path.join(sc_folder, "testing_list.txt"))
    msg = f"no testing_list.txt in {sc_folder}: is this the Speech Commands v0.02 folder?"
    with pytest.raises(FileNotFoundError, match=re.escape(msg)):
        td.load_speech_commands(sc_folder, keywords=("yes",))
    with pytest.raises(FileNotFoundError, match="no validation_list.txt in"):
        td.load_speech_commands(str(tmp_path))


def test_speech_commands_missing_keyword_and_listed_file(sc_folder):
    with pytest.raises(FileNotFoundError, match="no folder 'up' \\(a keyword\\) in"):
        td.load_speech_commands(sc_folder)                # default keywords: no 'up' folder
    os.remove(os.path.join(sc_folder, "cat", "c2.wav"))
    with pytest.raises(FileNotFoundError, match="validation_list.txt in .* names 1 file\\(s\\) "
                                                "that are not there, e.g. cat/c2.wav"):
        td.load_speech_commands(sc_folder, keywords=("yes",))
    # without the unknown class the other words are not read at all
    td.load_speech_commands(sc_folder, keywords=("yes",), unknown=False)


def test_speech_commands_malformed_wavs(sc_folder):
    _write_wav(os.path.join(sc_folder, "yes", "y0.wav"), np.zeros(8000, np.int16), rate=8000)
    with pytest.raises(ValueError, match="y0.wav is sampled at 8000 Hz; .* 16000 Hz"):
        td.load_speech_commands(sc_folder, keywords=("yes",))
    _write_wav(os.path.join(sc_folder, "yes", "y0.wav"), np.zeros((SR, 2), np.int16))
    with pytest.raises(ValueError, match="y0.wav has 2 channels"):
        td.load_speech_commands(sc_folder, keywords=("yes",))
    with open(os.path.join(sc_folder, "yes", "y0.wav"), "wb") as fh:
        fh.write(b"not a wave file at all")
    with pytest.raises(ValueError, match="y0.wav is not a readable WAV file"):
        td.load_speech_commands(sc_folder, keywords=("yes",))


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="dev"), "split must be one of 'train', 'validation', 'test' \\(got 'dev'\\)"),
    (dict(max_per_class=0), "max_per_class must be an integer in \\[1, inf\\] \\(got 0\\)"),
    (dict(max_per_class=2.5), "max_per_class must be an integer"),
    (dict(seed=-1), "seed must be an integer in \\[0,"),
    (dict(keywords=()), "keywords must name at least one word"),
    (dict(keywords="yes"), "keywords must be a sequence of words, not one string"),
    (dict(keywords=("yes", "yes")), "keywords must not repeat a word"),
    (dict(keywords=("_background_noise_",)), "keywords must be word folder names"),
    (dict(unknown="no"), "unknown must be one of True, False"),
    (dict(silence=None), "silence must be one of True, False"),
])
def test_speech_commands_bad_arguments(sc_folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        td.load_speech_commands(sc_folder, **kwargs)


# ---------------------------------------------------------------------------------------------
# Spiking Heidelberg Digits

#: (spike times in s, units, label, speaker) of each sample written
SHD_SAMPLES = [
    ([0.05, 0.07, 0.55, 0.999, 1.0, 1.3], [3, 3, 699, 0, 5, 6], 0, 3),
    ([], [], 19, 1),
    ([0.25, 0.5, 0.75], [10, 20, 30], 7, 11),
]


@pytest.fixture
def h5py():
    return need("h5py")


def _write_shd(h5py, path, samples=SHD_SAMPLES, skip=()):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            times = f.create_dataset("spikes/times", (len(samples),),
                                     dtype=h5py.vlen_dtype(np.float32))
            for i, s in enumerate(samples):
                times[i] = np.asarray(s[0], dtype=np.float32)
        units = f.create_dataset("spikes/units", (len(samples),),
                                 dtype=h5py.vlen_dtype(np.uint16))
        for i, s in enumerate(samples):
            units[i] = np.asarray(s[1], dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint8))
        f.create_dataset("extra/speaker", data=np.array([s[3] for s in samples], dtype=np.uint16))
        f.create_dataset("extra/keys", data=np.array([b"zero", b"one"]))
    return path


@pytest.fixture
def shd_folder(tmp_path, h5py):
    root = str(tmp_path / "shd")
    _write_shd(h5py, os.path.join(root, "shd_train.h5"))
    _write_shd(h5py, os.path.join(root, "shd_test.h5"), SHD_SAMPLES[2:])
    return root


def _spike_set(spikes):
    """{(sample, bin, unit)} of the ones in a binned array."""
    return {tuple(map(int, idx)) for idx in np.argwhere(spikes)}


def test_shd_binning_at_known_times(shd_folder):
    spikes, labels, speakers = td.load_shd(shd_folder, steps=10, duration=1.0)
    assert spikes.dtype == np.int8 and spikes.shape == (3, 10, 700)
    assert set(np.unique(spikes)) <= {0, 1}
    np.testing.assert_array_equal(labels, [0, 19, 7])
    np.testing.assert_array_equal(speakers, [3, 1, 11])
    assert labels.dtype == np.int64 and speakers.dtype == np.int64
    # two spikes of unit 3 in bin 0 are one pulse; spikes at 1.0 s and after are dropped
    assert _spike_set(spikes) == {(0, 0, 3), (0, 5, 699), (0, 9, 0),
                                  (2, 2, 10), (2, 5, 20), (2, 7, 30)}


def test_shd_duration_and_steps(shd_folder):
    spikes, _, _ = td.load_shd(shd_folder, steps=4, duration=2.0)     # 0.5 s bins
    assert spikes.shape == (3, 4, 700)
    assert _spike_set(spikes[:1]) == {(0, 0, 3), (0, 1, 699), (0, 1, 0), (0, 2, 5), (0, 2, 6)}
    spikes, _, _ = td.load_shd(shd_folder, steps=1, duration=0.5)
    assert _spike_set(spikes) == {(0, 0, 3), (2, 0, 10)}


def test_shd_test_split_and_max_samples(shd_folder):
    spikes, labels, speakers = td.load_shd(shd_folder, "test", steps=10)
    np.testing.assert_array_equal(labels, [7])
    np.testing.assert_array_equal(speakers, [11])
    assert _spike_set(spikes) == {(0, 2, 10), (0, 5, 20), (0, 7, 30)}
    spikes, labels, speakers = td.load_shd(shd_folder, max_samples=2, steps=10)
    assert spikes.shape == (2, 10, 700)
    np.testing.assert_array_equal(labels, [0, 19])
    np.testing.assert_array_equal(speakers, [3, 1])
    assert td.load_shd(shd_folder, max_samples=50)[0].shape[0] == 3


def test_shd_wrong_folders(tmp_path, h5py):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        td.load_shd(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"no shd_train.h5 in {empty}: is this the folder of the Spiking Heidelberg Digits")):
        td.load_shd(empty)
    (empty / "shd_test.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(FileNotFoundError, match="only shd_test.h5.gz: unpack it first"):
        td.load_shd(empty, "test")
    (empty / "shd_train.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="shd_train.h5 is not an HDF5 file"):
        td.load_shd(empty)


def test_shd_malformed_files(tmp_path, h5py):
    root = str(tmp_path / "bad")
    path = os.path.join(root, "shd_train.h5")
    _write_shd(h5py, path, skip=("spikes/times",))
    with pytest.raises(ValueError, match="has no dataset 'spikes/times': is this an SHD file"):
        td.load_shd(root)
    _write_shd(h5py, path, [([0.1], [700], 0, 0)])
    with pytest.raises(ValueError, match="sample 0 has a unit outside 0 .. 699"):
        td.load_shd(root)
    _write_shd(h5py, path, [([0.1, 0.2], [1], 0, 0)])
    with pytest.raises(ValueError, match="sample 0 has 2 spike times but 1 units"):
        td.load_shd(root)
    _write_shd(h5py, path, [([-0.1], [1], 0, 0)])
    with pytest.raises(ValueError, match="negative or non-finite spike time"):
        td.load_shd(root)
    with h5py.File(path, "a") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="hold 1, 1, 3 and 1 samples; they must agree"):
        td.load_shd(root)


def test_shd_without_h5py_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "shd_train.h5").write_bytes(b"whatever")
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'snn_neurram[audio]'")):
        td.load_shd(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="valid"), "split must be one of 'train', 'test' \\(got 'valid'\\)"),
    (dict(steps=0), "steps must be an integer in \\[1, inf\\] \\(got 0\\)"),
    (dict(duration=0.0), "duration must be in \\(0, inf\\] \\(got 0\\)"),
    (dict(duration=float("nan")), "duration must be finite"),
    (dict(max_samples=0), "max_samples must be an integer in \\[1, inf\\]"),
])
def test_shd_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        td.load_shd(tmp_path, **kwargs)


# ---------------------------------------------------------------------------------------------
# N-MNIST

def _pack(x, y, p, t):
    """One event as its 5 bytes: x, y, then polarity (1 bit) and timestamp (23 bits, µs)."""
    return ((x << 32) | (y << 24) | (p << 23) | t).to_bytes(5, "big")


def _write_bin(path, events):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(b"".join(_pack(*e) for e in events))


def test_nmnist_event_decoding_from_hand_packed_bytes(tmp_path):
    raw = bytes([0x05, 0x07, 0x81, 0x23, 0x45,       # x=5,  y=7,  ON,  t=0x012345
                 0x21, 0x00, 0x7F, 0xFF, 0xFF,       # x=33, y=0,  OFF, t=0x7FFFFF (largest)
                 0x00, 0x21, 0x80, 0x00, 0x00,       # x=0,  y=33, ON,  t=0
                 0x10, 0x11, 0x00, 0x01, 0x00])      # x=16, y=17, OFF, t=256
    path = tmp_path / "00001.bin"
    path.write_bytes(raw)
    x, y, p, t = td.read_nmnist_events(path)
    np.testing.assert_array_equal(x, [5, 33, 0, 16])
    np.testing.assert_array_equal(y, [7, 0, 33, 17])
    np.testing.assert_array_equal(p, [1, 0, 1, 0])
    np.testing.assert_array_equal(t, [0x012345, 2 ** 23 - 1, 0, 256])
    # the test's own packer writes the same bytes
    assert b"".join(_pack(*e) for e in [(5, 7, 1, 0x012345), (33, 0, 0, 2 ** 23 - 1),
                                        (0, 33, 1, 0), (16, 17, 0, 256)]) == raw
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert all(a.size == 0 for a in td.read_nmnist_events(empty))


#: (split, class, file) -> events (x, y, polarity, t in µs)
NMNIST_FILES = {
    ("Train", 3, "00002.bin"): [(1, 2, 1, 0), (1, 2, 1, 50), (33, 33, 0, 100_000),
                                (4, 5, 0, 199_999), (4, 5, 1, 299_999)],
    ("Train", 3, "00001.bin"): [(0, 0, 0, 10)],
    ("Train", 7, "00005.bin"): [(6, 9, 1, 250_000), (9, 6, 0, 0)],
    ("Test", 0, "00003.bin"): [(2, 3, 0, 5)],
}


@pytest.fixture
def nmnist_folder(tmp_path):
    root = tmp_path / "N-MNIST"
    for split in ("Train", "Test"):
        for c in range(10):
            (root / split / str(c)).mkdir(parents=True)
    for (split, c, name), events in NMNIST_FILES.items():
        _write_bin(str(root / split / str(c) / name), events)
    (root / "Train" / "3" / "notes.txt").write_text("ignored")
    return root


def _event_set(spikes):
    """{(sample, bin, polarity, y, x)} of the ones in a binned array."""
    return {tuple(map(int, idx)) for idx in np.argwhere(spikes)}


def test_nmnist_binning_over_each_recording(nmnist_folder):
    spikes, labels = td.load_nmnist(nmnist_folder, steps=3)
    assert spikes.dtype == np.int8 and spikes.shape == (3, 3, 2, 34, 34)
    np.testing.assert_array_equal(labels, [3, 3, 7])         # class order, then file names
    assert labels.dtype == np.int64
    # sample 0 = 3/00001.bin: one event at 10 µs; its own span is 11 µs, so it is in the last
    #   bin (bins start at timestamp 0, not at the first event)
    # sample 1 = 3/00002.bin: span 300 000 µs, 100 000 µs bins; the two events at (1, 2) in
    #   bin 0 are one pulse; t = 100 000 opens bin 1
    # sample 2 = 7/00005.bin: span 250 001 µs
    assert _event_set(spikes) == {(0, 2, 0, 0, 0),
                                  (1, 0, 1, 2, 1), (1, 1, 0, 33, 33), (1, 1, 0, 5, 4),
                                  (1, 2, 1, 5, 4),
                                  (2, 2, 1, 9, 6), (2, 0, 0, 6, 9)}


def test_nmnist_fixed_duration(nmnist_folder):
    spikes, _ = td.load_nmnist(nmnist_folder, steps=4, duration=0.2)      # 50 ms bins
    assert spikes.shape == (3, 4, 2, 34, 34)
    # events at 250 000 and 299 999 µs are after 0.2 s: dropped
    assert _event_set(spikes) == {(0, 0, 0, 0, 0),
                                  (1, 0, 1, 2, 1), (1, 2, 0, 33, 33), (1, 3, 0, 5, 4),
                                  (2, 0, 0, 6, 9)}


def test_nmnist_test_split_and_max_per_class(nmnist_folder):
    spikes, labels = td.load_nmnist(nmnist_folder, "test", steps=2)
    np.testing.assert_array_equal(labels, [0])
    assert _event_set(spikes) == {(0, 1, 0, 3, 2)}               # span 6 µs: t=5 in bin 1
    spikes, labels = td.load_nmnist(nmnist_folder, max_per_class=1, steps=3)
    np.testing.assert_array_equal(labels, [3, 7])
    assert _event_set(spikes[:1]) == {(0, 2, 0, 0, 0)}          # 00001.bin comes first


def test_nmnist_lowercase_split_folders(tmp_path):
    _write_bin(str(tmp_path / "train" / "4" / "a.bin"), [(3, 4, 1, 7)])
    for c in range(10):
        (tmp_path / "train" / str(c)).mkdir(parents=True, exist_ok=True)
    spikes, labels = td.load_nmnist(tmp_path, steps=1)
    np.testing.assert_array_equal(labels, [4])
    assert _event_set(spikes) == {(0, 0, 1, 4, 3)}


def test_nmnist_wrong_folders(tmp_path, nmnist_folder):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        td.load_nmnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"no Train/ folder in {tmp_path}: is this the N-MNIST folder")):
        td.load_nmnist(tmp_path)
    for c in (2, 5):
        os.rmdir(nmnist_folder / "Test" / str(c))
    with pytest.raises(FileNotFoundError, match="no class folder\\(s\\) 2, 5 in .*Test"):
        td.load_nmnist(nmnist_folder, "test")
    os.mkdir(nmnist_folder / "Test" / "2")
    os.mkdir(nmnist_folder / "Test" / "5")
    os.remove(nmnist_folder / "Test" / "0" / "00003.bin")
    with pytest.raises(FileNotFoundError, match="no .bin files in the class folders of"):
        td.load_nmnist(nmnist_folder, "test")


def test_nmnist_malformed_files(nmnist_folder):
    path = nmnist_folder / "Train" / "3" / "00001.bin"
    path.write_bytes(_pack(1, 1, 0, 5) + b"\x00")
    with pytest.raises(ValueError, match="00001.bin: 6 bytes is not a whole number of 5-byte"):
        td.load_nmnist(nmnist_folder)
    path.write_bytes(_pack(1, 1, 0, 5) + _pack(34, 2, 1, 6))
    with pytest.raises(ValueError, match="event 1 is at x=34, y=2, outside the 34 x 34 sensor"):
        td.load_nmnist(nmnist_folder)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="Train"), "split must be one of 'train', 'test' \\(got 'Train'\\)"),
    (dict(steps=0), "steps must be an integer in \\[1, inf\\] \\(got 0\\)"),
    (dict(steps=2.0), "steps must be an integer"),
    (dict(duration=-1.0), "duration must be in \\(0, inf\\] \\(got -1\\)"),
    (dict(max_per_class=0), "max_per_class must be an integer in \\[1, inf\\]"),
])
def test_nmnist_bad_arguments(nmnist_folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        td.load_nmnist(nmnist_folder, **kwargs)
