"""The temporal benchmarks run end to end: the CI-sized synthesised keywords (LSTM, MLP
baseline, recurrent and feed-forward SNNs) and a real set's format read from a folder."""

import json
import os
import shutil

import numpy as np
import pytest
from optional import need

TINY = {"lstm": dict(epochs=2, hidden=8, cells=2), "mlp": dict(epochs=3, hidden=16),
        "snn": dict(epochs=2, hidden=32, steps=20)}


def _need_keywords():
    for module in ("torch", "librosa"):
        need(module)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install espeak-ng")


def test_every_temporal_model_on_the_ci_keywords(tmp_path):
    _need_keywords()
    from snn_neurram.apps.keyword_bench import run_keywords

    result = run_keywords("ci", 0, chips=2, folder=str(tmp_path), recipes=TINY,
                          log=lambda s: None)
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"LSTM (2 x 8)", "MLP on pooled MFCCs", "recurrent SNN",
                         "feed-forward SNN"}
    for row in rows.values():
        summary = row["accuracy_summary"]
        assert summary["chips"] == 2 and row["accuracy"] == pytest.approx(
            np.mean(summary["per_chip"]))
        assert row["gap_points"] == pytest.approx(
            100 * (row["software_accuracy"] - row["accuracy"]))
        assert row["energy_j"] > 0 and row["latency_s"] > 0 and row["synaptic_events"] > 0
    # the recurrent layer's own spikes drive rows of its array
    assert rows["recurrent SNN"]["rows_of_hidden_layer"] == 64 + 32
    assert rows["LSTM (2 x 8)"]["spikes"] is None and rows["LSTM (2 x 8)"]["steps"] == 49
    assert sum(result["clips"].values()) == len(result["classes"]) * 8
    assert set(result["recipes"]) == {"lstm", "mlp", "snn"}


def test_compare_keywords_cli_writes_rows_and_a_figure(tmp_path, monkeypatch):
    _need_keywords()
    from snn_neurram.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "k.json"
    assert main(["compare", "--dataset", "keywords", "--keywords-size", "ci", "--chips", "1",
                 "--temporal-models", "snn", "--out", str(tmp_path),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["model"] for r in result["rows"]] == ["recurrent SNN", "feed-forward SNN"]
    assert (tmp_path / "compare_keywords-ci.png").exists()
    assert result["provenance"]["command"].startswith("snn-neurram compare --dataset keywords")


def _write_fake_shd(h5py, root, n, seed):
    """An SHD-format file of two classes told apart by which units fire (0-349 or 350-699)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for split, count in (("train", n), ("test", n // 2)):
        labels = np.arange(count) % 2
        with h5py.File(os.path.join(root, f"shd_{split}.h5"), "w") as f:
            times = f.create_dataset("spikes/times", (count,), dtype=h5py.vlen_dtype(np.float32))
            units = f.create_dataset("spikes/units", (count,), dtype=h5py.vlen_dtype(np.uint16))
            for i, label in enumerate(labels):
                times[i] = np.sort(rng.uniform(0, 0.9, 300)).astype(np.float32)
                units[i] = (350 * label + rng.integers(0, 350, 300)).astype(np.uint16)
            f.create_dataset("labels", data=labels.astype(np.uint8))
            f.create_dataset("extra/speaker", data=np.zeros(count, np.uint16))


def test_a_real_set_is_read_from_its_folder_and_run(tmp_path):
    need("torch")
    h5py = need("h5py")
    from snn_neurram.apps.keyword_bench import run_temporal

    root = str(tmp_path / "shd")
    _write_fake_shd(h5py, root, 40, 0)
    result = run_temporal("shd", root, chips=1, recipes={"snn": dict(epochs=30, hidden=32)},
                          out_dir=str(tmp_path), log=lambda s: None)
    assert result["clips"] == {"train": 36, "val": 4, "test": 20}
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"recurrent SNN", "feed-forward SNN"}
    assert rows["feed-forward SNN"]["rows_of_hidden_layer"] == 700
    assert rows["recurrent SNN"]["steps"] == 100
    # two classes that differ in which half of the units fire: learnt in software and on chip
    assert all(r["software_accuracy"] >= 0.9 and r["accuracy"] >= 0.8 for r in rows.values())
    assert os.path.exists(result["figures"]["accuracy"])


def test_compare_real_set_needs_its_folder(capsys):
    from snn_neurram.cli import main

    with pytest.raises(SystemExit, match="--dataset shd needs --data-dir FOLDER"):
        main(["compare", "--dataset", "shd"])
