"""The project's spoken-keyword data set (espeak-ng) and its audio features, on the "ci" size."""

import os
import shutil
import sys

import numpy as np
import pytest

from snn_neurram.apps import audio_features as af
from snn_neurram.apps import keywords as kw

SR = 16000


def _need_espeak():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed: apt-get install espeak-ng")


def _need_librosa():
    try:
        import librosa  # noqa: F401
    except ImportError:
        pytest.skip("librosa not installed: pip install 'snn_neurram[audio]'")


def _tone(freq, amplitude, seconds=1.0):
    t = np.arange(int(SR * seconds)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _htk_centres(n, fmin, fmax):
    """Centres (Hz) of n mel bands, written out here from the HTK formula."""
    mel = np.linspace(2595 * np.log10(1 + fmin / 700), 2595 * np.log10(1 + fmax / 700), n + 2)
    return (700 * (10 ** (mel / 2595) - 1))[1:-1]


# ------------------------------------------------------------------------------- generation

@pytest.fixture(scope="module")
def ci(tmp_path_factory):
    """The ci set generated twice, in two cache folders, with 2 and 1 espeak-ng processes."""
    _need_espeak()
    calls = []
    a = tmp_path_factory.mktemp("cache_a")
    b = tmp_path_factory.mktemp("cache_b")
    first = kw.make_keywords(a, size="ci", seed=0, workers=2,
                             progress=lambda i, n: calls.append((i, n)), log=None)
    second = kw.make_keywords(b, size="ci", seed=0, workers=1, log=None)
    return {"a": a, "b": b, "first": first, "second": second, "calls": calls}


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_reproducible_bit_for_bit_whatever_the_scheduling(ci):
    first, second = ci["first"], ci["second"]
    assert first["checksum"] == second["checksum"]
    a, b = _arrays(first["paths"]["npz"]), _arrays(second["paths"]["npz"])
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with open(first["paths"]["npz"], "rb") as fa, open(second["paths"]["npz"], "rb") as fb:
        assert fa.read() == fb.read()


def test_size_counts_progress_and_report(ci):
    first = ci["first"]
    assert first["clips"] == 96 and first["seconds"] > 0
    assert ci["calls"] == [(i, 96) for i in range(1, 97)]
    assert os.path.basename(first["paths"]["npz"]) == "keywords-ci-0.npz"
    a = _arrays(first["paths"]["npz"])
    assert a["audio"].shape == (96, SR) and a["audio"].dtype == np.int16
    assert np.count_nonzero(a["audio"], axis=1).min() > SR // 2      # noise everywhere


def test_another_seed_gives_other_clips(ci, tmp_path):
    other = kw.make_keywords(tmp_path, size="ci", seed=1, log=None)
    assert other["checksum"] != ci["first"]["checksum"]
    a, b = _arrays(ci["first"]["paths"]["npz"]), _arrays(other["paths"]["npz"])
    np.testing.assert_array_equal(a["voices"], b["voices"])          # same voices, other draws
    assert not np.array_equal(a["audio"], b["audio"])


def test_split_by_voice(ci):
    a = _arrays(ci["first"]["paths"]["npz"])
    voices = {s: set(a["voices"][a["split"] == s]) for s in kw.SPLITS}
    variants = {s: set(a["variants"][a["split"] == s]) for s in kw.SPLITS}
    for s, t in (("train", "test"), ("train", "val"), ("val", "test")):
        assert not voices[s] & voices[t]
        assert not variants[s] & variants[t]          # no timbre of one split in another
    assert variants["test"] <= set(kw.TEST_VARIANTS)
    assert variants["train"] <= set(kw.TRAIN_VARIANTS)
    assert [len(voices[s]) for s in kw.SPLITS] == [4, 2, 2]


def test_classes_balanced_and_words_right(ci):
    a = _arrays(ci["first"]["paths"]["npz"])
    assert tuple(a["classes"]) == kw.CLASSES and len(kw.CLASSES) == 12
    for split in kw.SPLITS:
        counts = np.bincount(a["y"][a["split"] == split], minlength=12)
        assert (counts == counts[0]).all() and counts[0] > 0
        assert ci["first"]["counts"][split] == {c: int(counts[0]) for c in kw.CLASSES}
    for voice in set(a["voices"]):                   # every voice says every class once
        assert sorted(a["y"][a["voices"] == voice]) == list(range(12))
    words, y = a["words"], a["y"]
    keyword = y < 10
    assert (words[keyword] == np.array(kw.CLASSES)[y[keyword]]).all()
    assert set(words[y == 10]) <= set(kw.UNKNOWN_WORDS)
    assert (words[y == 11] == "").all()


def test_noise_level_follows_the_drawn_snr(ci):
    """A _silence_ clip is noise only: its RMS is the speech level over the SNR (dB)."""
    a = _arrays(ci["first"]["paths"]["npz"])
    lo, hi = kw.DEFAULT_SNR_DB
    assert (a["snr_db"] >= lo).all() and (a["snr_db"] <= hi).all()
    silence = a["y"] == 11
    rms = np.sqrt(np.mean((a["audio"][silence] / 32768.0) ** 2, axis=1))
    want = 10 ** ((a["level_db"][silence] - a["snr_db"][silence]) / 20)
    np.testing.assert_allclose(rms, want, rtol=0.01)


def test_snr_range_is_a_parameter():
    default = kw.keywords_path("ci", 3, "/x")
    assert default == os.path.join("/x", "keywords-ci-3.npz")
    assert kw.keywords_path("ci", 3, "/x", snr_db=(-5, 10)) == \
        os.path.join("/x", "keywords-ci-3-snr-5_10.npz")
    with pytest.raises(ValueError, match="low <= high"):
        kw.keywords_path("ci", 3, "/x", snr_db=(10, 0))
    with pytest.raises(ValueError, match="size"):
        kw.keywords_path("small", 3, "/x")


def test_default_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kw.default_cache_folder() == os.path.join(str(tmp_path), "snn_neurram")
    assert kw.keywords_path("full", 0) == os.path.join(str(tmp_path), "snn_neurram",
                                                       "keywords-full-0.npz")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert kw.default_cache_folder() == os.path.join(os.path.expanduser("~"), ".cache",
                                                     "snn_neurram")


# ------------------------------------------------------------------------------- the cache

def test_cache_round_trip_without_regenerating(ci, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("regenerated a valid cached file")

    monkeypatch.setattr(kw, "make_keywords", fail)
    data = kw.load_keywords("ci", 0, ci["a"])
    X, y, voices, classes, split = data
    a = _arrays(ci["first"]["paths"]["npz"])
    assert X.shape == (96, SR) and X.dtype == np.float32
    np.testing.assert_array_equal(X * 32768, a["audio"].astype(np.float32))
    assert np.abs(X).max() <= 1.0
    np.testing.assert_array_equal(y, a["y"])
    np.testing.assert_array_equal(voices, a["voices"])
    np.testing.assert_array_equal(split, a["split"])
    assert tuple(classes) == kw.CLASSES
    with open(ci["first"]["paths"]["sha256"]) as fh:
        assert fh.read() == f"{ci['first']['checksum']}  keywords-ci-0.npz\n"


def test_missing_file_is_generated(tmp_path):
    _need_espeak()
    data = kw.load_keywords("ci", 0, tmp_path, log=None)
    assert data.X.shape == (96, SR)
    assert os.path.exists(tmp_path / "keywords-ci-0.npz.sha256")


def test_corrupted_cache_is_detected(ci, tmp_path):
    for name in ("keywords-ci-0.npz", "keywords-ci-0.npz.sha256"):
        shutil.copy(ci["a"] / name, tmp_path / name)
    path = tmp_path / "keywords-ci-0.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01                        # one bit of one audio sample
    path.write_bytes(bytes(raw))
    with pytest.raises(kw.KeywordsCacheError, match="checksum"):
        kw.load_keywords("ci", 0, tmp_path, log=None)
    path.write_bytes(bytes(raw[:1000]))               # truncated
    with pytest.raises(kw.KeywordsCacheError, match="altered or truncated"):
        kw.load_keywords("ci", 0, tmp_path, log=None)


def test_missing_espeak_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(kw.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        kw.make_keywords(tmp_path, size="ci", log=None)


def test_noise_colour():
    """beta = 2 (brown) puts far more power at low frequencies than beta = 0 (white)."""
    rng = np.random.default_rng(0)
    white, brown = kw.coloured_noise(SR, 0.0, rng), kw.coloured_noise(SR, 2.0, rng)
    for x in (white, brown):
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0)

    def low_share(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        return p[:500].sum() / p.sum()               # below 500 Hz

    assert low_share(white) == pytest.approx(500 / 8001, abs=0.02)
    assert low_share(brown) > 0.9


# ------------------------------------------------------------------------------- features

def test_mfcc_shape_dtype_and_batch_independence(ci):
    _need_librosa()
    X = kw.load_keywords("ci", 0, ci["a"], log=None).X
    M = af.mfcc(X)
    assert M.shape == (96, 49, 40) and M.dtype == np.float32
    assert np.isfinite(M).all()
    np.testing.assert_allclose(af.mfcc(X[5:6]), M[5:6], rtol=1e-5, atol=1e-3)


def test_mfcc_tone_lands_in_its_mel_band():
    """Undo the orthonormal DCT: the loudest log-mel band is the one centred nearest the tone."""
    _need_librosa()
    from scipy.fft import idct

    centres = _htk_centres(40, 20.0, 4000.0)
    for freq in (300.0, 1000.0, 2500.0):
        M = af.mfcc(_tone(freq, 0.3))
        log_mel = idct(M[0].astype(np.float64), type=2, norm="ortho", axis=-1)
        band = int(np.bincount(log_mel.argmax(axis=1)).argmax())
        assert band == int(np.argmin(np.abs(centres - freq))), freq


def test_mfcc_gain_moves_only_c0():
    """x 10 in amplitude adds 20 dB to every log-mel band: c0 rises by 20 sqrt(40), the rest
    stays (orthonormal DCT-II)."""
    _need_librosa()
    x = np.random.default_rng(1).standard_normal(SR).astype(np.float32) * 0.01
    a, b = af.mfcc(x, top_db=None), af.mfcc(10 * x, top_db=None)
    np.testing.assert_allclose(b[..., 0] - a[..., 0], 20 * np.sqrt(40), rtol=1e-4)
    np.testing.assert_allclose(b[..., 1:], a[..., 1:], atol=1e-3)


def test_mfcc_without_librosa_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)
    with pytest.raises(ImportError, match=r"pip install 'snn_neurram\[audio\]'"):
        af.mfcc(np.zeros((1, SR), np.float32))


def test_cochlear_spikes_shape_and_values(ci):
    X = kw.load_keywords("ci", 0, ci["a"], log=None).X
    S = af.cochlear_spikes(X, SR)
    assert S.shape == (96, 100, 64) and S.dtype == np.int8
    assert set(np.unique(S)) <= {0, 1}
    y = kw.load_keywords("ci", 0, ci["a"], log=None).y
    assert S[y < 11].mean() > S[y == 11].mean() > 0       # words fire more than noise alone
    np.testing.assert_array_equal(af.cochlear_spikes(X[7], SR), S[7:8])


def test_cochlear_spikes_fire_in_the_tone_channel():
    centres = _htk_centres(64, 100.0, 8000.0)
    np.testing.assert_allclose(af.channel_frequencies(64, 100.0, 8000.0), centres)
    for freq in (250.0, 1000.0, 4000.0):
        counts = af.cochlear_spikes(_tone(freq, 0.02)).sum(axis=(0, 1))
        nearest = int(np.argmin(np.abs(centres - freq)))
        assert counts[nearest] == counts.max() > 20, freq
        far = np.abs(np.arange(64) - nearest) > 3
        assert counts[far].max() == 0, freq


def test_cochlear_spikes_rate_code():
    assert af.cochlear_spikes(np.zeros(SR, np.float32)).sum() == 0
    quiet, loud = (af.cochlear_spikes(_tone(1000.0, a)).sum() for a in (0.003, 0.1))
    assert loud > quiet > 0
    with pytest.raises(ValueError, match="db_range"):
        af.cochlear_spikes(np.zeros(SR), db_range=(0.0, -10.0))
