"""Reports of a compiled program: where every weight lives, per layer and per core, and what an
inference costs, as dicts and as text tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..compiler.plan import as_plan
from .energy import program_account
from .plotting import core_grid_figure

if TYPE_CHECKING:
    from ..physics.energy import EnergyModel

__all__ = ["report", "report_text", "energy_text"]


def report(program: Any, figure: str | None = None, energy: bool = True, in_bits: int = 4,
           out_bits: int = 4, energy_model: EnergyModel | None = None) -> dict[str, Any]:
    """Where every weight lives, per layer and per core, and what an inference costs.

    Parameters
    ----------
    figure : str, optional
        Also write a picture of the 8 x 6 core grid (PNG) showing which layer occupies which
        part of which core.
    energy : bool
        Add the energy and latency account of one inference at (in_bits, out_bits) under
        ``"energy"`` (see :func:`snn_neurram.energy.program_account`).
    in_bits, out_bits : int
    energy_model : EnergyModel, optional

    Returns
    -------
    dict
        ``layers`` (per layer: matrix shape, row/column segments, blocks, replicas, cores,
        rows and columns used, cells used, utilisation of its cores), ``cores`` (per core:
        layers, blocks, cells used, utilisation), and chip totals.
    """
    program = as_plan(program)
    cells_per_core = 128 * 256
    core_cells = np.zeros(program.chip.n_cores, dtype=np.int64)
    core_layers: list[set[int]] = [set() for _ in range(program.chip.n_cores)]
    core_blocks = np.zeros(program.chip.n_cores, dtype=np.int64)
    layers = []
    for p in program.plans:
        cores = sorted({pl.core for b in p.blocks for pl in b.placements})
        cells = sum(b.shape[0] * b.shape[1] for b in p.blocks)
        replicas = len(p.blocks[0].placements)
        for b in p.blocks:
            for pl in b.placements:
                core_cells[pl.core] += b.shape[0] * b.shape[1]
                core_layers[pl.core].add(p.index)
                core_blocks[pl.core] += 1
        layers.append({
            "index": p.index, "name": p.name, "kind": p.kind,
            "matrix": [p.n_in, p.n_out], "activation": p.activation,
            "row_segments": p.n_rseg, "column_segments": p.n_cseg,
            "blocks": len(p.blocks), "replicas": replicas, "mappings": len(p.blocks) * replicas,
            "cores": cores,
            "row_pairs_used": sum(b.pairs for b in p.blocks if b.cseg == 0),
            "columns_used": p.n_out,
            "cells_used": cells * replicas,
            "utilisation_of_its_cores": cells * replicas / (len(cores) * cells_per_core),
            "mvms_per_input": p.mvms_per_input, "x_max": p.x_max, "w_max": p.w_max,
        })
    used = [c for c in range(program.chip.n_cores) if core_blocks[c]]
    cores = [{"core": c, "grid": list(program.chip.grid_position(c)),
              "layers": sorted(core_layers[c]), "blocks": int(core_blocks[c]),
              "cells_used": int(core_cells[c]),
              "utilisation": float(core_cells[c] / cells_per_core)} for c in used]
    rep = {
        "cores_used": len(used), "cores_available": program.chip.n_cores,
        "mappings": int(core_blocks.sum()),
        "weights": int(sum(p.n_in * p.n_out for p in program.plans)),
        "utilisation_of_used_cores": float(core_cells[used].sum() /
                                           (len(used) * cells_per_core)),
        "layers": layers, "cores": cores,
    }
    if energy:
        rep["energy"] = program_account(program, in_bits, out_bits, energy_model)
    if figure is not None:
        rep["figure"] = core_grid_figure(program, figure)
    return rep

def report_text(program: Any, rep: dict[str, Any] | None = None) -> str:
    """The report as an aligned text table."""
    rep = report(program, energy=False) if rep is None else rep
    lines = [f"{'layer':<14s}{'matrix':>11s}{'segs':>7s}{'blocks':>8s}{'repl':>6s}"
             f"{'cores':>7s}{'row pairs':>10s}{'cols':>6s}{'util':>7s}  cores"]
    for L in rep["layers"]:
        lines.append(
            f"{L['name'][:13]:<14s}{L['matrix'][0]:>5d}x{L['matrix'][1]:<5d}"
            f"{L['row_segments']:>3d}x{L['column_segments']:<3d}{L['blocks']:>8d}"
            f"{L['replicas']:>6d}{len(L['cores']):>7d}{L['row_pairs_used']:>10d}"
            f"{L['columns_used']:>6d}{100 * L['utilisation_of_its_cores']:>6.1f}%  "
            f"{','.join(map(str, L['cores']))}")
    lines.append(f"{rep['cores_used']} of {rep['cores_available']} cores, "
                 f"{rep['mappings']} mappings, {rep['weights']:,} weights, "
                 f"{100 * rep['utilisation_of_used_cores']:.1f} % of the used cores' cells")
    return "\n".join(lines)

#: Column heads of the energy table (components of :func:`snn_neurram.energy.program_account`).
_COMPONENT_NAMES = {"wl_switching": "word lines", "input_pulses": "input pulses",
                    "neuron": "neurons", "digital": "digital", "transfer": "transfer"}


def energy_text(acc: dict[str, Any]) -> str:
    """An energy account (:func:`snn_neurram.energy.program_account`) as a text table."""
    comps = list(acc["energy_by_component_j"])
    head = "".join(f"{_COMPONENT_NAMES.get(c, c)[:12]:>13s}" for c in comps)
    lines = [f"energy per inference (nJ) and latency (µs), {acc['in_bits']}-bit inputs, "
             f"{acc['out_bits']}-bit outputs",
             f"{'layer':<12s}{'MVMs':>7s}{head}{'total':>10s}{'latency':>12s}"]
    for L in acc["layers"]:
        cells = "".join(f"{1e9 * L['energy_by_component_j'][c]:>13.2f}" for c in comps)
        lines.append(f"{L['name'][:11]:<12s}{L['mvms']:>7d}{cells}"
                     f"{1e9 * L['energy_j']:>10.2f}{1e6 * L['latency_s']:>9.1f} µs")
    tot = "".join(f"{1e9 * acc['energy_by_component_j'][c]:>13.2f}" for c in comps)
    lines.append(f"{'total':<12s}{'':>7s}{tot}{1e9 * acc['energy_per_inference_j']:>10.2f}"
                 f"{1e6 * acc['latency_per_inference_s']:>9.1f} µs")
    lines.append(f"{acc['macs_per_inference']:,} MACs per inference: "
                 f"{acc['tops']:.4f} TOPS in sequence, {acc['tops_pipelined']:.4f} TOPS "
                 f"pipelined ({acc['inferences_per_s_pipelined']:,.0f} inferences/s), "
                 f"{acc['tops_per_w']:.2f} TOPS/W, EDP {acc['edp_js']:.3e} J s")
    return "\n".join(lines)

