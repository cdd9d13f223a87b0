"""Parameter sweeps and Monte Carlo studies over many simulated chips, on Dask.

A sweep description (a dict, or a TOML file) names a network, a data set and a grid of
parameters; every grid point is one task, identified by its *key* (every parameter that sets its
numbers). The task's random streams derive from the key alone, so any subset of a sweep reruns
to the same numbers, on any worker, in any order. The network is a built-in one or a file (a
saved program or model), read once and sent to every worker once. A task runs multi-bit
inference (``mode = "ann"``) or the network converted to spikes (``mode = "snn"``) on the batch
engine or in Brian2 (a runtime target: nothing is compiled per task). Results go to a folder of
Parquet files (one per finished task, named by the key's hash and written atomically), so a
rerun skips what is done and a key is never stored twice.

::

    from snn_neurram.apps.sweep import run, summary

    spec = {"network": "digits_mlp", "dataset": "digits", "draws": 3,
            "grid": {"chip_seed": list(range(32)), "read_time": [1, 60, 3600, 86400]}}
    df = run(spec, out="sweep_out")               # a LocalCluster, one worker per core
    print(summary(df, by=["read_time"]))

Needs the ``sweep`` extra (``pip install 'snn_neurram[sweep]'``: dask[distributed], pandas,
pyarrow); importing this module does not import them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._io import atomic_write_bytes

__all__ = ["run", "summary", "load_spec", "check_spec", "task_points", "point_key",
           "point_seed", "read_results", "evaluate_point", "layer_errors", "load_inputs",
           "sweep_figure",
           "sweep_figures", "chip_figure", "heatmap", "SweepInputs", "load_network",
           "NETWORKS", "NETWORK_FILES", "DATASETS", "PARAMETERS", "METRICS", "MODES", "ENGINES",
           "BRIAN2_TARGETS", "CODINGS", "MODE_METRICS", "SWEEP_HINT"]

SWEEP_HINT = ("sweeps need the sweep extra: pip install 'snn_neurram[sweep]' "
              "(dask[distributed], pandas, pyarrow)")

#: Built-in networks a sweep can run; a network can also be a file (see :data:`NETWORK_FILES`).
NETWORKS = ("digits_mlp",)
#: Kinds of network file: ``program`` (written by :meth:`snn_neurram.ChipProgram.save`, read
#: with :func:`snn_neurram.load`; its model is programmed afresh on every task's chip) and
#: ``model`` (a Dense network written by :func:`snn_neurram.apps.pretrained.save_dense_model`).
NETWORK_FILES = ("program", "model")
#: Data sets (the test split is evaluated).
DATASETS = ("digits", "fashion-mnist", "mnist")
#: Training images used for compile-time and model-driven calibration of the 28 x 28 sets (the
#: first ones of the training split; digits use its whole training split).
CALIBRATION_IMAGES = 2000
#: Metrics a task can record: accuracy (fraction, mean over draws, and its spread over draws),
#: energy (J per inference) and latency (s per inference) from the chip's energy account, spikes
#: (per inference, ``mode = "snn"``) and layer_error (per weighted layer, ``mode = "ann"``: the
#: relative L2 error of the chip's layer against the float layer on the same float inputs).
METRICS = ("accuracy", "energy", "latency", "spikes", "layer_error")
#: Run modes: multi-bit inference through the ADCs, or the network converted to spikes.
MODES = ("ann", "snn")
#: Engines of ``mode = "snn"``: the batch spiking engine, or Brian2 (read noise per cell,
#: spike for spike the batch engine's without read noise in double precision).
ENGINES = ("batch", "brian2")
#: Brian2 code-generation targets a task may use; both are runtime targets (no standalone
#: project is written): numpy generates no compiled code, cython compiles each code object once
#: per machine (its cache is on disk and the generated code is identical from task to task).
BRIAN2_TARGETS = ("numpy", "cython")
#: Input codings of ``mode = "snn"`` (images, so spike-train inputs are not offered).
CODINGS = ("rate", "regular", "latency")
PRECISIONS = ("single", "double")
#: Longest read time: two days (s).
MAX_READ_TIME = 2 * 86400.0
MAX_DRAWS = 100
MAX_CHIP_SEED = 2 ** 32 - 1


@dataclass(frozen=True)
class _Param:
    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    name: str = ""            # short name in figure titles
    axis: str = ""            # axis label of figures

    def allowed(self) -> str:
        if self.kind is bool:
            return "true or false"
        what = "an integer" if self.kind is int else "a number"
        return f"{what} in [{self.lo:g}, {self.hi:g}]{(' ' + self.unit) if self.unit else ''}"


#: Grid parameters: type, default, allowed range, unit.
PARAMETERS: dict[str, _Param] = {
    "chip_seed": _Param(int, 0, 0, MAX_CHIP_SEED, "", "chip seed", "chip seed"),
    "read_time": _Param(float, 86400.0, 1.0, MAX_READ_TIME, "s", "read time",
                        "read time after programming (s)"),
    "in_bits": _Param(int, 4, 1, 8, "bits", "input bits", "input bits"),
    "out_bits": _Param(int, 4, 1, 8, "bits", "output bits", "ADC output bits"),
    "read_noise_sigma": _Param(float, 0.01, 0.0, 0.2, "(relative)", "read noise σ",
                               "read noise σ (relative to the conductance)"),
    "relaxation": _Param(bool, True, None, None, "", "relaxation", "conductance relaxation"),
    "steps": _Param(int, 64, 1, 4096, "steps", "time steps", "time steps per input"),
}
#: Grid parameters that only ``mode = "snn"`` has.
SNN_PARAMETERS = ("steps",)
#: Metrics of each mode.
#: Default: every metric of the mode but layer_error (one more chip run per layer).
MODE_METRICS = {"ann": ("accuracy", "energy", "latency", "layer_error"),
                "snn": ("accuracy", "energy", "latency", "spikes")}

_TOP = {"network", "dataset", "data_dir", "test_images", "grid", "metrics", "draws", "calibrate",
        "seed",
        "mode", "engine", "brian2_target", "coding", "precision"}


# ----------------------------------------------------------------------------------- the spec
def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sweep description from a TOML file and check it (see :func:`check_spec`).

    A relative network file path (``network = {program = "..."}``) is taken relative to the
    TOML file's folder."""
    try:
        import tomllib
    except ImportError:                              # Python 3.10: the tomli backport
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as exc:
            raise ImportError(SWEEP_HINT) from exc

    with open(path, "rb") as fh:
        try:
            spec = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{os.fspath(path)}: not a valid TOML file ({exc})") from None
    net = spec.get("network")
    if isinstance(net, dict) and len(net) == 1:
        (kind, file), = net.items()
        if isinstance(file, str) and not os.path.isabs(file):
            here = os.path.dirname(os.path.abspath(os.fspath(path)))
            spec["network"] = {kind: os.path.join(here, file)}
    return check_spec(spec)


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_network(value: Any) -> Any:
    """A built-in network's name, or ``{kind: absolute path}`` of an existing network file."""
    allowed = (f"one of {', '.join(map(repr, NETWORKS))} or a table naming a file, "
               f"{{program = \"path.npz\"}} (a saved ChipProgram) or {{model = \"path.npz\"}} "
               f"(a saved Dense model)")
    if isinstance(value, str):
        if value not in NETWORKS:
            raise ValueError(f"network must be {allowed} (got {value!r})")
        return value
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueError(f"network must be {allowed} (got {value!r})")
    (kind, file), = value.items()
    if kind == "checkpoint":
        raise ValueError("network.checkpoint: a training checkpoint holds the training state, "
                         "not the network's layers; export the trained net "
                         "(snn_neurram.training.export / export_snn) and save it with "
                         "snn_neurram.apps.pretrained.save_dense_model ({model = PATH}) or "
                         "compile it and ChipProgram.save ({program = PATH})")
    if kind not in NETWORK_FILES:
        raise ValueError(f"network.{kind} is not a kind of network file; the kinds are "
                         f"{', '.join(NETWORK_FILES)}")
    if not isinstance(file, (str, os.PathLike)) or not os.fspath(file):
        raise ValueError(f"network.{kind} must be a file path (got {file!r})")
    file = os.path.abspath(os.fspath(file))
    if not os.path.isfile(file):
        raise ValueError(f"network.{kind}: no such file {file!r}")
    return {kind: file}


def _network_tag(network: Any) -> str:
    """The network's part of a task key: the built-in name, or the file's kind and the SHA-256
    of its contents (so a changed file never reuses stored results, and a moved one does)."""
    if isinstance(network, str):
        return network
    (kind, file), = network.items()
    return f"{kind}:sha256:{_file_sha256(file)}"


def load_network(network: Any) -> tuple[Any, dict[str, Any]]:
    """The model (a Sequential) of a checked ``network`` field and a metadata dict.

    Raises
    ------
    ValueError
        Naming ``network.<kind>`` when the file does not load as that kind.
    """
    if isinstance(network, str):
        from .pretrained import load_digits_mlp_noise_aware

        return load_digits_mlp_noise_aware()
    (kind, file), = _check_network(network).items()
    try:
        if kind == "program":
            from ..program import load

            model = load(file).model
            return model, {"file": file, "kind": kind}
        from .pretrained import load_dense_model

        model, meta = load_dense_model(file)
        return model, {**meta, "file": file, "kind": kind}
    except Exception as exc:                         # any failure to read: name the field
        what = ("a program saved by ChipProgram.save" if kind == "program"
                else "a model saved by save_dense_model")
        raise ValueError(f"network.{kind}: {file!r} is not {what} ({exc})") from exc


def _value(name: str, value: Any) -> Any:
    p = PARAMETERS[name]
    bad = ValueError(f"grid.{name} must be {p.allowed()} (got {value!r})")
    if p.kind is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise bad
        return bool(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise bad
    if p.kind is int:
        if float(value) != int(value):
            raise bad
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise bad
    assert p.lo is not None and p.hi is not None
    if not p.lo <= value <= p.hi:
        raise bad
    return value


def _choice(spec: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = spec.get(name, default)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return str(value)


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a sweep description and fill in its defaults.

    Parameters
    ----------
    spec : mapping
        ``network`` (one of :data:`NETWORKS`, or ``{"program": path}`` / ``{"model": path}`` naming
        an existing file, see :data:`NETWORK_FILES`; made absolute here), ``dataset`` (one of
        :data:`DATASETS`, default "digits"), ``data_dir`` (the folder of the four IDX files of
        fashion-mnist or mnist; fashion-mnist defaults to Debian's package folder, mnist needs
        it), ``test_images`` (use the first N test images, default all), ``grid`` (each name of :data:`PARAMETERS` mapped to a value or a list of values:
        ``chip_seed`` integers in [0, 2**32 - 1], ``read_time`` in [1, 172800] s, ``in_bits`` and
        ``out_bits`` in [1, 8], ``read_noise_sigma`` in [0, 0.2] (relative read-noise spread of a
        cell), ``relaxation`` true/false; a parameter left out takes its default), ``metrics`` (a
        list of :data:`METRICS`, default all), ``draws`` (read-noise draws per chip in [1, 100],
        default 1), ``calibrate`` (model-driven calibration on the training split; default true
        in ``mode = "ann"``, not available in ``mode = "snn"``), ``seed`` (an integer in
        [0, 2**32 - 1] mixed into every task's streams, default 0), ``mode`` (one of
        :data:`MODES`, default "ann"), ``precision`` (the chip's floating point, "single" or
        "double", default "single"). ``mode = "snn"`` adds ``engine`` (one of :data:`ENGINES`,
        default "batch"), ``brian2_target`` (with ``engine = "brian2"``, one of
        :data:`BRIAN2_TARGETS`, default "numpy"), ``coding`` (one of :data:`CODINGS`, default
        "rate") and the grid parameter ``steps`` (time steps in [1, 4096], default 64). Metrics
        follow the mode (:data:`MODE_METRICS`); with ``engine = "brian2"`` only accuracy and
        spikes (Brian2 keeps no energy account).

    Returns
    -------
    dict
        The checked description: every field present, every grid value a list.

    Raises
    ------
    ValueError
        Naming the field and its allowed values.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"a sweep description must be a mapping (got {type(spec).__name__})")
    unknown = sorted(set(spec) - _TOP)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} in the sweep description; the fields are "
                         f"{', '.join(sorted(_TOP))}")
    if "network" not in spec:
        raise ValueError(f"the sweep description needs 'network', one of {', '.join(NETWORKS)}")
    out: dict[str, Any] = {}
    out["network"] = _check_network(spec["network"])
    value = spec.get("dataset", "digits")
    if value not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)} (got {value!r})")
    out["dataset"] = value
    folder = spec.get("data_dir")
    if folder is not None:
        if value == "digits":
            raise ValueError("data_dir applies to fashion-mnist and mnist (digits ship with "
                             "scikit-learn)")
        if not isinstance(folder, (str, os.PathLike)) or not os.path.isdir(folder):
            raise ValueError(f"data_dir must be an existing folder holding the four IDX files "
                             f"of {value} (got {folder!r})")
        folder = os.path.abspath(os.fspath(folder))
    elif value == "mnist":
        raise ValueError("dataset mnist needs data_dir, the folder of its four IDX files "
                         "(nothing is downloaded)")
    out["data_dir"] = folder
    n = spec.get("test_images")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"test_images must be an integer >= 1 or left out for all (got {n!r})")
    out["test_images"] = n
    for key, lo, hi, first in (("draws", 1, MAX_DRAWS, 1), ("seed", 0, MAX_CHIP_SEED, 0)):
        v = spec.get(key, first)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{key} must be an integer in [{lo}, {hi}] (got {v!r})")
        out[key] = v
    mode = _choice(spec, "mode", MODES, "ann")
    out["mode"] = mode
    out["precision"] = _choice(spec, "precision", PRECISIONS, "single")
    snn_only = [k for k in ("engine", "brian2_target", "coding") if k in spec]
    if mode == "ann" and snn_only:
        raise ValueError(f"{snn_only[0]} applies to mode = \"snn\" (this sweep's mode is "
                         f"\"ann\")")
    if mode == "snn":
        out["engine"] = _choice(spec, "engine", ENGINES, "batch")
        out["coding"] = _choice(spec, "coding", CODINGS, "rate")
        if out["engine"] == "brian2":
            out["brian2_target"] = _choice(spec, "brian2_target", BRIAN2_TARGETS, "numpy")
        elif "brian2_target" in spec:
            raise ValueError('brian2_target applies to engine = "brian2" (this sweep\'s engine '
                             'is "batch")')
    cal = spec.get("calibrate", mode == "ann")
    if not isinstance(cal, bool):
        raise ValueError(f"calibrate must be true or false (got {cal!r})")
    if cal and mode == "snn":
        raise ValueError('calibrate applies to mode = "ann" (the spiking engines run the '
                         'compiled operating points); leave it out or set it false')
    out["calibrate"] = cal
    allowed = [m for m in MODE_METRICS[mode]
               if not (out.get("engine") == "brian2" and m in ("energy", "latency"))]
    metrics = spec.get("metrics", [m for m in allowed if m != "layer_error"])
    if isinstance(metrics, str):
        metrics = [metrics]
    if (not isinstance(metrics, Sequence) or not metrics
            or any(m not in allowed for m in metrics)):
        where = f'mode = "{mode}"' + (' with engine = "brian2"'
                                       if out.get("engine") == "brian2" else "")
        raise ValueError(f"metrics must be a non-empty list of {', '.join(allowed)} in "
                         f"{where} (got {metrics!r})")
    out["metrics"] = [m for m in METRICS if m in metrics]
    grid = spec.get("grid", {})
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a table of parameter = value or [values] "
                         f"(got {grid!r})")
    names = [n for n in PARAMETERS if mode == "snn" or n not in SNN_PARAMETERS]
    bad = sorted(set(grid) - set(names))
    if bad:
        if bad[0] in PARAMETERS:
            raise ValueError(f'grid.{bad[0]} applies to mode = "snn" (this sweep\'s mode is '
                             f'"ann")')
        raise ValueError(f"grid.{bad[0]} is not a sweep parameter; the parameters are "
                         f"{', '.join(PARAMETERS)}")
    out["grid"] = {}
    for name in names:
        p = PARAMETERS[name]
        values = grid.get(name, [p.default])
        if isinstance(values, (list, tuple, range, np.ndarray)):
            values = list(values)
            if not values:
                raise ValueError(f"grid.{name} is an empty list; give at least one value")
        else:
            values = [values]
        values = [_value(name, v) for v in values]
        if len(set(values)) != len(values):
            raise ValueError(f"grid.{name} repeats a value ({values})")
        out["grid"][name] = values
    return out


def task_points(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every grid point of a checked description, as the key of its task: the grid parameters
    and every other field that sets the task's numbers (network, dataset, test_images, draws,
    calibrate, seed, metrics; mode, engine, coding and brian2_target in a spiking sweep;
    precision when it is "double"). A network file enters as its kind and the SHA-256 of its
    contents."""
    import itertools

    spec = check_spec(spec)
    common = {k: spec[k] for k in ("dataset", "test_images", "draws", "calibrate", "seed")}
    common["network"] = _network_tag(spec["network"])
    common["metrics"] = ",".join(spec["metrics"])
    # fields added after the first sweeps enter a key only when they change its numbers, so
    # that results stored by earlier versions keep their keys
    if spec["mode"] == "snn":
        common.update({k: spec[k] for k in ("mode", "engine", "coding")})
        if spec["engine"] == "brian2":
            common["brian2_target"] = spec["brian2_target"]
    if spec["precision"] != "single":
        common["precision"] = spec["precision"]
    names = list(spec["grid"])
    return [{**common, **dict(zip(names, combo))}
            for combo in itertools.product(*(spec["grid"][n] for n in names))]


def point_key(point: Mapping[str, Any]) -> str:
    """The stable text key of a task: its parameters as sorted JSON."""
    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


#: Key fields that choose how a task computes, not what it draws: left out of its seeds, so that
#: the two engines (or precisions) of one grid point see the same input spikes and read noise.
ENGINE_FIELDS = ("engine", "brian2_target", "precision")


def point_seed(point: Mapping[str, Any]) -> np.random.SeedSequence:
    """The seed sequence of a task: a function of its key only (SHA-256 of :func:`point_key`
    without :data:`ENGINE_FIELDS`)."""
    drawn = {k: v for k, v in point.items() if k not in ENGINE_FIELDS}
    return np.random.SeedSequence(int(_digest(point_key(drawn))[:32], 16))


# ------------------------------------------------------------------------------- the task
@dataclass
class SweepInputs:
    """What every task of a sweep reads (scattered once to every worker): the network and the
    data set's splits."""

    model: Any
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def load_inputs(spec: Mapping[str, Any]) -> SweepInputs:
    """Load the network (a built-in one or a file, read here once) and data set of a checked
    description.

    Raises
    ------
    ValueError
        A network file does not load as its kind (naming ``network.<kind>``).
    """
    from .datasets import load_digits_split, load_fashion_mnist, load_mnist

    spec = check_spec(spec)
    model, meta = load_network(spec["network"])
    if spec["dataset"] == "digits":
        X_tr, X_te, _, y_te = load_digits_split(seed=0)    # the split the shipped MLP trained on
    else:
        load = load_mnist if spec["dataset"] == "mnist" else load_fashion_mnist
        X_tr, X_te, _, y_te = load(spec["data_dir"])
        X_tr = X_tr[:CALIBRATION_IMAGES]
    shape = tuple(X_te.shape[1:])
    try:
        model.output_shape(shape)
    except ValueError:
        flat = (int(np.prod(shape)),)
        try:
            model.output_shape(flat)
        except ValueError as exc:
            raise ValueError(f"the network does not take {spec['dataset']} inputs of shape "
                             f"{shape} or {flat}: {exc}") from None
        X_tr, X_te = X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1)
    n = spec["test_images"] or len(X_te)
    return SweepInputs(model, np.asarray(X_tr, dtype=float), np.asarray(X_te[:n], dtype=float),
                       np.asarray(y_te[:n]), meta)


def evaluate_point(point: Mapping[str, Any], inputs: SweepInputs) -> dict[str, Any]:
    """Run one grid point: program a chip (seed ``chip_seed``, read ``read_time`` s after
    programming), calibrate it if asked (``mode = "ann"``), classify the test images ``draws``
    times (independent read noise; in ``mode = "snn"`` also independent input spikes) on the
    batch engine or Brian2, and measure what ``point["metrics"]`` asks.

    Returns
    -------
    dict
        ``accuracy`` (fraction, mean over draws) and ``accuracy_std_draws`` (ddof 1; 0 for one
        draw); ``energy_j`` (J per inference) and ``latency_s`` (s per inference): the chip's
        energy account of one multi-bit inference, or the mean over draws of the spiking runs'
        accounts; ``spikes`` (spikes per inference, input spikes included, mean over draws);
        ``layer_error_<k>`` for every weighted layer k (relative L2 error, first draw's noise).
    """
    from ..analysis.calibration import calibrate
    from ..analysis.energy import program_account
    from ..hw.chip import Chip
    from ..physics.device import RRAMDevice
    from ..program import compile as compile_model

    metrics = str(point["metrics"]).split(",")
    seeds = [int(s) for s in point_seed(point).generate_state(point["draws"] + 1, np.uint64) >> 1]
    device = RRAMDevice(read_noise_sigma=point["read_noise_sigma"],
                        relaxation=point["relaxation"])
    chip = Chip(device=device, seed=point["chip_seed"], read_time=point["read_time"],
                precision=point.get("precision", "single"))
    program = compile_model(inputs.model, chip, calibration=inputs.X_train)
    if point.get("mode", "ann") == "snn":
        return _evaluate_snn(point, inputs, program, metrics, seeds[1:])
    bits = {"in_bits": point["in_bits"], "out_bits": point["out_bits"]}
    out: dict[str, Any] = {}
    if point["calibrate"] and ("accuracy" in metrics or "layer_error" in metrics):
        calibrate(program, inputs.X_train, head_bits=8, seed=seeds[0], **bits)
    if "accuracy" in metrics:
        acc = []
        for s in seeds[1:]:
            y = np.asarray(program.run(inputs.X_test, head_bits=8, seed=s, **bits))
            acc.append(float(np.mean(y.argmax(1) == inputs.y_test)))
        out.update(_over_draws(acc))
    if "layer_error" in metrics:
        out.update(layer_errors(program, inputs.X_test, seed=seeds[1], head_bits=8, **bits))
    if "energy" in metrics or "latency" in metrics:
        account = program_account(program, **bits)
        if "energy" in metrics:
            out["energy_j"] = float(account["energy_per_inference_j"])
        if "latency" in metrics:
            out["latency_s"] = float(account["latency_per_inference_s"])
    return out


def _over_draws(acc: list[float]) -> dict[str, float]:
    """``accuracy`` (mean over draws) and ``accuracy_std_draws`` (ddof 1; 0 for one draw)."""
    return {"accuracy": float(np.mean(acc)),
            "accuracy_std_draws": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0}


def layer_errors(program: Any, x: np.ndarray, *, seed: int, in_bits: int, out_bits: int,
                 head_bits: int | None = None) -> dict[str, float]:
    """Per-layer error of a programmed network: stage k of the chip (weighted layer k and the
    pooling / flattening after it, see :meth:`snn_neurram.ChipProgram.stages`) fed the float
    network's input of stage k, against the float stage on the same input.

    Returns
    -------
    dict
        ``layer_error_<k>`` = ||chip_k(x_k) - f_k(x_k)||_2 / ||f_k(x_k)||_2 over all inputs
        (dimensionless).
    """
    out = {}
    h = np.asarray(x, dtype=float)
    for k, group in enumerate(program.stages()):
        ref = h
        for layer in group:
            ref = layer.forward_float(ref)
        chip = program.run_stages(h, k, k + 1, in_bits, out_bits, head_bits=head_bits,
                                  seed=seed)
        norm = float(np.linalg.norm(ref))
        out[f"layer_error_{k}"] = (float(np.linalg.norm(np.asarray(chip) - ref)) / norm
                                   if norm > 0 else float("nan"))
        h = ref
    return out


# Brian2's code-generation preferences and its default clock belong to the process: a worker
# with several threads runs its Brian2 tasks one at a time
_BRIAN2_LOCK = threading.Lock()


def _import_brian2() -> None:
    """Import Brian2 in a Dask worker's task thread. Brian2 installs a Ctrl-C handler when it is
    imported, which Python allows on the main thread only; a worker imports it in a task's
    thread, so the handler is skipped there (the worker's own handling of signals is kept)."""
    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        import brian2  # noqa: F401
        return
    import signal

    install = signal.signal
    signal.signal = lambda *args, **kwargs: None
    try:
        import brian2  # noqa: F401,F811
    finally:
        signal.signal = install


def _evaluate_snn(point: Mapping[str, Any], inputs: SweepInputs, program: Any,
                  metrics: list[str], seeds: list[int]) -> dict[str, Any]:
    """A spiking grid point: the converted network on the batch engine or Brian2, one run per
    draw (its own read noise and input spikes)."""
    runs = []
    for s in seeds:
        if point["engine"] == "brian2":
            with _BRIAN2_LOCK:
                _import_brian2()
                from ..engines.brian import run_snn_brian

                runs.append(run_snn_brian(program, inputs.X_test, point["coding"], point["steps"],
                                          seed=s, target=point["brian2_target"]))
        else:
            runs.append(program.run(inputs.X_test, mode="snn", coding=point["coding"],
                                    steps=point["steps"], seed=s))
    out: dict[str, Any] = {}
    if "accuracy" in metrics:
        out.update(_over_draws([float(np.mean(np.asarray(r.predictions) == inputs.y_test))
                                for r in runs]))
    for metric, name, attr in (("spikes", "spikes", "spikes_per_inference"),
                               ("energy", "energy_j", "energy_per_inference_j"),
                               ("latency", "latency_s", "latency_s")):
        if metric in metrics:
            out[name] = float(np.mean([getattr(r, attr) for r in runs]))
    return out


def _task(point: dict[str, Any], inputs: SweepInputs,
          evaluate: Callable[[dict[str, Any], SweepInputs], dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    values = evaluate(point, inputs)
    return {"key": point_key(point), **point, **values, "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------------- storage
def _imports() -> tuple[Any, Any, Any]:
    try:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(SWEEP_HINT) from exc
    return pd, pa, pq


def _results_folder(out: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(out), "results")


def _write_row(folder: str, row: dict[str, Any]) -> bool:
    """Store one task's row as ``folder/<sha256 of key>.parquet`` atomically; False (nothing
    written) when that key is stored already."""
    _, pa, pq = _imports()
    path = os.path.join(folder, _digest(row["key"]) + ".parquet")
    if os.path.exists(path):
        return False
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([row]), buf)
    atomic_write_bytes(path, buf.getvalue())
    return True


def read_results(out: str | os.PathLike[str]) -> Any:
    """The stored rows of a sweep folder as a pandas DataFrame, one row per key (sorted by key;
    empty when nothing is stored)."""
    pd, _, pq = _imports()
    folder = _results_folder(out)
    files = sorted(f for f in os.listdir(folder) if f.endswith(".parquet")) \
        if os.path.isdir(folder) else []
    if not files:
        return pd.DataFrame({"key": pd.Series([], dtype=str)})
    frames = [pq.read_table(os.path.join(folder, f)).to_pandas() for f in files]
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates("key").sort_values("key").reset_index(drop=True)


# ------------------------------------------------------------------------------- running
def _progress_bar(total: int, progress: bool | None) -> Any:
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="sweep", unit="task", file=sys.stderr)


def run(spec: Mapping[str, Any] | str | os.PathLike[str], client: Any = None,
        workers: int | None = None, scheduler: str | None = None,
        out: str | os.PathLike[str] | None = None, progress: bool | None = None, *,
        evaluate: Callable[[dict[str, Any], SweepInputs], dict[str, Any]] = evaluate_point,
        inputs: SweepInputs | None = None) -> Any:
    """Run a sweep: every grid point one task, on Dask or in this process.

    Parameters
    ----------
    spec : mapping or path
        The sweep description (see :func:`check_spec`) or a TOML file holding it.
    client : distributed.Client, optional
        Run on this client's cluster.
    workers : int, optional
        Without ``client`` and ``scheduler``: start a ``LocalCluster`` of this many worker
        processes, one thread each (default: one per core); ``workers=1`` runs every task in
        this process, without Dask (for debugging).
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``) to connect to.
    out : path, optional
        Folder of the results: ``out/results/*.parquet``, one file per key, written as each task
        finishes. Keys stored there already are not run again. Without ``out`` nothing is stored.
    progress : bool, optional
        Show finished / total and the time left (tqdm on stderr); default: when stderr is a
        terminal.
    evaluate : callable, optional
        ``evaluate(point, inputs) -> dict`` of metric values for one grid point (default
        :func:`evaluate_point`); must be picklable for Dask.
    inputs : SweepInputs, optional
        The network and data (default: :func:`load_inputs` of the spec).

    Returns
    -------
    pandas.DataFrame
        One row per grid point (sorted by key): ``key``, the point's parameters, the metrics and
        ``seconds`` (the task's wall time).
    """
    pd, _, _ = _imports()
    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    spec = check_spec(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 (got {workers!r})")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be a Dask scheduler's address such as "
                         f"'tcp://host:8786' (got {scheduler!r})")
    given = [n for n, v in (("client", client), ("workers", workers), ("scheduler", scheduler))
             if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of client, workers and scheduler (got "
                         f"{' and '.join(given)})")
    points = task_points(spec)
    out_path = None if out is None else os.fspath(out)
    folder = None if out_path is None else _results_folder(out_path)
    done: set[str] = set()
    if out_path is not None and folder is not None:
        os.makedirs(folder, exist_ok=True)
        done = set(read_results(out_path)["key"])
    todo = [p for p in points if point_key(p) not in done]
    rows: dict[str, dict[str, Any]] = {}
    bar = _progress_bar(len(points), progress)
    if bar is not None:
        bar.update(len(points) - len(todo))

    def finished(row: dict[str, Any]) -> None:
        if row["key"] in rows:                       # a task the scheduler ran twice
            return
        rows[row["key"]] = row
        if folder is not None:
            _write_row(folder, row)
        if bar is not None:
            bar.update(1)

    try:
        if todo:
            data = load_inputs(spec) if inputs is None else inputs
            if client is None and scheduler is None and workers == 1:
                for p in todo:
                    finished(_task(p, data, evaluate))
            else:
                _run_dask(todo, data, evaluate, client, workers, scheduler, finished)
    finally:
        if bar is not None:
            bar.close()
    if out_path is not None:
        df = read_results(out_path)
        keys = {point_key(p) for p in points}
        df = df[df["key"].isin(keys)]
    else:
        df = pd.DataFrame(list(rows.values()))
    return df.sort_values("key").reset_index(drop=True)


def _run_dask(todo: list[dict[str, Any]], data: SweepInputs, evaluate: Callable[..., Any],
              client: Any, workers: int | None, scheduler: str | None,
              finished: Callable[[dict[str, Any]], None]) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise ImportError(SWEEP_HINT) from exc
    own_cluster = own_client = None
    try:
        if client is None:
            if scheduler is not None:
                client = own_client = Client(scheduler)
            else:
                n = workers or os.cpu_count() or 1
                own_cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
                client = own_client = Client(own_cluster)
        shared = client.scatter(data, broadcast=True)
        # Dask's task names: the key's hash and a token of this call, so that a later run on
        # the same client (another evaluate, say) never receives a result Dask still holds
        token = uuid.uuid4().hex[:12]
        futures = [client.submit(_task, p, shared, evaluate, pure=False,
                                 key=f"sweep-{_digest(point_key(p))}-{token}") for p in todo]
        for fut in as_completed(futures):
            finished(fut.result())
            fut.release()
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


# ------------------------------------------------------------------------------- summaries
def summary(df: Any, by: Sequence[str] | None = None,
            metrics: Sequence[str] | None = None) -> Any:
    """Mean, standard deviation (ddof 1) and 95 % Student-t interval of the mean of each metric
    per group of rows (the chips of a Monte Carlo study are the samples).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`run`.
    by : list of str, optional
        Columns to group by (default: every grid parameter but ``chip_seed`` that takes more than
        one value).
    metrics : list of str, optional
        Metric columns (default: those of accuracy, energy_j, latency_s, spikes and
        layer_error_<k> present).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n`` (rows) and per metric ``<m>_mean``,
        ``<m>_std``, ``<m>_ci95_lo``, ``<m>_ci95_hi``.
    """
    from ..analysis.stats import t_interval

    pd, _, _ = _imports()
    if by is None:
        by = [p for p in PARAMETERS if p != "chip_seed" and p in df and df[p].nunique() > 1]
    by = list(by)
    missing = [c for c in by if c not in df]
    if missing:
        raise ValueError(f"by: no column {missing[0]!r} in the results (columns: "
                         f"{', '.join(map(str, df.columns))})")
    if metrics is None:
        metrics = [m for m in ("accuracy", "energy_j", "latency_s", "spikes") if m in df]
        metrics += sorted((c for c in df if str(c).startswith("layer_error_")),
                          key=lambda c: int(str(c).rsplit("_", 1)[1]))
    rows = []
    groups = df.groupby(by, sort=True) if by else [((), df)]
    for name, g in groups:
        name = name if isinstance(name, tuple) else (name,)
        row: dict[str, Any] = dict(zip(by, name))
        row["n"] = len(g)
        for m in metrics:
            v = g[m].to_numpy(dtype=float)
            lo, hi = t_interval(v)
            row.update({f"{m}_mean": float(v.mean()),
                        f"{m}_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                        f"{m}_ci95_lo": lo, f"{m}_ci95_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_figure(df: Any, path: str) -> str:
    """Accuracy (%) against read time (s, log axis): the mean over chips and its 95 %
    interval as a band, one line per combination of the other grid parameters that vary."""
    from ..analysis.plotting import accuracy_bands_figure

    others = [p for p in _varying(df) if p != "read_time"]
    s = summary(df, by=["read_time", *others], metrics=["accuracy"])
    curves = []
    for name, g in (s.groupby(others, sort=True) if others else [((), s)]):
        name = name if isinstance(name, tuple) else (name,)
        label = ", ".join(f"{k}={v}" for k, v in zip(others, name)) or "all chips"
        curves.append({"label": label, "x": g["read_time"].to_numpy(float),
                       "mean": 100 * g["accuracy_mean"].to_numpy(float),
                       "lo": 100 * g["accuracy_ci95_lo"].to_numpy(float),
                       "hi": 100 * g["accuracy_ci95_hi"].to_numpy(float)})
    chips = int(df["chip_seed"].nunique())
    return accuracy_bands_figure(curves, path, xlabel="read time after programming (s)",
                                 title=f"mean and 95 % interval over {chips} chips")


#: Axis labels of the grid parameters in figures (with units).
_AXIS = {k: p.axis for k, p in PARAMETERS.items()}
#: Short names of the grid parameters in figure titles.
_NAME = {k: p.name for k, p in PARAMETERS.items()}


def _check_axis(df: Any, name: str, value: Any) -> None:
    """ValueError unless ``value`` is a grid parameter of the results other than chip_seed."""
    if value not in PARAMETERS or value == "chip_seed" or value not in df:
        raise ValueError(f"{name} must be a grid parameter of the results other than "
                         f"chip_seed (got {value!r})")


def _varying(df: Any) -> list[str]:
    return [p for p in PARAMETERS if p != "chip_seed" and p in df and df[p].nunique() > 1]


def _ticks(values: Sequence[Any]) -> list[str]:
    return [("on" if v else "off") if isinstance(v, (bool, np.bool_)) else f"{v:g}"
            for v in values]


def chip_figure(df: Any, path: str, parameter: str) -> str:
    """Accuracy (%) of every chip (``chip_seed``) at every value of ``parameter``: one dot per
    chip and value, the dots of a chip linked by a line, the chips set slightly side by side
    around each value (so that equal accuracies stay visible).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`run` with an ``accuracy`` column.
    path : str
        The PNG to write.
    parameter : str
        A grid parameter other than ``chip_seed``; where other parameters vary too, a chip's
        accuracy at a value is its mean over them.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        ``parameter`` is not such a parameter.
    """
    from ..analysis.plotting import chip_scatter_figure

    _check_axis(df, "parameter", parameter)
    values = sorted(df[parameter].unique())
    categorical = parameter != "read_time"
    pos = {v: i for i, v in enumerate(values)}
    chips = {}
    n = int(df["chip_seed"].nunique())
    for i, (seed, g) in enumerate(df.groupby("chip_seed", sort=True)):
        m = g.groupby(parameter, sort=True)["accuracy"].mean()
        # chips side by side around each value (equal accuracies would hide each other): up to
        # +-0.2 of a category, or +-0.08 decades on the log axis of read time
        dodge = (i - (n - 1) / 2) / max(n - 1, 1) if n > 1 else 0.0
        x = ([pos[v] + 0.4 * dodge for v in m.index] if categorical
             else [v * 10 ** (0.16 * dodge) for v in m.index])
        chips[seed] = (np.asarray(x, dtype=float), 100 * m.to_numpy(float))
    others = [p for p in _varying(df) if p != parameter]
    title = f"each of {len(chips)} chips at every value of {_NAME[parameter]}"
    if others:
        title += f" (mean over {', '.join(_NAME[p] for p in others)})"
    return chip_scatter_figure(chips, path, xlabel=_AXIS[parameter], title=title,
                               log_x=not categorical,
                               xticklabels=_ticks(values) if categorical else None)


def heatmap(df: Any, path: str, x: str, y: str) -> str:
    """Mean accuracy (%) over chips (and any other varying parameter) for every pair of values
    of two grid parameters, the value written in each cell.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`run` with an ``accuracy`` column.
    path : str
        The PNG to write.
    x, y : str
        Two different grid parameters other than ``chip_seed`` (columns and rows).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        ``x`` or ``y`` is not such a parameter, or both are the same.
    """
    from ..analysis.plotting import heatmap_figure

    for name, p in (("x", x), ("y", y)):
        _check_axis(df, name, p)
    if x == y:
        raise ValueError(f"x and y must be two different parameters (got {x!r} twice)")
    table = df.pivot_table(index=y, columns=x, values="accuracy", aggfunc="mean").sort_index()
    table = table[sorted(table.columns)]
    chips = int(df["chip_seed"].nunique())
    return heatmap_figure(100 * table.to_numpy(float), _ticks(list(table.columns)),
                          _ticks(list(table.index)), path, xlabel=_AXIS[x], ylabel=_AXIS[y],
                          title=f"mean test accuracy (%) over {chips} chip"
                                f"{'s' if chips != 1 else ''}", fmt="{:.2f}")


def sweep_figures(df: Any, folder: str) -> dict[str, str]:
    """Every figure the grid of ``df`` can draw, written to ``folder``: the accuracy band
    against read time (``accuracy_read_time.png``, more than one read time), the per-chip
    scatter against each varying parameter (``chips_<parameter>.png``, more than one chip) and
    the heat map of the first two varying parameters (``heatmap_<x>_<y>.png``; read_time and
    read_noise_sigma first when both vary).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`run`.
    folder : str
        Where the PNGs go (created if needed).

    Returns
    -------
    dict
        {description: path} of the figures written (empty without accuracies).
    """
    out: dict[str, str] = {}
    if "accuracy" not in df or not len(df):
        return out
    varying = _varying(df)
    if "read_time" in varying:
        out["accuracy vs read time"] = sweep_figure(
            df, os.path.join(folder, "accuracy_read_time.png"))
    if df["chip_seed"].nunique() > 1:
        for p in varying:
            out[f"every chip vs {p}"] = chip_figure(df, os.path.join(folder, f"chips_{p}.png"), p)
    if len(varying) >= 2:
        pair = (["read_time", "read_noise_sigma"]
                if {"read_time", "read_noise_sigma"} <= set(varying) else varying[:2])
        out[f"heat map {pair[0]} x {pair[1]}"] = heatmap(
            df, os.path.join(folder, f"heatmap_{pair[0]}_{pair[1]}.png"), pair[0], pair[1])
    return out
