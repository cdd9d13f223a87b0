"""Every subcommand's --json file says what it measured and how: the network it describes
(``network``), a ``provenance`` block (package version, command line, seeds, Python / numpy /
Brian2 versions, date), keys in the unit convention of docs/units.md (SI units named by a
suffix: ``_j``, ``_s``, ``_w``, ``_siemens``; never a scaled one such as ``_us`` or ``_uj``),
null for what does not apply, and ordinary file permissions.

Each subcommand runs once with its smallest options (about a minute in all on two cores;
``bench classify`` is the slowest, ~20 s). ``bench classify`` needs PyTorch, ``data
make-keywords`` espeak-ng, ``sweep`` pandas and pyarrow: each is skipped, saying why, without.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from importlib.util import find_spec

import pytest

import snn_neurram as sn
from snn_neurram.apps.cli import main

#: A 6-node G-set graph (first line "n m", then "i j w").
GRAPH = "6 7\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n5 6 1\n6 1 1\n1 4 1\n"
SPEC = ('network = "digits_mlp"\ntest_images = 20\ncalibrate = false\n'
        'metrics = ["accuracy", "energy", "latency"]\n[grid]\nchip_seed = [0]\n')


def _skip(reason: str):
    return pytest.mark.skip(reason=reason)


NO_TORCH = find_spec("torch") is None
NO_ESPEAK = shutil.which("espeak-ng") is None
NO_SWEEP = any(find_spec(m) is None for m in ("pandas", "pyarrow"))

#: name -> (argv with {tmp} for the test's folder, the network expected, the seeds' keys)
CASES = {
    "demo": (["demo", "--out", "{tmp}/out"], "logistic regression", {"seed", "chip_seed"}),
    "map": (["map", "digits-mlp", "--cores", "2"], "digits-mlp", {"seed", "chip_seed"}),
    "energy": (["energy", "digits-mlp", "--cores", "2"], "digits-mlp", {"seed", "chip_seed"}),
    "compare": (["compare", "--steps", "4", "--ann-bits", "2", "--test-samples", "20",
                 "--no-trained", "--chips", "1", "--out", "{tmp}/out"], "mlp64",
                {"seed", "chip_seeds"}),
    "data make-keywords": (["data", "make-keywords", "--size", "ci", "--folder", "{tmp}/kw"],
                           None, {"seed"}),
    "bench rbm": (["bench", "rbm", "--epochs", "1", "--chips", "1", "--train-samples", "200",
                   "--test-samples", "40", "--no-uses", "--out", "{tmp}/out"], "RBM",
                  {"seed", "chip_seeds"}),
    "bench classify": (["bench", "classify", "--epochs", "1", "--chips", "1", "--draws", "1",
                        "--train-samples", "400", "--test-samples", "50", "--out",
                        "{tmp}/out"], "digits-mlp", {"seed", "chip_seeds"}),
    "bench maxcut": (["bench", "maxcut", "{tmp}/graph.txt", "--sweeps", "10", "--chains", "2"],
                     "Ising machine", {"seed", "chip_seed"}),
    "sweep": (["sweep", "{tmp}/spec.toml", "--workers", "1"], "digits_mlp",
              {"seed", "chip_seeds"}),
}
SKIPS = {"bench classify": NO_TORCH and "bench classify needs PyTorch (the train extra)",
         "data make-keywords": NO_ESPEAK and "data make-keywords needs espeak-ng on the PATH",
         "sweep": NO_SWEEP and "sweep needs pandas and pyarrow (the sweep extra)"}

#: Scaled unit suffixes the convention does not use (SI base units only).
SCALED = re.compile(r"_(?:[munpfkMGTµ](?:s|j|J|w|W|v|V|a|A|S|siemens)|[nu]s|ms)$")
#: Parameter records keep their Python argument names (docs/units.md): SI, no suffix.
RECORDS = {"device", "neuron", "energy_model", "recipe", "recipes", "spec"}
#: Sweep grid parameters keep their spec names (read_time in s).
PARAMETERS = {"read_time"}


def _walk(obj, path=""):
    """(path, key, value) of every entry of nested dicts and lists, outside parameter records."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}.{k}", k, v
            if k not in RECORDS:
                yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _unit_problems(result: dict) -> list[str]:
    """Keys against the unit convention: scaled suffixes, and energies or times without their
    unit."""
    bad = []
    for path, key, value in _walk(result):
        if SCALED.search(key):
            bad.append(f"{path}: scaled unit suffix")
        numbers = _is_number(value) or (isinstance(value, dict) and value and
                                         all(_is_number(v) for v in value.values()))
        if not numbers or key in PARAMETERS or key in RECORDS:
            continue
        if "energy" in key and not key.endswith("_j"):
            bad.append(f"{path}: an energy without _j")
        if re.search(r"latency|(^|_)time($|_)", key) and not key.endswith(("_s", "_seconds")):
            bad.append(f"{path}: a time without _s")
    return bad


@pytest.fixture(scope="module")
def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("name", list(CASES))
def test_json_has_network_provenance_and_units(name, tmp_path, umask, capsys):
    if SKIPS.get(name):
        pytest.skip(SKIPS[name])
    (tmp_path / "graph.txt").write_text(GRAPH)
    (tmp_path / "spec.toml").write_text(SPEC)
    argv, network, seeds = CASES[name]
    path = tmp_path / "result.json"
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--json", str(path)]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(path.read_text())

    # the network it describes, under one key in every file (null where there is none)
    assert "network" in result and "model" not in result
    if network is None:
        assert result["network"] is None
    else:
        names = result["network"] if isinstance(result["network"], list) else \
            [result["network"]]
        assert names and network in names[0], result["network"]

    # where and how it was measured
    prov = result["provenance"]
    assert prov["command"] == "snn-neurram " + " ".join(argv)
    assert prov["snn_neurram"] == sn.__version__
    assert prov["python"] and prov["numpy"] and "brian2" in prov
    assert datetime.fromisoformat(prov["date"]).tzinfo is not None
    assert isinstance(prov["seeds"], dict) and set(prov["seeds"]) == seeds
    assert prov["seeds"]["seed"] == 0
    for key in seeds - {"seed"}:
        assert prov["seeds"][key] is not None, key

    # one unit convention (docs/units.md)
    assert not _unit_problems(result), _unit_problems(result)

    # an ordinary file: 0666 minus the umask, no temporary file left beside it
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".result.json.tmp-")]


def test_energy_names_its_constants_energy_model(tmp_path):
    """``model`` no longer means the energy constants in one file and the network in another."""
    path = tmp_path / "e.json"
    assert main(["energy", "digits-mlp", "--cores", "2", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["network"] == "digits-mlp"
    assert set(result["energy_model"]) >= {"e_wl_phase", "t_phase"}
    assert result["energy_per_inference_j"] > 0 and result["latency_per_inference_s"] > 0


def test_saved_program_has_no_seed_of_its_own(tmp_path):
    """A saved program was compiled already: the seeds of map/energy do not apply (null)."""
    from snn_neurram import compile as compile_model
    from snn_neurram.apps.models import build
    from snn_neurram.hw.chip import Chip

    model, shape = build("digits-mlp", seed=0)
    program = compile_model(model, Chip(n_cores=2, seed=0), input_shape=shape,
                            calibration_size=32)
    saved = tmp_path / "p.npz"
    program.save(str(saved))
    path = tmp_path / "m.json"
    assert main(["map", str(saved), "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["provenance"]["seeds"] == {"seed": None, "chip_seed": None}
    assert "saved program p.npz" in result["network"]


def test_unit_check_catches_scaled_keys():
    assert _unit_problems({"rows": [{"latency_us": 1.0}]})
    assert _unit_problems({"energy_uj": 1.0}) and _unit_problems({"error_rms_uS": 1.0})
    assert _unit_problems({"latency": 1.0}) and _unit_problems({"energy_per_mvm": 1.0})
    assert not _unit_problems({"latency_s": 1.0, "energy_j": 2.0, "seconds": 3.0,
                               "programming_error_rms_siemens": 1e-6,
                               "device": {"g_min": 1e-6}})
