"""The command line rejects bad options before any work, names the option, exits with status 2
without a traceback, and passes every given value on exactly as given.

Only cheap commands run for real (``map digits-mlp``, a missing data folder, a bad program file);
every reject happens in argparse, before a subcommand starts.
"""

import json

import pytest

from snn_neurram.apps import cli
from snn_neurram.apps.cli import main, parse_args


@pytest.fixture
def paths(tmp_path):
    existing_file = tmp_path / "a_file.txt"
    existing_file.write_text("not a program\n")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    return {"file": str(existing_file), "dir": str(folder), "tmp": tmp_path}


@pytest.fixture
def no_work(monkeypatch):
    """Every subcommand fails the test if it starts: rejects must come before any work."""
    def started(args):
        raise AssertionError(f"{args.command} started despite a bad option")

    for name in ("cmd_demo", "cmd_compare", "cmd_bench", "cmd_map", "cmd_energy", "cmd_data",
                 "cmd_sweep"):
        monkeypatch.setattr(cli, name, started)


# (argv, option the message must name, a fragment of the message); {file}/{dir} from `paths`
REJECTS = [
    (["data", "make-keywords", "--size", "huge"], "--size", "invalid choice"),
    (["data", "make-keywords", "--seed", "-1"], "--seed", "[0, 4294967295]"),
    (["data", "make-words"], "what", "invalid choice"),
    (["data", "make-keywords", "--folder", "{file}"], "--folder", "existing file"),
    (["compare", "--chips", "0"], "--chips", "[1, 100]"),
    (["compare", "--dataset", "keywords", "--keywords-size", "huge"], "--keywords-size",
     "invalid choice"),
    (["compare", "--trained-steps", "0"], "--trained-steps", "[1, 100000]"),
    (["demo", "--seed", "-1"], "--seed", "[0, 4294967295]"),
    (["demo", "--seed", "1.5"], "--seed", "must be an integer"),
    (["compare", "--seed", "4294967296"], "--seed", "[0, 4294967295]"),
    (["compare", "--steps", "abc"], "--steps", "comma-separated list of integers in [1, 100000]"),
    (["compare", "--steps", "8,,16"], "--steps", "empty entry"),
    (["compare", "--steps", "0,8"], "--steps", "[1, 100000]"),
    (["compare", "--ann-bits", "1,9"], "--ann-bits", "[1, 8]"),
    (["compare", "--out-bits", "0"], "--out-bits", "[1, 8]"),
    (["compare", "--test-samples", "0"], "--test-samples", "[1, inf)"),
    (["compare", "--test-samples", "-5"], "--test-samples", "[1, inf)"),
    (["compare", "--dataset", "mnist"], "--dataset", "invalid choice"),
    (["compare", "--model", "cnn"], "--model", "invalid choice"),
    (["compare", "--data", "{file}", "--dataset", "fashion-mnist"], "--data", "existing folder"),
    (["demo", "--out", "{file}"], "--out", "existing file"),
    (["compare", "--out", "{file}/sub"], "--out", "is a file"),
    (["bench", "rbm", "--out", "{file}"], "--out", "existing file"),
    (["demo", "--json", "{dir}"], "--json", "is a folder"),
    (["demo", "--json", "{file}/x.json"], "--json", "is a file, not a folder"),
    (["demo", "--json", ""], "--json", "empty"),
    # the JSON's folder must exist: a mistyped folder is not created silently
    (["demo", "--json", "{tmp}/no_such_folder/x.json"], "--json", "does not exist"),
    (["bench", "maxcut", "--json", "{tmp}/no_such_folder/x.json"], "--json", "does not exist"),
    (["map", "digits-mlp", "--json", "{dir}"], "--json", "is a folder"),
    (["map", "digits-mlp", "--figure", "{dir}"], "--figure", "is a folder"),
    (["demo", "--read-time", "0"], "--read-time", "> 0"),
    (["demo", "--read-time", "nan"], "--read-time", "finite"),
    (["demo", "--in-bits", "9"], "--in-bits", "in_bits must be an integer in [1, 8]"),
    (["demo", "--out-bits", "0"], "--out-bits", "[1, 8]"),
    (["energy", "digits-mlp", "--in-bits", "9"], "--in-bits", "[1, 8]"),
    (["energy", "digits-mlp", "--out-bits", "x"], "--out-bits", "[1, 8]"),
    (["map", "digits-mlp", "--cores", "0"], "--cores", "[1, 48]"),
    (["map", "digits-mlp", "--cores", "49"], "--cores", "[1, 48]"),
    (["map", "no-such-model"], "MODEL", "mnist-cnn, digits-mlp, resnet20"),
    (["map", "{dir}"], "MODEL", "is a folder"),
    (["bench", "classify", "--chips", "0"], "--chips", "[1, 100]"),
    (["bench", "classify", "--chips", "101"], "--chips", "[1, 100]"),
    (["bench", "classify", "--epochs", "0"], "--epochs", "[1, 100000]"),
    (["bench", "classify", "--epochs", "-3"], "--epochs", "[1, 100000]"),
    (["bench", "classify", "--draws", "0"], "--draws", "[1, 100]"),
    (["bench", "classify", "--test-samples", "0"], "--test-samples", "[1, inf)"),
    (["bench", "rbm", "--chips", "0"], "--chips", "[1, 100]"),
    (["bench", "rbm", "--epochs", "0"], "--epochs", "[1, 100000]"),
    (["bench", "rbm", "--train-samples", "0"], "--train-samples", "[1, inf)"),
    (["bench", "rbm", "--protocol", "known"], "--protocol", "invalid choice"),
    (["bench", "maxcut", "--sweeps", "0"], "--sweeps", "[1, 1000000]"),
    (["bench", "maxcut", "--method", "random"], "--method", "invalid choice"),
    (["bench", "maxcut", "{dir}"], "GRAPH", "is a folder"),
    (["bench", "rbm", "--dataset", "mnist"], "--dataset", "invalid choice"),
    # another benchmark's option: refused, naming the benchmark that has it, rather than
    # silently dropped (each benchmark has its own options)
    (["bench", "rbm", "--draws", "2"], "--draws", "it is an option of 'bench classify'"),
    (["bench", "maxcut", "--epochs", "2"], "--epochs", "not an option of 'bench maxcut'"),
    (["bench", "maxcut", "--out", "x"], "--out", "not an option of 'bench maxcut'"),
    (["bench", "maxcut", "--dataset", "digits"], "--dataset", "not an option"),
    (["bench", "classify", "--protocol", "blind"], "--protocol", "'bench rbm'"),
    (["bench", "rbm", "--sweeps", "3"], "--sweeps", "'bench maxcut'"),
    (["demo", "--chips", "3"], "--chips", "not an option of 'demo'"),
    (["compare", "--data", "{dir}"], "--data", "only used with --dataset fashion-mnist"),
    (["bench", "classify", "--data", "{dir}"], "--data", "only used with --dataset"),
    (["bench", "rbm", "--data", "{dir}"], "--data", "only used with --dataset"),
    (["map", "{file}", "--cores", "4"], "--cores", "saved program file"),
    (["energy", "{file}", "--seed", "1"], "--seed", "saved program file"),
    (["map", "{file}", "--replicate"], "--replicate", "saved program file"),
]


def _fill(argv, paths):
    return [a.format(**paths) for a in argv]


@pytest.mark.parametrize("argv, option, fragment", REJECTS,
                         ids=[" ".join(r[0]) for r in REJECTS])
def test_bad_option_exits_2_naming_the_option(argv, option, fragment, paths, no_work, capsys):
    argv = _fill(argv, paths)
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    command = " ".join(argv[:2]) if argv[0] == "bench" else argv[0]
    assert f"snn-neurram {command}: error: argument {option}" in err, err
    assert fragment in err, err
    assert "Traceback" not in err
    # main() reports the same and returns the status (the console script exits with it)
    assert main(argv) == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_main_returns_status_of_argparse(capsys):
    assert main(["demo", "--help"]) == 0
    assert "--read-time" in capsys.readouterr().out
    assert main([]) == 2                                      # no subcommand


def test_bench_classify_passes_chips_and_epochs_exactly(monkeypatch, paths):
    """Given values reach the recipe exactly; not given ones are left to the recipe."""
    from snn_neurram.apps import classify_bench

    seen = []

    class Stop(Exception):
        pass

    def fake(dataset, recipe=None, **kwargs):
        seen.append(recipe)
        raise Stop

    monkeypatch.setattr(classify_bench, "classify_benchmark", fake)
    out = str(paths["tmp"] / "bench")
    for argv, want in ((["--chips", "1", "--epochs", "1"], {"chips": 1, "epochs": 1}),
                       (["--draws", "2"], {"draws": 2}),
                       (["--epochs", "7"], {"epochs": 7}),
                       ([], {})):
        with pytest.raises(Stop):                 # not a user error: main lets it through
            main(["bench", "classify", "--out", out] + argv)
        assert seen[-1] == want


def test_demo_passes_bits_to_both_demos_only_when_given(monkeypatch, paths):
    from snn_neurram.apps import demo

    calls = []

    class Stop(Exception):
        pass

    monkeypatch.setattr(demo, "run_core_demo", lambda **kw: calls.append(("core", kw)) or {})
    monkeypatch.setattr(cli, "_print_demo", lambda r: None)

    def chip(**kw):
        calls.append(("chip", kw))
        raise Stop

    monkeypatch.setattr(demo, "run_chip_demo", chip)
    out = str(paths["tmp"] / "demo")
    with pytest.raises(Stop):
        main(["demo", "--out", out, "--in-bits", "3", "--out-bits", "6", "--seed", "0"])
    assert [(w, kw["in_bits"], kw["out_bits"], kw["seed"]) for w, kw in calls] == \
        [("core", 3, 6, 0), ("chip", 3, 6, 0)]
    calls.clear()
    with pytest.raises(Stop):
        main(["demo", "--out", out])
    assert all("in_bits" not in kw and "out_bits" not in kw for _, kw in calls)


def test_compare_passes_lists_and_test_samples(monkeypatch, paths):
    from snn_neurram.apps import compare

    class Stop(Exception):
        pass

    seen = {}

    def fake(**kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(compare, "run_comparison", fake)
    with pytest.raises(Stop):
        main(["compare", "--steps", "4, 8,16", "--ann-bits", "2", "--test-samples", "1",
              "--out", str(paths["tmp"] / "cmp")])
    assert seen["steps"] == [4, 8, 16] and seen["ann_bits"] == [2]
    assert seen["test_samples"] == 1


def test_bad_program_file_is_a_user_error(paths, capsys):
    assert main(["map", paths["file"], "--figure", str(paths["tmp"] / "m.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-neurram: error: ") and "program file" in err
    assert "Traceback" not in err


def test_missing_dataset_files_are_a_user_error(paths, capsys):
    code = main(["compare", "--dataset", "fashion-mnist", "--data", paths["dir"],
                 "--out", str(paths["tmp"] / "cmp")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-neurram: error: Fashion-MNIST: ") and "not found" in err


def test_capacity_error_is_a_user_error(paths, capsys):
    assert main(["map", "resnet20", "--cores", "1",
                 "--figure", str(paths["tmp"] / "r.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snn-neurram: error: ") and "cores" in err


def test_bugs_still_raise(monkeypatch, paths):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_map", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["map", "digits-mlp"])


def test_valid_map_runs_and_writes_json(paths, capsys):
    path = paths["tmp"] / "map.json"
    fig = paths["tmp"] / "new" / "map.png"              # a figure's folder is created
    assert main(["map", "digits-mlp", "--seed", "0", "--cores", "2", "--json", str(path),
                 "--figure", str(fig)]) == 0
    rep = json.loads(path.read_text())
    assert rep["cores_used"] == 1 and fig.exists() and rep["figure"] == str(fig)
    assert rep["network"] == "digits-mlp"
    out = capsys.readouterr().out
    assert "figure:" in out and "row pairs" in out


@pytest.mark.parametrize("command", ["map", "energy"])
def test_map_and_energy_write_no_figure_unless_asked(command, paths, monkeypatch, capsys):
    """No PNG appears in the current folder (nor anywhere) without --figure."""
    monkeypatch.chdir(paths["tmp"])
    path = paths["tmp"] / f"{command}.json"
    assert main([command, "digits-mlp", "--cores", "2", "--json", str(path)]) == 0
    assert not list(paths["tmp"].rglob("*.png"))
    assert json.loads(path.read_text())["figure"] is None
    out = capsys.readouterr().out
    assert "figure:" not in out
    if command == "energy":             # one unit convention in the text: nJ and µs
        assert "µs" in out and "nJ" in out and " us" not in out and "uJ" not in out


def test_every_option_shows_its_default():
    """Every option's help names its default (argparse's own --help and --version aside)."""
    _, subs = cli._parsers()
    missing = []
    for name, parser in subs.items():
        for action in parser._actions:
            if action.dest in ("help", "what", "command") or not action.option_strings and \
                    action.nargs is None:
                continue
            if "default" not in (action.help or ""):
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_json_may_go_into_the_out_folder_the_run_creates(paths, no_work):
    """``--out OUT --json OUT/r.json``: OUT is created by the run, so its absence is fine; any
    other missing folder is an error (see REJECTS)."""
    out = paths["tmp"] / "new_out"
    args = parse_args(["bench", "classify", "--out", str(out), "--json", str(out / "r.json")])
    assert args.json == str(out / "r.json") and not out.exists()
    with pytest.raises(SystemExit):
        parse_args(["bench", "classify", "--out", str(out), "--json",
                    str(paths["tmp"] / "other" / "r.json")])


def test_bench_has_separate_benchmarks(capsys):
    """bench rbm, classify and maxcut each take only their own options."""
    _, subs = cli._parsers()
    opts = {name: set(subs[f"bench {name}"]._option_string_actions)
            for name in ("rbm", "classify", "maxcut")}
    assert {"--epochs", "--chips", "--protocol", "--no-uses"} <= opts["rbm"]
    assert "--draws" not in opts["rbm"] and "--sweeps" not in opts["rbm"]
    assert {"--epochs", "--chips", "--draws"} <= opts["classify"]
    assert "--protocol" not in opts["classify"]
    assert {"--sweeps", "--chains", "--method"} <= opts["maxcut"]
    assert not {"--epochs", "--chips", "--draws", "--dataset", "--out"} & opts["maxcut"]
    # the command lines of the docs still parse
    args = parse_args(["bench", "rbm", "--dataset", "digits", "--protocol", "both",
                       "--json", "r.json"])
    assert (args.what, args.protocol, args.epochs, args.chips) == ("rbm", "both", None, None)
    args = parse_args(["bench", "maxcut", "--sweeps", "5", "--chains", "2", "--method",
                       "parallel"])
    assert (args.graph, args.sweeps, args.chains, args.method) == (None, 5, 2, "parallel")
    with pytest.raises(SystemExit):
        parse_args(["bench"])                          # which benchmark: required
    assert "required" in capsys.readouterr().err


def test_bench_rbm_passes_its_options_exactly(monkeypatch, paths):
    """``bench rbm --epochs 2 --chips 3`` trains 2 epochs on 3 chips (it used to be refused,
    and before that silently ignored)."""
    from snn_neurram.apps import rbm_bench

    seen = []

    class Stop(Exception):
        pass

    def fake(dataset, seed=0, recipe=None, uses=True, **kwargs):
        seen.append((recipe, uses))
        raise Stop

    monkeypatch.setattr(rbm_bench, "recovery_benchmark", fake)
    out = str(paths["tmp"] / "bench")
    for argv, want in ((["--epochs", "2", "--chips", "3"], ({"epochs": 2, "chips": 3}, True)),
                       (["--train-samples", "50", "--test-samples", "9", "--no-uses"],
                        ({"train_samples": 50, "test_samples": 9}, False)),
                       ([], ({}, True))):
        with pytest.raises(Stop):
            main(["bench", "rbm", "--out", out] + argv)
        assert seen[-1] == want


def test_console_script_exits_2_without_traceback():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "snn_neurram.apps.cli", "demo", "--seed", "-1"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "argument --seed" in run.stderr and "Traceback" not in run.stderr
