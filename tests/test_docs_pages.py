"""The pages of docs/: every Python block runs as pasted, in order, in one namespace."""

import os
import re

import numpy as np
import pytest
from optional import need

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "snn.md")


def _blocks():
    with open(DOC, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_the_page_has_code():
    assert len(_blocks()) >= 5


def test_every_block_runs_as_pasted(tmp_path, monkeypatch):
    for module in ("torch", "snntorch", "nir"):
        need(module)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for k, code in enumerate(_blocks()):
        try:
            exec(compile(code, f"docs/snn.md block {k}", "exec"), namespace)
        except Exception as exc:                     # name the block that failed
            raise AssertionError(f"docs/snn.md block {k} fails: {exc!r}\n{code}") from exc
    assert os.path.exists(tmp_path / "snn_membrane.png")
    # what the page says the blocks show
    assert all(np.array_equal(a, b) for a, b in zip(namespace["batch_run"].spikes,
                                                    namespace["brian_run"].spikes))
    assert namespace["imported"].layers[0].neuron.beta == pytest.approx(0.9)
    assert np.mean(namespace["chip"].predictions == namespace["y_te"]) > 0.85


def test_temporal_page_blocks_run_as_pasted(tmp_path, monkeypatch):
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install espeak-ng")
    path = os.path.join(os.path.dirname(DOC), "temporal.md")
    with open(path, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    assert blocks
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))      # the cache goes to tmp_path
    namespace: dict = {}
    for k, code in enumerate(blocks):
        exec(compile(code, f"docs/temporal.md block {k}", "exec"), namespace)
    assert namespace["data"].X.shape == (96, 16000)
    plans = namespace["program"].plan.plans
    assert [(p.activation, p.mvms_per_input, p.n_rseg) for p in plans] == [
        ("lstm", 49, 1), ("lstm", 49, 1), ("linear", 1, 1)]
    logits, model, x = namespace["logits"], namespace["model"], namespace["x"]
    assert logits.shape == (32, 12)
    assert np.mean(logits.argmax(1) == model.forward_float(x).argmax(1)) > 0.5
    assert (tmp_path / "snn_neurram" / "keywords-ci-0.npz").exists()


def test_ising_page_block_runs_and_finds_the_optimum():
    path = os.path.join(os.path.dirname(DOC), "ising.md")
    with open(path, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    assert blocks
    namespace: dict = {}
    for k, code in enumerate(blocks):
        exec(compile(code, f"docs/ising.md block {k}", "exec"), namespace)
    # what the page's first block prints: the enumerated optimum, reached by chip and software
    assert namespace["chip_cuts"].max() == namespace["best"]
    assert namespace["software"].best_cuts.max() == namespace["best"]
