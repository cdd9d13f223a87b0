"""The keyword SNN benchmark runs end to end on the CI-sized synthesised set."""

import shutil

import numpy as np
import pytest
from optional import need


def test_recurrent_and_feed_forward_snns_on_the_ci_keywords(tmp_path):
    for module in ("torch", "librosa"):
        need(module)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install espeak-ng")
    from snn_neurram.apps.keyword_bench import run_keyword_snn

    result = run_keyword_snn("ci", 0, chips=2, folder=str(tmp_path),
                             recipe=dict(epochs=2, hidden=32, steps=20), log=lambda s: None)
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"recurrent SNN", "feed-forward SNN"}
    for row in rows.values():
        summary = row["accuracy_summary"]
        assert summary["chips"] == 2 and row["accuracy"] == pytest.approx(
            np.mean(summary["per_chip"]))
        assert row["gap_points"] == pytest.approx(
            100 * (row["software_accuracy"] - row["accuracy"]))
        assert row["energy_uj"] > 0 and row["synaptic_events"] > 0
    # the recurrent layer's own spikes drive rows of its array
    assert rows["recurrent SNN"]["rows_of_hidden_layer"] == 64 + 32
    assert sum(result["clips"].values()) == len(result["classes"]) * 8


def test_compare_keywords_cli_writes_rows_and_a_figure(tmp_path, monkeypatch):
    import json

    for module in ("torch", "librosa"):
        need(module)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install espeak-ng")
    from snn_neurram.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "k.json"
    assert main(["compare", "--dataset", "keywords", "--keywords-size", "ci", "--chips", "1",
                 "--out", str(tmp_path), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["model"] for r in result["rows"]] == ["recurrent SNN", "feed-forward SNN"]
    assert (tmp_path / "compare_keywords_ci.png").exists()
    assert result["provenance"]["command"].startswith("snn-neurram compare --dataset keywords")
