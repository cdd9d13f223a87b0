"""The ``snn-neurram`` command line. Every subcommand that reports numbers takes ``--json PATH``:
the results, the network they describe (``network``) and where and how they were measured
(``provenance``: command, seeds, versions, date), in the units of docs/units.md (SI, named by a
suffix: ``_j``, ``_s``, ``_siemens``). ``bench`` has one subcommand per benchmark (``bench rbm``,
``bench classify``, ``bench maxcut``), each with only its own options.

Every option is checked by argparse before any work starts (the converters below): a bad value
ends the run with ``snn-neurram <command>: error: argument --option: ...`` and exit status 2.
Errors that only show later (a missing data set folder, a file that is not a saved program, a
model that does not fit the chip) end with ``snn-neurram: error: <message>`` and status 2.
An option the user did not give is ``None``; a given value is passed on exactly as given.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .._io import write_json
from .._version import __version__
from .provenance import provenance
from ..errors import CapacityError, ProgramFileError
from ..hw.chip import Chip
from .datasets import DATASETS

__all__ = ["main", "build_parser", "parse_args"]

#: Largest seed: scikit-learn's (numpy RandomState's) limit, the tightest of the seeded parts.
MAX_SEED = 2 ** 32 - 1
#: Ranges the library accepts (hw.chip.Chip, engines.batch.check_bits, engines.spiking.run_snn,
#: training.train, apps.classify_bench).
MAX_CORES = Chip.MAX_CORES
MAX_STEPS = 100_000
MAX_EPOCHS = 100_000
MAX_CHIPS = 100
MAX_DRAWS = 100
#: Defaults of map and energy when MODEL is a model name (not a saved program file).
DEFAULT_CORES = 48
DEFAULT_SEED = 0

# --------------------------------------------------------------------------- option converters
# Each returns a function for argparse's ``type=``: it converts the text or raises
# ArgumentTypeError saying the allowed range; argparse then names the option and exits with 2.


def _parse_int(text: str, name: str, lo: int, hi: int | None) -> int:
    rng = f"[{lo}, {hi}]" if hi is not None else f"[{lo}, inf)"
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name} must be an integer in {rng} (got {text!r})") from None
    if value < lo or (hi is not None and value > hi):
        raise argparse.ArgumentTypeError(f"{name} must be an integer in {rng} (got {value})")
    return value


def _int_range(name: str, lo: int, hi: int | None = None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        return _parse_int(text, name, lo, hi)

    convert.__name__ = name
    return convert


def _positive_int(name: str, hi: int | None = None) -> Callable[[str], int]:
    """An integer >= 1 (at most ``hi``)."""
    return _int_range(name, 1, hi)


def _nonneg_int(name: str, hi: int | None = None) -> Callable[[str], int]:
    """An integer >= 0 (at most ``hi``)."""
    return _int_range(name, 0, hi)


def _seed(name: str = "seed") -> Callable[[str], int]:
    return _nonneg_int(name, MAX_SEED)


def _bits(name: str) -> Callable[[str], int]:
    """A bit width in [1, 8], the range of the chip's inputs and ADC."""
    return _int_range(name, 1, 8)


def _int_list(name: str, lo: int, hi: int, example: str) -> Callable[[str], list[int]]:
    """Comma-separated integers, each in [lo, hi], e.g. "4,8,16"."""
    def convert(text: str) -> list[int]:
        what = (f"{name} must be a comma-separated list of integers in [{lo}, {hi}], "
                f"e.g. {example}")
        items = text.split(",")
        if not text.strip() or any(not s.strip() for s in items):
            raise argparse.ArgumentTypeError(f"{what} (got {text!r}: an empty entry)")
        values = []
        for s in items:
            try:
                v = int(s.strip())
            except ValueError:
                raise argparse.ArgumentTypeError(f"{what} (got {text!r})") from None
            if not lo <= v <= hi:
                raise argparse.ArgumentTypeError(f"{what} (got {v} in {text!r})")
            values.append(v)
        return values

    convert.__name__ = name
    return convert


def _positive_float(name: str) -> Callable[[str], float]:
    """A finite real number > 0."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"{name} must be a finite number > 0 (got {text!r})")
        return value

    convert.__name__ = name
    return convert


def _creatable(folder: str) -> str | None:
    """Why ``folder`` (existing or not) cannot hold new files, or None when it can."""
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        if probe == os.path.abspath(folder):
            return f"{probe} is a file, not a folder"
        return f"{probe} is a file, so the folder {os.path.abspath(folder)} cannot be created"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"the folder {probe} is not writable"
    return None


def _out_folder(name: str) -> Callable[[str], str]:
    """A folder for output files: an existing folder or one that can be created (created when
    the run writes to it); never an existing file."""
    def convert(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError("expected a folder path (got an empty string)")
        if os.path.exists(text) and not os.path.isdir(text):
            raise argparse.ArgumentTypeError(
                f"{text!r} is an existing file; give a folder (it is created if needed)")
        problem = _creatable(text)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write to the folder {text!r}: {problem}")
        return text

    convert.__name__ = name
    return convert


def _file_path(name: str) -> Callable[[str], str]:
    """A file to write: not an existing folder; its folder exists or can be created."""
    def convert(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError("expected a file path (got an empty string)")
        if os.path.isdir(text) or text.endswith(("/", os.sep)):
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file path")
        problem = _creatable(os.path.dirname(os.path.abspath(text)))
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write the file {text!r}: {problem}")
        return text

    convert.__name__ = name
    return convert


def _json_path(name: str = "json") -> Callable[[str], str]:
    """A JSON file to write: not a folder. Its folder must exist already, or be the folder the
    same command creates (its ``--out``): checked after parsing by :func:`_json_folder`."""
    def convert(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError("expected a file path (got an empty string)")
        if os.path.isdir(text) or text.endswith(("/", os.sep)):
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file path")
        return text

    convert.__name__ = name
    return convert


def _json_folder(args: argparse.Namespace) -> str | None:
    """Why the folder of ``--json`` cannot take the file, or None. A missing folder is an error
    (a mistyped folder is never created silently) unless it is the command's own ``--out``
    folder, which the run creates."""
    path = getattr(args, "json", None)
    if path is None:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(folder):
        if not os.access(folder, os.W_OK | os.X_OK):
            return (f"argument --json: cannot write the file {path!r}: the folder {folder} is "
                    "not writable")
        return None
    problem = _creatable(folder)
    if problem:
        return f"argument --json: cannot write the file {path!r}: {problem}"
    out = getattr(args, "out", None)
    if out is not None and os.path.abspath(out) == folder:
        return None                               # the run creates --out before writing
    return (f"argument --json: cannot write the file {path!r}: the folder {folder} does not "
            "exist (create it first)")


def _existing_file(name: str) -> Callable[[str], str]:
    """An existing file to read from."""
    def convert(text: str) -> str:
        if not os.path.isfile(text):
            what = "is a folder" if os.path.isdir(text) else "does not exist"
            raise argparse.ArgumentTypeError(f"{name} must be an existing file ({text!r} {what})")
        return text

    convert.__name__ = name
    return convert


def _name_list(name: str, choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Comma-separated names, each one of ``choices``, e.g. "lstm,snn"."""
    def convert(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",")]
        bad = [s for s in items if s not in choices]
        if not text.strip() or bad:
            raise argparse.ArgumentTypeError(
                f"{name} must be a comma-separated list of {', '.join(choices)} (got {text!r})")
        return items

    convert.__name__ = name
    return convert


def _data_folder(name: str = "data") -> Callable[[str], str]:
    """An existing folder to read from."""
    def convert(text: str) -> str:
        if not text or not os.path.isdir(text):
            what = "is a file" if os.path.isfile(text) else "does not exist"
            raise argparse.ArgumentTypeError(f"expected an existing folder ({text!r} {what})")
        return text

    convert.__name__ = name
    return convert


def _model_arg(text: str) -> str:
    """MODEL: a reference model's name or a saved program file."""
    from .models import MODELS

    if text in MODELS or os.path.isfile(text):
        return text
    why = "is a folder" if os.path.isdir(text) else "is neither a model name nor an existing file"
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(MODELS)} or a saved program file ({text!r} {why})")


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None), to pass on as keyword arguments."""
    return {k: v for k, v in options.items() if v is not None}


def _fmt_pct(x):
    return f"{100 * x:6.2f} %"


def _demo_json(core: dict[str, Any], chip: dict[str, Any]) -> dict[str, Any]:
    """The demo's results as written to --json: the network under ``network``, the chip demo
    under ``chip_demo`` without its text report."""
    r = {"network": core.get("model"), **{k: v for k, v in core.items() if k != "model"}}
    if chip:
        r["chip_demo"] = {"network": chip.get("model"),
                          **{k: v for k, v in chip.items() if k not in ("model", "report")}}
    return r


def _print_demo(r):
    acc = r["accuracy"]
    print("snn_neurram demo: 8x8 digits through one simulated NeuRRAM core")
    print(f"  data: {r['dataset']['train']} training / {r['dataset']['test']} test digits; "
          f"network: {r['network']}")
    print("accuracy")
    for name, value in acc.items():
        print(f"  {name:<28s}{_fmt_pct(value)}")
    e = r["mvm_error"]
    print(f"MVM error of the core against software ({r['in_bits']}-bit inputs, "
          f"{r['out_bits']}-bit outputs)")
    print(f"  rmse {e['rmse']:.4f} ({e['rmse_over_output_std']:.3f} of the output std), "
          f"mean {e['mean_error']:+.4f}, max |error| {e['max_abs_error']:.3f}, "
          f"correlation {e['correlation']:.4f}")
    c = r["core"]
    print("programming")
    print(f"  {c['rows_used']} rows x {c['columns_used']} columns used "
          f"({c['bias_row_pairs']} bias row pairs), w_max {c['w_max']:.3f}, "
          f"{100 * c['clipped_fraction']:.1f} % of weights clipped")
    print(f"  write-verify: {c['pulses_mean']:.1f} pulses per cell on average (max "
          f"{c['pulses_max']}), {100 * c['in_band_fraction']:.2f} % inside the band, "
          f"error rms {1e6 * c['programming_error_rms_siemens']:.2f} µS; "
          f"{c['stuck_cells']} stuck cells")
    print(f"  relaxation after {c['read_time_s']:g} s: rms change "
          f"{1e6 * c['relaxation_rms_siemens']:.2f} µS")
    d, n = r["device"], r["neuron"]
    on = [k for k in ("write_verify", "variation", "relaxation", "read_noise", "faults", "drift")
          if d[k]]
    print("device settings")
    print(f"  window {d['g_min'] * 1e6:g}-{d['g_max'] * 1e6:g} µS, tolerance "
          f"+-{d['tolerance'] * 1e6:g} µS, read noise {100 * d['read_noise_sigma']:g} %, stuck "
          f"off/on {d['stuck_off_rate']:g}/{d['stuck_on_rate']:g}; effects on: {', '.join(on)}")
    print(f"  neuron: V_read {n['v_read']:.3f} V x{n['pulse_multiplier']} pulses, "
          f"C_s/C_i {n['c_ratio']:g}, ADC step {n['adc_lsb'] * 1e3:g} mV ({n['adc']})")
    print(f"figure: {r['figure']}")
    print(f"({r['seconds']:.1f} s)")


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_chip_demo, run_core_demo

    # --in-bits / --out-bits not given: each demo keeps its own default (core 4/8, chip 4/4)
    bits = _given(in_bits=args.in_bits, out_bits=args.out_bits)
    core = run_core_demo(out_dir=args.out, seed=args.seed, read_time=args.read_time, **bits)
    _print_demo(_demo_json(core, {}))
    chip = run_chip_demo(out_dir=args.out, seed=args.seed, read_time=args.read_time, **bits)
    print()
    print("snn_neurram demo: a two-layer MLP compiled onto the 48-core chip")
    print(f"  {chip['model']}; on the chip {chip['in_bits']}-bit inputs, "
          f"{chip['out_bits']}-bit activations, {chip['head_bits']}-bit outputs")
    print(chip["report"])
    print("accuracy")
    for name, value in chip["accuracy"].items():
        print(f"  {name:<28s}{_fmt_pct(value)}")
    print(f"figure: {chip['figure']}")
    print(f"({chip['seconds']:.1f} s)")
    if args.json is not None:
        result = _demo_json(core, chip)
        _write(args, result, network=result["network"],
               seeds={"seed": args.seed, "chip_seed": args.seed})
    return 0


def _program_seeds(args: argparse.Namespace) -> dict[str, Any]:
    """The seeds map and energy used: the chip's (and the model's) seed for a model name; None
    for a saved program file (programmed already, with the seeds stored in it)."""
    from .models import MODELS

    seed = (DEFAULT_SEED if args.seed is None else args.seed) if args.model in MODELS else None
    return {"seed": seed, "chip_seed": seed}


def _program_network(args: argparse.Namespace, program: Any) -> str:
    from .models import MODELS

    if args.model in MODELS:
        return args.model
    name = getattr(getattr(program, "model", None), "name", None)
    return f"{name or 'network'} (saved program {os.path.basename(args.model)})"


def cmd_map(args: argparse.Namespace) -> int:
    program = _program_for(args)
    rep = program.report(figure=args.figure, energy=False)      # a PNG only if asked for
    print(program.report_text(rep))
    if args.figure is not None:
        print(f"figure: {rep['figure']}")
    rep.setdefault("figure", None)
    if args.json is not None:
        _write(args, rep, network=_program_network(args, program), seeds=_program_seeds(args))
    return 0


def _program_for(args):
    from ..program import compile as compile_model
    from ..program import load
    from .models import MODELS, build

    if args.model not in MODELS:               # a saved program file (checked by _model_arg)
        return load(args.model)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    cores = DEFAULT_CORES if args.cores is None else args.cores
    model, shape = build(args.model, seed=seed)
    return compile_model(model, Chip(n_cores=cores, seed=seed), input_shape=shape,
                         replicate=args.replicate, calibration_size=32)


def cmd_energy(args: argparse.Namespace) -> int:
    from ..analysis.energy import program_account

    program = _program_for(args)
    acc = program_account(program, args.in_bits, args.out_bits)
    print(program.energy_text(acc))
    acc["figure"] = None
    if args.figure is not None:                                 # a PNG only if asked for
        from ..analysis.plotting import energy_figure

        acc["figure"] = energy_figure(acc, args.figure)
        print(f"figure: {acc['figure']}")
    if args.json is not None:
        _write(args, acc, network=_program_network(args, program), seeds=_program_seeds(args))
    return 0


def _chip_seeds(seed: int, chips: int) -> dict[str, Any]:
    return {"seed": seed, "chip_seeds": list(range(seed, seed + chips))}


def cmd_compare(args: argparse.Namespace) -> int:
    seeds = _chip_seeds(args.seed, args.chips)
    if args.dataset == "keywords":
        from .keyword_bench import run_keywords

        print(f"snn-neurram compare: temporal models on the synthesised keywords "
              f"({args.keywords_size})")
        result = run_keywords(args.keywords_size, args.seed, args.chips,
                              models=args.temporal_models, out_dir=args.out)
        return _finish(result, args, network=result.get("network"), seeds=seeds)
    if args.dataset in ("speech-commands", "shd", "nmnist"):
        from .keyword_bench import run_temporal

        if args.data_dir is None:
            raise SystemExit(f"snn-neurram compare: --dataset {args.dataset} needs --data-dir "
                             "FOLDER, the folder that holds the data set (docs/temporal.md)")
        print(f"snn-neurram compare: temporal models on {args.dataset}")
        result = run_temporal(args.dataset, args.data_dir, args.seed, args.chips,
                              max_per_class=args.max_per_class, models=args.temporal_models,
                              out_dir=args.out)
        return _finish(result, args, network=result.get("network"), seeds=seeds)
    from .compare import run_comparison

    print(f"snn-neurram compare: {args.model} on {args.dataset}")
    result = run_comparison(dataset=args.dataset, model=args.model, steps=args.steps,
                            ann_bits=args.ann_bits, out_bits=args.out_bits, seed=args.seed,
                            out_dir=args.out, test_samples=args.test_samples, folder=args.data,
                            chips=args.chips, trained_steps=args.trained_steps,
                            trained=not args.no_trained)
    print(f"float software accuracy {100 * result['float_accuracy']:.2f} %")
    return _finish(result, args, network=result.get("network"), seeds=seeds)


def _not_applicable(obj: Any) -> Any:
    """``obj`` with the spreads that a single chip, draw or run cannot give set to None (the
    summaries write 0.0 there): ``std_chips`` over one chip, ``std_draws`` over one draw,
    ``std_runs`` over one run."""
    if isinstance(obj, list):
        return [_not_applicable(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _not_applicable(v) for k, v in obj.items()}
    runs = out.get("per_run")
    for key, single in (("std_chips", out.get("chips") == 1),
                        ("std_draws", out.get("draws") == 1),
                        ("std_runs", isinstance(runs, list) and len(runs) == 1)):
        if single and out.get(key) == 0.0:
            out[key] = None
    return out


def _write(args: argparse.Namespace, result: dict[str, Any], *, network: Any,
           seeds: dict[str, Any] | None) -> None:
    """Write the --json file: the network it describes (``network``; None where no network
    is involved), the result, and where and how it was measured (``provenance``, with the
    seeds used)."""
    body = {k: _not_applicable(v) for k, v in result.items()
            if k not in ("network", "provenance")}
    write_json(args.json, {"network": network, **body,
                           "provenance": provenance(["snn-neurram", *args.argv], seeds=seeds)})


def _finish(result, args, *, network: Any, seeds: dict[str, Any] | None):
    """Print the figures' paths and the run time, write the JSON if asked; exit status 0."""
    for name, path in result.get("figures", {}).items():
        print(f"figure ({name}): {path}")
    print(f"({result['seconds']:.1f} s)")
    if args.json is not None:
        _write(args, result, network=network, seeds=seeds)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .keywords import make_keywords

    print(f"snn-neurram data {args.what}: size {args.size}, seed {args.seed}")
    t0 = time.perf_counter()
    result = make_keywords(args.folder, size=args.size, seed=args.seed)
    result.setdefault("seconds", time.perf_counter() - t0)
    for key in ("paths", "checksum", "counts"):
        if key in result:
            print(f"{key}: {result[key]}")
    # a data set, no network: "network" is null
    return _finish(result, args, network=None, seeds={"seed": args.seed})


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "rbm":
        return _bench_rbm(args)
    if args.what == "maxcut":
        return _bench_maxcut(args)
    return _bench_classify(args)


def _bench_rbm(args: argparse.Namespace) -> int:
    from .rbm_bench import RECIPES, recovery_benchmark

    os.makedirs(args.out, exist_ok=True)
    recipe = _given(epochs=args.epochs, chips=args.chips, train_samples=args.train_samples,
                    test_samples=args.test_samples)
    result = recovery_benchmark(args.dataset, seed=args.seed, folder=args.data, recipe=recipe,
                                figure=os.path.join(args.out, f"rbm_{args.dataset}.png"),
                                protocol=args.protocol, uses=not args.no_uses)
    for kind, e in result["corruptions"].items():
        if e["software_over_sklearn"] is None:
            versus = "scikit-learn's RBM increased the error"
        else:
            versus = (f"software / scikit-learn {e['software_over_sklearn']:.2f}, "
                      f"chip / scikit-learn {e['chip_over_sklearn']:.2f}")
        print(f"{kind}: chip keeps {e['chip_over_software']:.2f} of the software "
              f"reduction; {versus}")
    print(f"figure: {result['figure']}")
    print(f"({result['seconds']:.1f} s)")
    if args.json is not None:
        hidden = result.get("recipe", RECIPES[args.dataset])["n_hidden"]
        _write(args, result, network=f"RBM, {hidden} hidden units, on {args.dataset} images",
               seeds=_chip_seeds(args.seed, result["chips"]))
    return 0


def _bench_maxcut(args: argparse.Namespace) -> int:
    from .maxcut import maxcut_benchmark

    result = maxcut_benchmark(args.graph, chip_sweeps=args.sweeps, chains=args.chains,
                              method=args.method, seed=args.seed)
    ref = result["reference"]
    print(f"graph {result['graph']['name']}: {result['graph']['n']} nodes, "
          f"{result['graph']['m']} edges; reference (software, {ref['sweeps']} sweeps): "
          f"best cut {ref['best_cut']:g}")
    for name in ("chip", "software"):
        r = result[name]
        print(f"{name:<9s}{result['chip_sweeps']} sweeps: best {r['best_cut']:g} "
              f"({100 * r['best_fraction_of_reference']:.2f} %), mean {r['mean_cut']:g} "
              f"({100 * r['mean_fraction_of_reference']:.2f} %)")
    chip = result["chip"]
    tts, ets = chip["time_to_target_99_s"], chip["energy_to_solution_99_j"]
    print(f"chip: {1e6 * chip['chip_time_per_sweep_s']:.3g} µs and "
          f"{1e9 * chip['chip_energy_per_sweep_j']:.3g} nJ per sweep on {chip['cores']} "
          "cores; to reach the target with 99 % probability: "
          + ("never reached" if tts is None else f"{1e6 * tts:.4g} µs, {1e9 * ets:.4g} nJ"))
    for e in result["exact"]:
        print(f"{e['n']} nodes: optimum {e['optimum']:g}, chip best {e['chip_best']:g}")
    if args.json is not None:
        _write(args, result, network=result.get("network"),
               seeds={"seed": args.seed, "chip_seed": args.seed})
    return 0


def _bench_classify(args: argparse.Namespace) -> int:
    from .classify_bench import ROWS, classify_benchmark

    # only what was given overrides the recipe (a given value is never dropped)
    recipe = _given(chips=args.chips, epochs=args.epochs, draws=args.draws,
                    train_samples=args.train_samples, test_samples=args.test_samples)
    result = classify_benchmark(args.dataset, recipe=recipe, out=args.out, folder=args.data,
                                seed=args.seed, progress=sys.stderr.isatty())
    acc = result["accuracy"]
    some = acc["chip"]
    print(f"test accuracy (%) on {result['test_images']} images; chip rows over "
          f"{some['chips']} chips x {some['draws']} read-noise draws")
    print(f"{'':<48s}{'mean':>7s}{'± chips':>9s}{'± draws':>9s}{'95 % interval':>17s}"
          f"{'worst chip':>12s}")
    for key, label in ROWS.items():
        v = acc[key]
        if isinstance(v, dict):
            text = (f"{100 * v['mean']:7.2f}{100 * v['std_chips']:9.2f}"
                    f"{100 * v['std_draws']:9.2f}{100 * v['ci95'][0]:9.2f}–"
                    f"{100 * v['ci95'][1]:<7.2f}{100 * v['min_chip']:12.2f}")
        else:
            text = f"{100 * v:7.2f}"
        print(f"{label:<48s}{text}")
    print("levers (paired on the same chips, draws and images), points:")
    for name, d in result["levers"].items():
        print(f"  {name:<44s}{100 * d['mean']:+7.2f}  (95 % {100 * d['ci95'][0]:+.2f} to "
              f"{100 * d['ci95'][1]:+.2f}; worst chip {100 * d['min_chip']:+.2f})")
    lo, hi = result["gap_ci95"]
    print(f"gap (quantised software - best chip row, {result['best_chip_row']}): "
          f"{result['gap_points']:.2f} points (95 % {lo:.2f} to {hi:.2f}; worst chip "
          f"{result['worst_chip_gap_points']:.2f})")
    return _finish(result, args, network=result.get("network"),
                   seeds={"seed": args.seed, "chip_seeds": result.get("chip_seeds")})


def _sweep_network(network: Any) -> Any:
    if isinstance(network, dict):                    # {"program": path} or {"model": path}
        return ", ".join(f"{kind} file {path}" for kind, path in network.items())
    return network


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import PARAMETERS, load_spec, run, summary, sweep_figures

    spec = load_spec(args.spec)
    t0 = time.perf_counter()
    try:
        df = run(spec, workers=args.workers, scheduler=args.scheduler, out=args.out,
                 progress=None)
    except ImportError as exc:                       # the sweep extra is missing: say how
        print(f"snn-neurram: error: {exc}", file=sys.stderr)
        return 2
    rows = df.to_dict(orient="records")
    if spec.get("draws", 1) == 1:         # a spread over one draw is not applicable: null
        for row in rows:
            if row.get("accuracy_std_draws") == 0.0:
                row["accuracy_std_draws"] = None
    result: dict[str, Any] = {"spec": spec, "tasks": len(df), "out": args.out, "rows": rows}
    if args.summary:
        table = summary(df)
        print(table.to_string(index=False))
        result["summary"] = table.to_dict(orient="records")
    else:
        print(f"{len(df)} tasks" + (f"; results in {args.out}" if args.out else ""))
    figures = sweep_figures(df, args.out) if args.out is not None else {}
    if figures:                 # the read-time band, per-chip scatters, a parameter heat map
        result["figures"] = figures
    result["seconds"] = time.perf_counter() - t0
    chip_seeds = spec.get("grid", {}).get("chip_seed", [PARAMETERS["chip_seed"].default])
    return _finish(result, args, network=_sweep_network(spec.get("network")),
                   seeds={"seed": spec.get("seed"), "chip_seeds": list(chip_seeds)})


def _recipe_default(recipes: dict[str, dict[str, Any]], key: str, unset: str = "all") -> str:
    """'60 for digits, 10 for fashion-mnist': a recipe's value per data set."""
    values = {r[key] for r in recipes.values()}
    if len(values) == 1:
        value = values.pop()
        return unset if value is None else str(value)
    return ", ".join(f"{unset if r[key] is None else r[key]} for {name}"
                     for name, r in recipes.items())


def _subset_options(p: argparse.ArgumentParser, recipes: dict[str, Any], verb: str) -> None:
    """--train-samples and --test-samples of a benchmark whose recipes are ``recipes``."""
    p.add_argument("--train-samples", metavar="N", type=_positive_int("train_samples"),
                   help="train on N images drawn from the training split (default: "
                   f"{_recipe_default(recipes, 'train_samples')})")
    p.add_argument("--test-samples", metavar="N", type=_positive_int("test_samples"),
                   help=f"{verb} the first N test images (default: "
                   f"{_recipe_default(recipes, 'test_samples')})")


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers by name (``bench`` and ``bench rbm``, ...)."""
    from .classify_bench import RECIPES as CLASSIFY_RECIPES
    from .rbm_bench import RECIPES as RBM_RECIPES

    parser = argparse.ArgumentParser(
        prog="snn-neurram",
        description="Spiking, Boltzmann and conventional networks on a simulated NeuRRAM chip.")
    parser.add_argument("--version", action="version", version=f"snn-neurram {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    subs: dict[str, argparse.ArgumentParser] = {}
    seed_help = f"random seed, an integer in [0, {MAX_SEED}] (default: %(default)s)"
    json_help = ("also write the results as JSON, with the provenance of the run (a file in an "
                 "existing folder; default: none)")

    p = subs["demo"] = sub.add_parser(
        "demo", help="classify the 8x8 digits through a simulated core")
    p.add_argument("--out", type=_out_folder("out"), default="snn_neurram_demo",
                   help="folder for figures, created if needed (default: %(default)s)")
    p.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    p.add_argument("--read-time", type=_positive_float("read_time"), default=86400.0,
                   help="seconds between programming and inference, > 0 (default: 86400, "
                   "one day)")
    p.add_argument("--in-bits", type=_bits("in_bits"),
                   help="input bits in [1, 8] of both demos (default: 4)")
    p.add_argument("--out-bits", type=_bits("out_bits"),
                   help="output bits in [1, 8] (default: 8 on the core, 4 on the chip)")
    p.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    p.set_defaults(func=cmd_demo)

    p = subs["compare"] = sub.add_parser(
        "compare", help="spiking vs multi-bit inference: accuracy, latency, energy, spikes")
    p.add_argument("--model", default="mlp", choices=["mlp"],
                   help="network to train and map (default: %(default)s)")
    p.add_argument("--dataset", default="digits",
                   choices=DATASETS + ("keywords", "speech-commands", "shd", "nmnist"),
                   help="data set (default: %(default)s); temporal (docs/temporal.md): "
                   "keywords (the synthesised spoken keywords: LSTM, MLP baseline, recurrent "
                   "and feed-forward SNNs), speech-commands (the same models), shd and nmnist "
                   "(the SNNs), the last three read from --data-dir")
    p.add_argument("--keywords-size", choices=["full", "ci"], default="full",
                   help="keywords only: the full set or the CI-sized one (default: "
                   "%(default)s)")
    p.add_argument("--data-dir", metavar="FOLDER", type=_data_folder(),
                   help="folder of the real temporal set (speech-commands, shd, nmnist) "
                   "(default: none)")
    p.add_argument("--max-per-class", metavar="N", type=_positive_int("max_per_class"),
                   help="temporal sets from --data-dir: at most N training and test samples "
                   "per class (default: all)")
    p.add_argument("--temporal-models", type=_name_list("temporal_models", ("lstm", "mlp", "snn")),
                   default=["lstm", "mlp", "snn"],
                   help="temporal sets: models to train and run, comma-separated, of lstm, mlp, "
                   "snn (default: lstm,mlp,snn; shd and nmnist run the SNNs)")
    p.add_argument("--data", metavar="FOLDER", type=_data_folder(),
                   help="folder of the Fashion-MNIST IDX files; only with --dataset "
                   "fashion-mnist (default: Debian's dataset-fashion-mnist)")
    p.add_argument("--steps", type=_int_list("steps", 1, MAX_STEPS, "8,16,32"),
                   default=[8, 16, 32, 64, 128],
                   help=f"SNN time steps, comma-separated, each in [1, {MAX_STEPS}] "
                   "(default: 8,16,32,64,128)")
    p.add_argument("--ann-bits", type=_int_list("ann_bits", 1, 8, "1,2,4"), default=[1, 2, 3, 4],
                   help="ANN input bits, comma-separated, each in [1, 8] (default: 1,2,3,4)")
    p.add_argument("--out-bits", type=_bits("out_bits"), default=4,
                   help="ANN output bits in [1, 8] (default: %(default)s)")
    p.add_argument("--test-samples", metavar="N", type=_positive_int("test_samples"),
                   help="use only the first N >= 1 test inputs (default: all)")
    p.add_argument("--chips", type=_int_range("chips", 1, MAX_CHIPS), default=3,
                   help=f"chips (seeds seed, seed+1, ...) in [1, {MAX_CHIPS}] "
                   "(default: %(default)s)")
    p.add_argument("--trained-steps", type=_int_list("trained_steps", 1, MAX_STEPS, "8,16"),
                   default=[8, 16], help="time steps of the surrogate-gradient-trained SNN, "
                   "comma-separated; it is trained at the largest (default: 8,16)")
    p.add_argument("--no-trained", action="store_true",
                   help="leave out the trained SNN (it needs PyTorch) (default: off, the "
                   "trained SNN runs)")
    p.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    p.add_argument("--out", type=_out_folder("out"), default="snn_neurram_compare",
                   help="folder for figures, created if needed (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    p.set_defaults(func=cmd_compare)

    p = subs["data"] = sub.add_parser(
        "data", help="make the project's own data sets (the synthesised spoken keywords)")
    p.add_argument("what", choices=["make-keywords"],
                   help="make-keywords: speech synthesised with espeak-ng, augmented, split by "
                   "voice, cached with a checksum")
    p.add_argument("--size", choices=["full", "ci"], default="full",
                   help="full (minutes on 2 cores) or ci (seconds) (default: %(default)s)")
    p.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    p.add_argument("--folder", type=_out_folder("folder"),
                   help="cache folder (default: the user's cache, ~/.cache/snn_neurram)")
    p.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    p.set_defaults(func=cmd_data)

    # bench: one sub-subcommand per benchmark, each with only its own options
    p = subs["bench"] = sub.add_parser(
        "bench", help="accuracy benchmarks (rbm: image recovery; classify: co-optimisation "
        "steps and the eta sweep, needs the train extra; maxcut: the chip's Ising machine "
        "against simulated annealing)")
    bench = p.add_subparsers(dest="what", required=True, metavar="{rbm,classify,maxcut}")

    b = subs["bench rbm"] = bench.add_parser(
        "rbm", help="image recovery with RBMs: software, chip, scikit-learn and fills "
        "without an RBM (docs/rbm.md)")
    b.add_argument("--dataset", default="digits", choices=tuple(RBM_RECIPES),
                   help="data set (default: %(default)s)")
    b.add_argument("--protocol", default="blind", choices=["blind", "paper", "both"],
                   help="recovery protocol, flip positions unknown (blind) or known as in the "
                   "authors' notebook (paper) (default: %(default)s)")
    b.add_argument("--epochs", type=_positive_int("epochs", MAX_EPOCHS),
                   help=f"training epochs of the RBMs in [1, {MAX_EPOCHS}] (default: "
                   f"{_recipe_default(RBM_RECIPES, 'epochs')})")
    b.add_argument("--chips", type=_positive_int("chips", MAX_CHIPS),
                   help=f"chips and software sampling runs in [1, {MAX_CHIPS}] (default: "
                   f"{_recipe_default(RBM_RECIPES, 'chips')})")
    _subset_options(b, RBM_RECIPES, "recover")
    b.add_argument("--no-uses", action="store_true",
                   help="skip the other uses of the RBM: log-likelihood (AIS), samples, "
                   "classification (default: off, they are measured)")
    b.add_argument("--data", metavar="FOLDER", type=_data_folder(),
                   help="folder of the Fashion-MNIST IDX files; only with --dataset "
                   "fashion-mnist (default: Debian's dataset-fashion-mnist)")
    b.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    b.add_argument("--out", type=_out_folder("out"), default="snn_neurram_bench",
                   help="folder for figures, created if needed (default: %(default)s)")
    b.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    b.set_defaults(func=cmd_bench)

    b = subs["bench classify"] = bench.add_parser(
        "classify", help="co-optimisation steps and the eta sweep on several chips (needs the "
        "train extra; docs/accuracy.md)")
    b.add_argument("--dataset", default="digits", choices=tuple(CLASSIFY_RECIPES),
                   help="data set (default: %(default)s)")
    b.add_argument("--chips", type=_positive_int("chips", MAX_CHIPS),
                   help=f"simulated chips in [1, {MAX_CHIPS}] (default: "
                   f"{_recipe_default(CLASSIFY_RECIPES, 'chips')})")
    b.add_argument("--epochs", type=_positive_int("epochs", MAX_EPOCHS),
                   help=f"training epochs in [1, {MAX_EPOCHS}] (default: "
                   f"{_recipe_default(CLASSIFY_RECIPES, 'epochs')})")
    b.add_argument("--draws", type=_positive_int("draws", MAX_DRAWS),
                   help=f"read-noise draws per chip in [1, {MAX_DRAWS}] (default: "
                   f"{_recipe_default(CLASSIFY_RECIPES, 'draws')})")
    _subset_options(b, CLASSIFY_RECIPES, "test on")
    b.add_argument("--data", metavar="FOLDER", type=_data_folder(),
                   help="folder of the Fashion-MNIST IDX files; only with --dataset "
                   "fashion-mnist (default: Debian's dataset-fashion-mnist)")
    b.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    b.add_argument("--out", type=_out_folder("out"), default="snn_neurram_bench",
                   help="folder for figures and checkpoints, created if needed "
                   "(default: %(default)s)")
    b.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    b.set_defaults(func=cmd_bench)

    b = subs["bench maxcut"] = bench.add_parser(
        "maxcut", help="MAX-CUT on the chip's Ising machine against simulated annealing "
        "(docs/ising.md)")
    b.add_argument("graph", nargs="?", metavar="GRAPH", type=_existing_file("graph"),
                   help="a G-set file (first line 'n m', then 'i j w' per edge) (default: a "
                   "random graph made like G1, 800 nodes, 19176 edges)")
    b.add_argument("--sweeps", type=_positive_int("sweeps", 10 ** 6), default=300,
                   help="annealing sweeps on the chip (default: %(default)s; the software "
                   "reference runs 10 times as many)")
    b.add_argument("--chains", type=_positive_int("chains", 10 ** 5), default=16,
                   help="chains per run (default: %(default)s)")
    b.add_argument("--method", choices=["sequential", "chromatic", "parallel"],
                   default="chromatic", help="spin update scheme on the chip "
                   "(default: %(default)s)")
    b.add_argument("--seed", type=_seed(), default=0, help=seed_help)
    b.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    b.set_defaults(func=cmd_bench)

    p = subs["sweep"] = sub.add_parser(
        "sweep", help="a parameter sweep or Monte Carlo study over many chips, on Dask "
        "(needs the sweep extra; docs/sweeps.md)")
    p.add_argument("spec", metavar="SPEC", type=_existing_file("spec"),
                   help="the sweep description, a TOML file (docs/sweeps.md)")
    p.add_argument("--out", type=_out_folder("out"),
                   help="folder of the results (Parquet, one file per task; a rerun skips the "
                   "tasks stored there) and the figure, created if needed (default: none)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int("workers", 1024),
                       help="worker processes of a local cluster in [1, 1024] (default: one per "
                       "core; 1 runs in this process without Dask)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://host:8786 "
                       "(default: none, a local cluster)")
    p.add_argument("--summary", action="store_true",
                   help="print mean, std and 95 %% interval over chips per grid point "
                   "(default: off)")
    p.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
    p.set_defaults(func=cmd_sweep)

    for name, helptext, figure, func in (
            ("map", "compile a model onto the chip and report where every weight lives "
             "(row pairs and columns per layer)", "core-grid picture (PNG)", cmd_map),
            ("energy", "energy (nJ) and latency (µs) of one inference of a mapped model",
             "stacked-bar figure per layer (PNG)", cmd_energy)):
        p = subs[name] = sub.add_parser(name, help=helptext)
        p.add_argument("model", metavar="MODEL", type=_model_arg,
                       help="mnist-cnn, digits-mlp, resnet20, or a saved program file")
        if name == "energy":
            p.add_argument("--in-bits", type=_bits("in_bits"), default=4,
                           help="input bits in [1, 8] (default: %(default)s)")
            p.add_argument("--out-bits", type=_bits("out_bits"), default=4,
                           help="output bits in [1, 8] (default: %(default)s)")
        p.add_argument("--cores", type=_positive_int("cores", MAX_CORES),
                       help=f"cores of the chip in [1, {MAX_CORES}]; only with a model name "
                       f"(default: {DEFAULT_CORES})")
        p.add_argument("--replicate", action="store_true",
                       help="copy the busiest layers onto free cores; only with a model name "
                       "(default: off)")
        p.add_argument("--seed", type=_seed(),
                       help=f"random seed in [0, {MAX_SEED}]; only with a model name "
                       f"(default: {DEFAULT_SEED})")
        p.add_argument("--figure", metavar="PATH", type=_file_path("figure"),
                       help=f"also write the {figure} to PATH (default: none, no figure)")
        p.add_argument("--json", metavar="PATH", type=_json_path(), help=json_help)
        p.set_defaults(func=func)
    for key, p in subs.items():
        if key != "bench":                   # bench's options are those of its benchmarks
            p.add_argument("--verbose", action="store_true",
                           help="also show the warnings of the libraries underneath "
                           "(scikit-learn, Brian2, ...) (default: off, hidden)")
    return parser, subs


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``snn-neurram``."""
    return _parsers()[0]


def _command(args: argparse.Namespace) -> str:
    """The (sub)command's name as in ``subs``: "demo", "bench rbm", ..."""
    return f"{args.command} {args.what}" if args.command == "bench" else args.command


def _conflicts(args: argparse.Namespace) -> str | None:
    """Options that were given but would be ignored by this command: the message, or None."""
    if getattr(args, "data", None) is not None and args.dataset != "fashion-mnist":
        return (f"argument --data: only used with --dataset fashion-mnist "
                f"(got --dataset {args.dataset})")
    if args.command in ("map", "energy"):
        from .models import MODELS

        if args.model not in MODELS:
            given = [f"--{opt}" for opt in ("cores", "seed") if getattr(args, opt) is not None]
            given += ["--replicate"] if args.replicate else []
            if given:
                return (f"argument {given[0]}: only used when MODEL is a model name; "
                        f"{args.model!r} is a saved program file (compiled already)")
    return None


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings a parser takes, read from its usage line (which lists every option by
    its first name) and the help option's long name."""
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", parser.format_usage())) | {"--help"}


def _unknown(extra: list[str], command: str,
             subs: dict[str, argparse.ArgumentParser]) -> str:
    """The message for arguments ``command`` does not take, naming the first one and the
    commands that do take it."""
    first = extra[0]
    option = first.split("=", 1)[0]
    if not option.startswith("-"):
        return f"unrecognized arguments: {' '.join(extra)}"
    owners = [f"'{name}'" for name, p in subs.items()
              if name != command and option in _option_strings(p)
              and option not in ("-h", "--help", "--verbose")]
    where = f"; it is an option of {', '.join(owners)}" if owners else ""
    return f"argument {option}: not an option of '{command}'{where} (see --help)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; a bad option ends the run with argparse's message and
    ``SystemExit(2)`` before any work starts."""
    parser, subs = _parsers()
    tokens = list(sys.argv[1:] if argv is None else argv)
    # an option of another command is named as such before argparse reads its value as
    # something else (``bench maxcut --out x`` would take x for GRAPH)
    command = " ".join(tokens[:2]) if tokens[:1] == ["bench"] else (tokens[0] if tokens else "")
    if command in subs and command != "bench":
        known = _option_strings(subs[command])
        for token in tokens[1:]:
            if token == "--":
                break
            option = token.split("=", 1)[0]
            # (argparse also takes unambiguous abbreviations: --ep for --epochs)
            if token.startswith("--") and not any(k.startswith(option) for k in known):
                subs[command].error(_unknown([token], command, subs))
    args, extra = parser.parse_known_args(argv)
    command = _command(args)
    if extra:
        subs[command].error(_unknown(extra, command, subs))
    problem = _conflicts(args) or _json_folder(args)
    if problem:
        subs[command].error(problem)
    return args


def _user_error(exc: BaseException) -> bool:
    """True for errors the user can fix (bad values, files, data, missing optional packages);
    anything else is a bug and keeps its traceback."""
    if isinstance(exc, ModuleNotFoundError):         # an optional dependency, not our own module
        return not (exc.name or "snn_neurram").startswith("snn_neurram")
    return isinstance(exc, (ValueError, ProgramFileError, CapacityError, FileNotFoundError,
                            FileExistsError, NotADirectoryError, IsADirectoryError,
                            PermissionError))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snn-neurram``; returns the exit status: 0 on success, 2 for a usage or user error
    (the message is on stderr, without a traceback). Bugs raise."""
    try:
        args = parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:       # argparse printed the error (status 2) or --help (0)
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with warnings.catch_warnings():
            if not getattr(args, "verbose", False):
                warnings.simplefilter("ignore")
            return args.func(args)
    except Exception as exc:
        if not _user_error(exc):
            raise
        hint = (" (install the optional dependencies: pip install 'snn-neurram[train]')"
                if isinstance(exc, ModuleNotFoundError) else "")
        print(f"snn-neurram: error: {exc}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
