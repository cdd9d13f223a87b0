"""What users see when they print objects, ask for the version, or read the files we write."""

import os

import numpy as np
import pytest

import snn_neurram as sn
from snn_neurram._io import write_json


def test_objects_print_what_they_hold():
    model = sn.Sequential(sn.Conv2d(np.ones((8, 1, 3, 3)), padding=1, clip=6.0),
                          sn.MaxPool2d(2), sn.Flatten(),
                          sn.Dense(np.ones((128, 10)), activation="linear", name="head"))
    chip = sn.Chip(seed=3)
    program = sn.compile(model, chip, input_shape=(1, 8, 8))
    texts = {"model": repr(model), "program": repr(program), "chip": repr(chip),
             "core": repr(chip.cores[0]),
             "lstm": repr(sn.ParallelLSTM(sn.LSTM(np.ones((2, 8)), np.ones((2, 8))))),
             "snn": repr(sn.SpikingDense(np.ones((4, 3)), neuron=sn.LIF([1.0, 2.0, 3.0], 0.9),
                                         W_rec=np.zeros((3, 3))))}
    for name, text in texts.items():
        assert "object at 0x" not in text, name
    assert "Conv2d(1 -> 8, 3x3, stride 1, padding 1, relu, clip=6" in texts["model"]
    assert "Dense(128 -> 10, linear, name='head')" in texts["model"]
    assert texts["program"].startswith("ChipProgram(2 weighted layers on 1 of 48 cores)")
    assert "seed=3" in texts["chip"] and "1 programmed" in texts["chip"]
    assert texts["core"].startswith("Core(2 blocks")
    assert "LSTM(2 features, 2 hidden" in texts["lstm"]
    assert "recurrent" in texts["snn"] and "per neuron 1..3" in texts["snn"]


def test_version_flag(capsys):
    from snn_neurram.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"snn-neurram {sn.__version__}"


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        write_json(path, {"a": 1})
        assert os.stat(path).st_mode & 0o777 == 0o644        # not mkstemp's private 0600
        os.chmod(path, 0o640)
        write_json(path, {"a": 2})                          # a rewrite keeps the file's mode
        assert os.stat(path).st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_library_warnings_stay_out_of_the_cli_unless_verbose(monkeypatch, capsys):
    import warnings

    from snn_neurram.apps import cli

    def noisy(args):
        warnings.warn("lbfgs failed to converge", UserWarning)
        print("result")
        return 0

    real = cli.parse_args

    def parse(argv):
        args = real(argv)
        args.func = noisy
        return args

    monkeypatch.setattr(cli, "parse_args", parse)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert cli.main(["map", "digits-mlp"]) == 0
        assert not seen
        assert cli.main(["map", "digits-mlp", "--verbose"]) == 0
        assert [str(w.message) for w in seen] == ["lbfgs failed to converge"]


def test_program_result_prints_a_summary_not_arrays():
    result = sn.RRAMDevice().program(np.full((40, 40), 10e-6), np.random.default_rng(0))
    text = repr(result)
    assert text.startswith("ProgramResult(1600 cells, conductance ")
    assert "uS" in text and "[" not in text
