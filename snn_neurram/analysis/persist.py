"""Saving and loading compiled programs.

File layout (format version 2)::

    b"SNNNEURRAM PROGRAM\\n"
    one line of canonical JSON (sorted keys, no spaces):
        {"format":2,"payload_bytes":n,"sha256":"...","snn_neurram":"x.y.z"}
    payload: an uncompressed numpy .npz archive of n bytes

``sha256`` is the SHA-256 of the magic line, the canonical JSON of the header without the
``sha256`` field, a newline and the payload: every header field (the format number, the payload
size, the version of snn_neurram that wrote the file) is under the checksum, and the header line
must be exactly the canonical form of what it says, so that no byte of the file can change
unnoticed. (Format 1 checksummed the payload only; such files are refused with a clear message.)

The payload holds every array (the model's weights; per programmed core the conductances that
write-verify left, the pulse counts and the relaxation variates; per block its conductance
targets) and one JSON document (``meta``) with the chip's configuration and seed, the layer plans
with their calibration samples, the blocks' neuron configurations and the state of every random
generator. The fault maps, device variation and drift exponents are drawn again from the chip's
seed, and the conductances at the read time follow from the saved ones exactly as when they were
made (:meth:`snn_neurram.Core.age`). A loaded program therefore continues exactly where the saved one
stood: the same inputs give bit-identical outputs.

Loading checks the whole content, not only the checksum: every key and type of the meta, the
shape (256 x 256 per programmed core), type and finiteness of every array, the geometry of every
block on its core, every placement against the chip (core, block index, row and column inside
the array, the block it names) and the plans against the model (one per weighted layer, of its
kind and size). Anything wrong raises :class:`ProgramFileError` naming the file and the part.

Writes go to a temporary file that replaces the target only once complete (see
:mod:`snn_neurram._io`); the temporary files of a killed writer are removed by the next save or
load of the same file. A truncated or altered file, a file of another format version, or not a
program at all raise :class:`ProgramFileError` -- never wrong results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .._io import atomic_write_bytes, remove_stale_temps
from .._version import __version__
from ..compiler.plan import BlockPlan, LayerPlan, Placement, ProgramPlan, as_plan
from ..errors import ProgramFileError
from ..hw.chip import Chip
from ..hw.core import Block, Core
from ..nn.graph import weighted_layers
from ..nn.layers import Sequential, layer_from_dict
from ..physics.device import RRAMDevice
from ..physics.mapping import SCHEMES, MappedWeights
from ..physics.neuron import ACTIVATIONS, NeuronConfig

__all__ = ["save_program", "load_plan", "FORMAT", "MAGIC"]

MAGIC = b"SNNNEURRAM PROGRAM\n"
FORMAT = 2
_HEADER_FIELDS = ("format", "payload_bytes", "sha256", "snn_neurram")
# what programming produced; the rest of a core (fault map, device variation, drift exponents)
# is drawn again from the chip's seed, and the relaxed conductances follow from these by age()
_CORE_ARRAYS = ("G_programmed", "pulses", "converged", "_z")
# dtype kind each core array must have, the dtype it is loaded as, and whether it is >= 0
_CORE_DTYPES = {"G_programmed": ("f", np.float64, True), "pulses": ("iu", np.int32, True),
                "converged": ("b", np.bool_, False), "_z": ("f", np.float64, False)}
_CHIP_KEYS = ("n_cores", "device", "neuron", "seed", "read_time", "scheme", "percentile",
              "precision", "entropy")
_BLOCK_KEYS = ("row", "col", "neuron", "mapping")
_META_KEYS = ("chip", "model", "plans", "cores")
_PLAN_KEYS = tuple(f.name for f in dataclasses.fields(LayerPlan) if f.name != "op_points")
_BLOCKPLAN_KEYS = tuple(f.name for f in dataclasses.fields(BlockPlan))
_PLACEMENT_KEYS = tuple(f.name for f in dataclasses.fields(Placement))


# ---------------------------------------------------------------------------- writing
class _Arrays:
    """Collects arrays under generated keys while a structure is turned into JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}

    def put(self, obj: Any, prefix: str) -> Any:
        if isinstance(obj, np.ndarray):
            key = f"{prefix}#{len(self.arrays)}"
            self.arrays[key] = obj
            return {"__array__": key}
        if isinstance(obj, dict):
            return {k: self.put(v, f"{prefix}/{k}") for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.put(v, f"{prefix}/{i}") for i, v in enumerate(obj)]
        if isinstance(obj, np.generic):
            return obj.item()
        return obj


def _canonical(obj: Any) -> bytes:
    """The one JSON form of a header (sorted keys, no whitespace, ASCII)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def _digest(header: dict[str, Any], payload: bytes) -> str:
    """Checksum of a file: magic, canonical header without the checksum, newline, payload."""
    h = hashlib.sha256(MAGIC)
    h.update(_canonical({k: v for k, v in header.items() if k != "sha256"}))
    h.update(b"\n")
    h.update(payload)
    return h.hexdigest()


def save_program(program: Any, path: str | os.PathLike[str]) -> None:
    """Write a compiled program (a ChipProgram or its ProgramPlan) to ``path`` (see the module
    documentation for the format). The write is atomic: ``path`` holds the old or the new file
    at every moment, even if the process is killed."""
    program = as_plan(program)
    box = _Arrays()
    chip = program.chip
    cores = []
    for k, core in enumerate(chip.cores):
        entry: dict[str, Any] = {}
        if core.programmed:
            entry = {name: box.put(getattr(core, name), f"core{k}/{name}")
                     for name in _CORE_ARRAYS}
        entry["read_time"] = core.read_time
        entry.update(core.random_state())
        entry["blocks"] = [{
            "row": b.row, "col": b.col, "neuron": b.neuron.to_dict(),
            "mapping": box.put(b.mapping._asdict(), f"core{k}/mapping"),
        } for b in core.blocks]
        cores.append(box.put(entry, f"core{k}"))
    meta = {
        "chip": {**chip.config(), "entropy": str(chip.seed_sequence.entropy)},
        "model": box.put(program.model.to_dict(), "model"),
        "plans": [box.put({k: v for k, v in dataclasses.asdict(p).items() if k != "op_points"},
                          "plan") for p in program.plans],
        "cores": cores,
    }
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **box.arrays)
    payload = buf.getvalue()
    header: dict[str, Any] = {"format": FORMAT, "payload_bytes": len(payload),
                              "snn_neurram": __version__}
    header["sha256"] = _digest(header, payload)
    atomic_write_bytes(path, MAGIC + _canonical(header) + b"\n" + payload)


# ---------------------------------------------------------------------------- reading: checks
class _Bad(Exception):
    """A part of the file is wrong (the message names the part); load_plan adds the path."""


@contextmanager
def _part(where: str) -> Iterator[None]:
    """Turn the errors of building ``where`` from the file's content into :class:`_Bad`."""
    try:
        yield
    except _Bad:
        raise
    except KeyError as exc:
        key = exc.args[0] if exc.args else "?"
        raise _Bad(f"{where}: missing key {key!r}") from exc
    except (TypeError, ValueError, IndexError, AttributeError, ArithmeticError,
            RecursionError) as exc:
        raise _Bad(f"{where}: {exc}") from exc


def _what(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape}"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(obj),
                                                                          type(obj).__name__)


def _dict(obj: Any, where: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Bad(f"{where}: expected a JSON object, found {_what(obj)}")
    if keys is not None:
        missing = [k for k in keys if k not in obj]
        if missing:
            raise _Bad(f"{where}: missing key{'s' * (len(missing) > 1)} "
                       f"{', '.join(map(repr, missing))}")
        extra = [k for k in obj if k not in keys]
        if extra:
            raise _Bad(f"{where}: unknown key{'s' * (len(extra) > 1)} "
                       f"{', '.join(map(repr, extra))}")
    return obj


def _list(obj: Any, where: str, length: int | None = None) -> list[Any]:
    if not isinstance(obj, list):
        raise _Bad(f"{where}: expected a list, found {_what(obj)}")
    if length is not None and len(obj) != length:
        raise _Bad(f"{where}: {len(obj)} entries, expected {length}")
    return obj


def _int(obj: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in [lo, hi]."""
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise _Bad(f"{where}: expected an integer, found {_what(obj)}")
    if (lo is not None and obj < lo) or (hi is not None and obj > hi):
        raise _Bad(f"{where} is {obj}, outside [{'-inf' if lo is None else lo}, "
                   f"{'inf' if hi is None else hi}]")
    return obj


def _real(obj: Any, where: str, lo: float | None = None, hi: float | None = None,
          lo_open: bool = False, none: bool = False) -> Any:
    """A finite number in [lo, hi] (or (lo, hi]); None too if ``none``. Returned unchanged."""
    if obj is None and none:
        return None
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise _Bad(f"{where}: expected a number, found {_what(obj)}")
    if not math.isfinite(obj):
        raise _Bad(f"{where} is {obj}, not a finite number")
    if lo is not None and (obj <= lo if lo_open else obj < lo) or hi is not None and obj > hi:
        raise _Bad(f"{where} is {obj}, outside {'(' if lo_open else '['}"
                   f"{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]")
    return obj


def _bool(obj: Any, where: str) -> bool:
    if not isinstance(obj, bool):
        raise _Bad(f"{where}: expected true or false, found {_what(obj)}")
    return obj


def _str(obj: Any, where: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(obj, str):
        raise _Bad(f"{where}: expected a string, found {_what(obj)}")
    if choices is not None and obj not in choices:
        raise _Bad(f"{where} is {obj!r}, not one of {', '.join(map(repr, choices))}")
    return obj


def _array(obj: Any, where: str, shape: tuple[int | None, ...], kinds: str = "f",
           finite: bool = True, nonneg: bool = False) -> np.ndarray:
    """An array of the given shape (None: any length) and dtype kinds, finite (floats) and
    non-negative where asked."""
    if not isinstance(obj, np.ndarray):
        raise _Bad(f"{where}: expected an array, found {_what(obj)}")
    if obj.dtype.kind not in kinds:
        want = {"f": "floats", "iu": "integers", "b": "booleans"}.get(kinds, kinds)
        raise _Bad(f"{where}: array of dtype {obj.dtype}, expected {want}")
    if obj.ndim != len(shape) or any(w is not None and w != g for w, g in zip(shape, obj.shape)):
        want = " x ".join("n" if w is None else str(w) for w in shape) or "a scalar"
        raise _Bad(f"{where}: array of shape {obj.shape}, expected {want}")
    if finite and obj.dtype.kind == "f" and obj.size and not np.isfinite(obj).all():
        raise _Bad(f"{where}: {int(np.size(obj) - np.isfinite(obj).sum())} value(s) are NaN "
                   "or infinite")
    if nonneg and obj.size and (obj < 0).any():
        raise _Bad(f"{where}: {int((obj < 0).sum())} negative value(s)")
    return obj


def _resolve(obj: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    """The meta with its array references replaced by the payload's arrays."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            key = obj["__array__"]
            if not isinstance(key, str) or key not in arrays:
                raise _Bad(f"meta: refers to array {key!r}, which the payload lacks")
            used.add(key)
            return arrays[key]
        return {k: _resolve(v, arrays, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, arrays, used) for v in obj]
    return obj


# ---------------------------------------------------------------------------- reading: the file
def _read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header, checksum and payload of a program file: (meta, arrays). Raises _Bad."""
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(MAGIC):
        raise ProgramFileError(f"{path} is not an snn_neurram program file")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise _Bad("the header is damaged or the file is truncated (no end of header line)")
    line = data[len(MAGIC):end]
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Bad("the header is damaged") from None
    if not isinstance(header, dict):
        raise _Bad("the header is damaged (not a JSON object)")
    fmt = header.get("format")
    if fmt != FORMAT or type(fmt) is not int:
        if type(fmt) is not int:
            raise _Bad(f"the header has no valid format number (found {fmt!r})")
        written = header.get("snn_neurram")
        by = f" (written by snn_neurram {written})" if isinstance(written, str) else ""
        hint = ("compile the model again and save it with this version" if fmt < FORMAT else
                "load it with a newer snn_neurram")
        raise _Bad(f"file format {fmt}{by}, this version of snn_neurram ({__version__}) reads "
                   f"format {FORMAT}: {hint}")
    missing = [k for k in _HEADER_FIELDS if k not in header]
    extra = [k for k in header if k not in _HEADER_FIELDS]
    if missing or extra:
        raise _Bad(f"the header is damaged: "
                   + "; ".join(([f"missing field(s) {', '.join(map(repr, missing))}"]
                                if missing else []) +
                               ([f"unknown field(s) {', '.join(map(repr, extra))}"]
                                if extra else [])))
    size = header["payload_bytes"]
    if type(size) is not int:
        raise _Bad(f"the header is damaged: payload_bytes is {size!r}")
    for name in ("sha256", "snn_neurram"):
        if not isinstance(header[name], str):
            raise _Bad(f"the header is damaged: {name} is {header[name]!r}")
    payload = data[end + 1:]
    if len(payload) != size:
        raise _Bad(f"the file is truncated or padded: {len(payload)} payload bytes, the header "
                   f"says {size}")
    if header["sha256"] != _digest(header, payload):
        raise _Bad("checksum mismatch, the file was altered or damaged")
    if line != _canonical(header):
        raise _Bad("the header line is not in its canonical form: the file was altered")
    try:
        npz = np.load(io.BytesIO(payload), allow_pickle=False)
    except MemoryError:
        raise
    except Exception as exc:
        raise _Bad(f"the payload is not a readable npz archive ({exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _Bad("the payload is a single array, not an npz archive")
    try:
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except MemoryError:
        raise
    except Exception as exc:
        raise _Bad(f"the payload's arrays cannot be read ({exc})") from exc
    raw = arrays.pop("meta", None)
    if raw is None:
        raise _Bad("the payload has no 'meta' document")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Bad(f"meta: expected a byte string, found an array of dtype {raw.dtype} and "
                   f"shape {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _Bad(f"meta: not valid JSON ({exc})") from exc
    return _dict(meta, "meta", _META_KEYS), arrays


# ---------------------------------------------------------------------------- reading: content
def _build_chip(c: Any) -> Chip:
    c = _dict(c, "chip", _CHIP_KEYS)
    n_cores = _int(c["n_cores"], "chip: n_cores", 1, Chip.MAX_CORES)
    entropy = _str(c["entropy"], "chip: entropy")
    if not entropy.isdigit():
        raise _Bad(f"chip: entropy is {entropy!r}, not a non-negative integer")
    seed = c["seed"]
    if seed is not None:
        _int(seed, "chip: seed", 0)
    with _part("chip: device"):
        device = RRAMDevice(**_dict(c["device"], "chip: device"))
    with _part("chip: neuron"):
        neuron = NeuronConfig(**_dict(c["neuron"], "chip: neuron"))
    kw = dict(read_time=_real(c["read_time"], "chip: read_time", 0.0, lo_open=True),
              scheme=_str(c["scheme"], "chip: scheme", SCHEMES),
              percentile=_real(c["percentile"], "chip: percentile", 0.0, 100.0, lo_open=True),
              precision=_str(c["precision"], "chip: precision", ("single", "double")))
    with _part("chip"):
        chip = Chip(n_cores, device, neuron, seed=np.random.SeedSequence(int(entropy)), **kw)
    chip.seed = seed
    return chip


def _build_block(b: Any, where: str, taken: np.ndarray) -> Block:
    b = _dict(b, where, _BLOCK_KEYS)
    m = _dict(b["mapping"], f"{where}: mapping", MappedWeights._fields)
    gp = _array(m["g_plus"], f"{where}: mapping g_plus", (None, None), nonneg=True)
    n_pairs, n_out = gp.shape
    gm = _array(m["g_minus"], f"{where}: mapping g_minus", (n_pairs, n_out), nonneg=True)
    if n_pairs < 1 or n_out < 1:
        raise _Bad(f"{where}: empty block ({n_pairs} row pairs x {n_out} columns)")
    row = _int(b["row"], f"{where}: row", 0, Core.MAX_INPUTS - 1)
    col = _int(b["col"], f"{where}: col", 0, Core.N_COLS - 1)
    if row + n_pairs > Core.MAX_INPUTS or col + n_out > Core.N_COLS:
        raise _Bad(f"{where}: {n_pairs} row pairs x {n_out} columns from row pair {row}, column "
                   f"{col} lie outside the {Core.MAX_INPUTS} x {Core.N_COLS} array")
    if taken[row:row + n_pairs, col:col + n_out].any():
        raise _Bad(f"{where}: overlaps an earlier block of the core")
    taken[row:row + n_pairs, col:col + n_out] = True
    with _part(f"{where}: neuron"):
        neuron = NeuronConfig(**_dict(b["neuron"], f"{where}: neuron"))
    mapping = MappedWeights(
        gp, gm, _real(m["w_max"], f"{where}: mapping w_max", 0.0, lo_open=True),
        _int(m["n_bias_rows"], f"{where}: mapping n_bias_rows", 0, n_pairs - 1),
        _real(m["x_max"], f"{where}: mapping x_max", 0.0, lo_open=True),
        _real(m["clipped_fraction"], f"{where}: mapping clipped_fraction", 0.0, 1.0),
        _str(m["scheme"], f"{where}: mapping scheme", SCHEMES))
    return Block(mapping, row, col, neuron)


def _restore_core(core: Core, entry: Any, where: str) -> None:
    names = ("read_time", "rng", "prog_rng", "blocks")
    entry = _dict(entry, where)
    blocks_raw = _list(entry.get("blocks"), f"{where}: blocks")
    _dict(entry, where, names + (_CORE_ARRAYS if blocks_raw else ()))
    read_time = _real(entry["read_time"], f"{where}: read_time", 0.0, lo_open=True)
    with _part(f"{where}: random state"):
        core.set_random_state({"rng": _dict(entry["rng"], f"{where}: rng"),
                               "prog_rng": _dict(entry["prog_rng"], f"{where}: prog_rng")})
    taken = np.zeros((Core.MAX_INPUTS, Core.N_COLS), bool)
    blocks = [_build_block(b, f"{where} block {i}", taken) for i, b in enumerate(blocks_raw)]
    if not blocks:
        return
    shape = (Core.N_ROWS, Core.N_COLS)
    loaded: dict[str, np.ndarray] = {}
    for name in _CORE_ARRAYS:
        kinds, dtype, nonneg = _CORE_DTYPES[name]
        a = _array(entry[name], f"{where}: {name}", shape, kinds, nonneg=nonneg)
        if dtype == np.int32 and a.size and a.max() > np.iinfo(np.int32).max:
            raise _Bad(f"{where}: {name} holds values beyond int32")
        loaded[name] = np.array(a, dtype=dtype)
    with _part(where):
        core.blocks = blocks
        for name, a in loaded.items():
            setattr(core, name, a)
        core.targets = core.block_targets(core.blocks)
        core.age(read_time)


def _check_layer(d: Any, where: str) -> None:
    """Build every leaf layer of a model dict apart, so that an error names the layer."""
    d = _dict(d, where)
    kind = _str(d.get("type"), f"{where}: type")
    if kind == "Sequential":
        for i, layer in enumerate(_list(d.get("layers"), f"{where}: layers")):
            _check_layer(layer, f"{where}/layers/{i}")
    elif kind == "Residual":
        _check_layer(d.get("body"), f"{where}/body")
        if d.get("shortcut") is not None:
            _check_layer(d["shortcut"], f"{where}/shortcut")
    else:
        with _part(f"{where} ({kind} {d.get('name')!r})"):
            layer_from_dict(d)


def _build_model(d: Any) -> Any:
    _check_layer(d, "model")
    with _part("model"):
        model = layer_from_dict(d)
    if not isinstance(model, Sequential):
        raise _Bad(f"model: the top level is a {type(model).__name__}, expected a Sequential")
    return model


def _build_placement(pl: Any, where: str, blk: dict[str, Any], chip: Chip) -> Placement:
    pl = _dict(pl, where, _PLACEMENT_KEYS)
    ci = _int(pl["core"], f"{where}: core", 0)
    if ci >= chip.n_cores:
        raise _Bad(f"{where}: core {ci}, but the chip has {chip.n_cores} cores")
    core = chip.cores[ci]
    bi = _int(pl["block"], f"{where}: block", 0)
    if bi >= len(core.blocks):
        raise _Bad(f"{where}: block {bi} of core {ci}, which holds {len(core.blocks)} "
                   f"block{'s' * (len(core.blocks) != 1)}")
    pairs, width = blk["pairs"], blk["c1"] - blk["c0"]
    row = _int(pl["row"], f"{where}: row", 0, Core.MAX_INPUTS - 1)
    col = _int(pl["col"], f"{where}: col", 0, Core.N_COLS - 1)
    if row + pairs > Core.MAX_INPUTS or col + width > Core.N_COLS:
        raise _Bad(f"{where}: {pairs} row pairs x {width} columns from row pair {row}, column "
                   f"{col} lie outside the {Core.MAX_INPUTS} x {Core.N_COLS} array")
    b = core.blocks[bi]
    n_bias = pairs - (blk["r1"] - blk["r0"])
    if (b.row, b.col, b.n_pairs, b.n_out, b.n_bias_rows) != (row, col, pairs, width, n_bias):
        raise _Bad(f"{where}: a {pairs} x {width} piece ({n_bias} bias rows) at row pair {row}, "
                   f"column {col}, but block {bi} of core {ci} is {b.n_pairs} x {b.n_out} "
                   f"({b.n_bias_rows} bias rows) at row pair {b.row}, column {b.col}")
    return Placement(ci, bi, row, col)


def _build_blockplan(b: Any, where: str, k: int, p: dict[str, Any], chip: Chip) -> BlockPlan:
    b = _dict(b, where, _BLOCKPLAN_KEYS)
    _int(b["layer"], f"{where}: layer", k, k)
    _int(b["rseg"], f"{where}: rseg", 0, p["n_rseg"] - 1)
    _int(b["cseg"], f"{where}: cseg", 0, p["n_cseg"] - 1)
    r0 = _int(b["r0"], f"{where}: r0", 0, p["n_in"] - 1)
    r1 = _int(b["r1"], f"{where}: r1", r0 + 1, p["n_in"])
    c0 = _int(b["c0"], f"{where}: c0", 0, p["n_out"] - 1)
    _int(b["c1"], f"{where}: c1", c0 + 1, min(p["n_out"], c0 + Core.N_COLS))
    has_bias = _bool(b["has_bias"], f"{where}: has_bias")
    _int(b["pairs"], f"{where}: pairs", r1 - r0, Core.MAX_INPUTS if has_bias else r1 - r0)
    placements = _list(b["placements"], f"{where}: placements")
    if not placements:
        raise _Bad(f"{where}: the block is placed nowhere")
    pls = [_build_placement(pl, f"{where} placement {i}", b, chip)
           for i, pl in enumerate(placements)]
    with _part(where):
        return BlockPlan(**{**b, "placements": pls})


def _build_plan(p: Any, k: int, layer: Any, chip: Chip) -> LayerPlan:
    where = f"plan {k}"
    if isinstance(p, dict):             # files written before these two keys existed
        p = {"compiled_rows": None, "compiled_percentile": None, "bias_shift": None, **p}
    p = _dict(p, where, _PLAN_KEYS)
    _int(p["index"], f"{where}: index", k, k)
    kind = _str(p["kind"], f"{where}: kind")
    if kind != type(layer).__name__:
        raise _Bad(f"{where} is for a {kind} layer, but weighted layer {k} of the model is a "
                   f"{type(layer).__name__}")
    _str(p["name"], f"{where}: name")
    _int(p["n_in"], f"{where}: n_in", 1)
    _int(p["n_out"], f"{where}: n_out", 1)
    n_in, n_out = layer.matrix()[0].shape
    if (p["n_in"], p["n_out"]) != (n_in, n_out):
        raise _Bad(f"{where} is for a {p['n_in']!r} x {p['n_out']!r} matrix, but weighted layer "
                   f"{k} of the model ({layer.name}) is {n_in} x {n_out}")
    _str(p["activation"], f"{where}: activation", ACTIVATIONS + ("lstm",))
    if p["activation"] != getattr(layer, "activation", None):
        raise _Bad(f"{where} has activation {p['activation']!r}, but weighted layer {k} of the "
                   f"model ({layer.name}) has {getattr(layer, 'activation', None)!r}")
    for name in ("x_max", "w_max"):
        _real(p[name], f"{where}: {name}", 0.0, lo_open=True)
    _real(p["out_top"], f"{where}: out_top", 0.0)
    _real(p["adc_percentile"], f"{where}: adc_percentile", 0.0, 100.0, lo_open=True)
    _real(p["adc_top"], f"{where}: adc_top", none=True)
    n_rseg = _int(p["n_rseg"], f"{where}: n_rseg", 1)
    n_cseg = _int(p["n_cseg"], f"{where}: n_cseg", 1)
    _bool(p["nonneg_input"], f"{where}: nonneg_input")
    _int(p["mvms_per_input"], f"{where}: mvms_per_input", 1)
    for name in ("calib_rows", "compiled_rows"):
        if p[name] is not None:
            _array(p[name], f"{where}: {name}", (None, n_in))
    _real(p["compiled_percentile"], f"{where}: compiled_percentile", 0.0, 100.0, lo_open=True,
          none=True)
    if (p["gain"] is None) != (p["offset"] is None):
        raise _Bad(f"{where}: gain and offset must both be present or both absent")
    if p["gain"] is not None:
        gain = _array(p["gain"], f"{where}: gain", (n_out,))
        _array(p["offset"], f"{where}: offset", (n_out,))
        if (gain == 0).any():
            raise _Bad(f"{where}: gain has zeros")
    if p["bias_shift"] is not None:
        _array(p["bias_shift"], f"{where}: bias_shift", (n_out,))
    blocks_raw = _list(p["blocks"], f"{where}: blocks", n_rseg * n_cseg)
    blocks = [_build_blockplan(b, f"{where} block {i}", k, p, chip)
              for i, b in enumerate(blocks_raw)]
    with _part(where):
        return LayerPlan(**{**p, "blocks": blocks})


def _build(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ProgramPlan:
    used: set[str] = set()
    meta = _resolve(meta, arrays, used)
    chip = _build_chip(meta["chip"])
    cores = _list(meta["cores"], "cores", chip.n_cores)
    for k, (core, entry) in enumerate(zip(chip.cores, cores)):
        _restore_core(core, entry, f"core {k}")
    model = _build_model(meta["model"])
    layers = weighted_layers(model)
    plans_raw = _list(meta["plans"], "plans")
    if len(plans_raw) != len(layers):
        raise _Bad(f"plans: {len(plans_raw)} layer plans for a model with {len(layers)} "
                   "weighted layers")
    plans = [_build_plan(p, k, layer, chip) for k, (p, layer) in enumerate(zip(plans_raw, layers))]
    unused = sorted(set(arrays) - used)
    if unused:
        raise _Bad(f"the payload holds array{'s' * (len(unused) > 1)} the meta does not use: "
                   f"{', '.join(map(repr, unused[:5]))}{' ...' * (len(unused) > 5)}")
    with _part("program"):
        return ProgramPlan(model, chip, plans, layers)


def load_plan(path: str | os.PathLike[str]) -> ProgramPlan:
    """Load the ProgramPlan of a program saved by :meth:`ChipProgram.save`
    (:func:`snn_neurram.load` wraps it in a ChipProgram).

    Temporary files that killed writers of ``path`` left in its folder are removed first.

    Raises
    ------
    ProgramFileError
        The file is not a program, of another format version, truncated, altered, or its content
        is inconsistent (the message names the file and the part that is wrong).
    OSError
        The file cannot be read (FileNotFoundError, PermissionError, ...).
    """
    path = os.fspath(path)
    remove_stale_temps(path)
    try:
        meta, arrays = _read(path)
        with _part("meta"):         # a structure nested too deep to walk
            return _build(meta, arrays)
    except _Bad as exc:
        raise ProgramFileError(f"{path}: {exc}") from exc.__cause__
