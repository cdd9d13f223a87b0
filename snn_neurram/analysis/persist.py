"""Saving and loading compiled programs.

File layout (format version 1)::

    b"SNNNEURRAM PROGRAM\\n"
    one line of JSON: {"format": 1, "payload_bytes": n, "sha256": "...", "snn_neurram": "x.y.z"}
    payload: an uncompressed numpy .npz archive of n bytes

The payload holds every array (the model's weights; per programmed core the conductances that
write-verify left, the pulse counts and the relaxation variates; per block its conductance
targets) and one JSON document (``meta``) with the chip's configuration and seed, the layer plans
with their calibration samples, the blocks' neuron configurations and the state of every random
generator. The fault maps, device variation and drift exponents are drawn again from the chip's
seed, and the conductances at the read time follow from the saved ones exactly as when they were
made (:meth:`snn_neurram.Core.age`). A loaded program therefore continues exactly where the saved one
stood: the same inputs give bit-identical outputs.

Writes go to a temporary file that replaces the target only once complete. A truncated or
altered file, a file of another format version, or not a program at all raise
:class:`ProgramFileError` -- never wrong results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import Any

import numpy as np

from .._io import atomic_write_bytes
from .._version import __version__
from ..compiler.plan import BlockPlan, LayerPlan, Placement, ProgramPlan, as_plan
from ..errors import ProgramFileError
from ..hw.chip import Chip
from ..hw.core import Block
from ..nn.graph import weighted_layers
from ..nn.layers import layer_from_dict
from ..physics.device import RRAMDevice
from ..physics.mapping import MappedWeights
from ..physics.neuron import NeuronConfig

__all__ = ["save_program", "load_plan"]

MAGIC = b"SNNNEURRAM PROGRAM\n"
FORMAT = 1
# what programming produced; the rest of a core (fault map, device variation, drift exponents)
# is drawn again from the chip's seed, and the relaxed conductances follow from these by age()
_CORE_ARRAYS = ("G_programmed", "pulses", "converged", "_z")


class _Arrays:
    """Collects arrays under generated keys while a structure is turned into JSON."""

    def __init__(self):
        self.arrays = {}

    def put(self, obj, prefix):
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


def _take(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _take(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_take(v, arrays) for v in obj]
    return obj


def save_program(program: Any, path: str | os.PathLike[str]) -> None:
    """Write a compiled program (a ChipProgram or its ProgramPlan) to ``path`` (see the module
    documentation for the format)."""
    program = as_plan(program)
    box = _Arrays()
    chip = program.chip
    cores = []
    for k, core in enumerate(chip.cores):
        entry = {}
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
    header = {"format": FORMAT, "payload_bytes": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest(), "snn_neurram": __version__}
    atomic_write_bytes(path, MAGIC + json.dumps(header).encode() + b"\n" + payload)


def _read(path):
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(MAGIC):
        raise ProgramFileError(f"{path} is not an snn_neurram program file")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):end])
    except (ValueError, UnicodeDecodeError):
        raise ProgramFileError(f"{path}: the header is damaged") from None
    if header.get("format") != FORMAT:
        raise ProgramFileError(f"{path}: file format {header.get('format')!r}, this version of "
                               f"snn_neurram reads format {FORMAT}")
    payload = data[end + 1:]
    if len(payload) != header.get("payload_bytes"):
        raise ProgramFileError(f"{path} is truncated or padded: {len(payload)} payload bytes, "
                               f"the header says {header.get('payload_bytes')}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise ProgramFileError(f"{path}: checksum mismatch, the file was altered or damaged")
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    return meta, arrays


def load_plan(path: str | os.PathLike[str]) -> ProgramPlan:
    """Load the ProgramPlan of a program saved by :meth:`ChipProgram.save`
    (:func:`snn_neurram.load` wraps it in a ChipProgram).

    Raises
    ------
    ProgramFileError
        The file is not a program, of another format version, truncated, or altered.
    """
    meta, arrays = _read(path)
    c = meta["chip"]
    chip = Chip(c["n_cores"], RRAMDevice(**c["device"]), NeuronConfig(**c["neuron"]),
                seed=int(c["entropy"]), read_time=c["read_time"], scheme=c["scheme"],
                percentile=c["percentile"], precision=c["precision"])
    chip.seed = c["seed"]
    for core, entry in zip(chip.cores, meta["cores"]):
        entry = _take(entry, arrays)
        core.set_random_state(entry)
        core.blocks = [Block(MappedWeights(**b["mapping"]), b["row"], b["col"],
                             NeuronConfig(**b["neuron"])) for b in entry["blocks"]]
        if core.blocks:
            for name in _CORE_ARRAYS:
                setattr(core, name, np.array(entry[name]))
            core.targets = core.block_targets(core.blocks)
            core.age(entry["read_time"])
    model = layer_from_dict(_take(meta["model"], arrays))
    plans = []
    for p in _take(meta["plans"], arrays):
        blocks = [BlockPlan(**{**b, "placements": [Placement(**pl) for pl in b["placements"]]})
                  for b in p["blocks"]]
        plans.append(LayerPlan(**{**p, "blocks": blocks}))
    return ProgramPlan(model, chip, plans, weighted_layers(model))
