"""Energy and latency of whole mapped networks, and the fit of the per-event constants.

The per-event model (:class:`EnergyModel`, :func:`mvm_events`, :func:`mvm_account`,
:func:`spike_account`) is physics and lives in :mod:`snn_neurram.physics.energy`; this module
fits its constants to the chip's published figures (:func:`fit_to_published`, :data:`PUBLISHED`)
and accounts whole compiled programs (:func:`program_account`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int
from ..compiler.operating import block_mode, operating_point
from ..compiler.plan import as_plan
from ..nn.graph import concurrent_groups
from ..physics.energy import EnergyModel, mvm_account, mvm_events, spike_account

__all__ = ["EnergyModel", "PUBLISHED", "mvm_events", "mvm_account", "peak", "fit_to_published",
           "published_bits", "program_account", "spike_account"]

#: Nature 2022 ED Fig. 12, 48 cores fully used, output bits = input bits + 2:
#: input bits -> (TOPS, TOPS/W); and the energy split in fJ per MAC
#: (word-line switching, neuron, input pulses) at 1, 4 and 8 bits.
PUBLISHED: dict[str, dict[int, tuple[float, ...]]] = {
    "throughput": {1: (2.12, 43.1), 2: (1.79, 40.3), 3: (1.17, 23.1), 4: (0.74, 16.0),
                   5: (0.5, 11.1), 6: (0.3, 8.7), 7: (0.34, 7.75), 8: (0.26, 6.44)},
    "split_fj_per_mac": {1: (9.0, 10.6, 3.4), 4: (21.8, 29.1, 11.5), 8: (50.5, 75.9, 27.5)},
}
CELLS = 256                 # cells per row and per column of a core
CORES = 48


def published_bits(bits: int) -> tuple[int, int]:
    """(in_bits, out_bits) of the chip's measurement at ``bits``-bit inputs: in_bits counts
    magnitude bits here (b - 1, binary at 1 bit), out_bits = bits + 2."""
    bits = check_int(bits, "bits", 1, 8)
    return max(1, bits - 1), bits + 2


def peak(bits: int, model: EnergyModel | None = None, adc: str = "sar") -> dict[str, Any]:
    """Throughput and efficiency of a fully used 48-core chip at the paper's ``bits``-bit setting.

    Returns TOPS, TOPS/W and fJ per MAC by component, counting an op as one MAC of one cell.
    """
    in_bits, out_bits = published_bits(bits)
    acc = mvm_account(CELLS, CELLS, in_bits, out_bits, adc, model=model)
    macs = CELLS * CELLS
    energy = acc["wl_switching"] + acc["neuron"] + acc["input_pulses"]
    return {"bits": bits, "in_bits": in_bits, "out_bits": out_bits,
            "tops": CORES * macs / acc["time"] / 1e12,
            "tops_per_w": macs / energy / 1e12,
            "fj_per_mac": {k: acc[k] / macs * 1e15
                           for k in ("wl_switching", "neuron", "input_pulses")},
            "mvm_time_s": acc["time"]}


def fit_to_published() -> EnergyModel:
    """Fit the nine MVM constants to :data:`PUBLISHED` (returns an EnergyModel).

    Times: least squares in log-throughput of phases t_phase + cycles t_cycle + steps t_adc_step.
    Energies: non-negative least squares in relative error of each component of the split
    (word lines: per phase and per pulse; input pulses: per pulse, all applied; neuron: per
    phase, per cycle, per ADC step), per MAC of a full 256 x 256 core.
    """
    from scipy.optimize import least_squares, nnls

    def feats(b):
        i, o = published_bits(b)
        ev = mvm_events(CELLS, CELLS, i, o)
        return ev["phases"], ev["cycles"], ev["adc_steps"], ev["pulses"]

    bits = sorted(PUBLISHED["throughput"])
    X = np.array([feats(b)[:3] for b in bits], float)
    t_mvm = CORES * CELLS * CELLS / (np.array([PUBLISHED["throughput"][b][0] for b in bits]) *
                                     1e12)
    times = least_squares(lambda p: np.log(X @ p) - np.log(t_mvm), [3e-7, 3e-7, 3e-7],
                          bounds=(0, 1e-3)).x

    def rel_nnls(A, y):
        w = 1 / y
        return nnls(A * w[:, None], y * w)[0]

    split = PUBLISHED["split_fj_per_mac"]
    sb = sorted(split)
    A_row = np.array([[feats(b)[0], feats(b)[3]] for b in sb], float)
    A_neu = np.array([[feats(b)[0], feats(b)[1], feats(b)[2]] for b in sb], float)
    wl = rel_nnls(A_row, np.array([split[b][0] for b in sb]))
    neu = rel_nnls(A_neu, np.array([split[b][1] for b in sb]))
    inp = rel_nnls(A_row[:, 1:], np.array([split[b][2] for b in sb]))
    per_line = CELLS * 1e-15           # fJ per MAC of a full core -> J per row (or column)
    return EnergyModel(
        e_wl_phase=wl[0] * per_line, e_wl_pulse=wl[1] * per_line,
        e_input_pulse=inp[0] * per_line,
        e_neuron_phase=neu[0] * per_line, e_neuron_cycle=neu[1] * per_line,
        e_adc_step=neu[2] * per_line,
        t_phase=times[0], t_cycle=times[1], t_adc_step=times[2])


def _bit_activity(rows, in_bits):
    """Fraction of (row, bit) pulse slots that carry a pulse for inputs ``rows`` in [-1, 1]."""
    L = 2 ** in_bits - 1
    q = np.abs(np.clip(np.rint(np.asarray(rows, float) * L), -L, L)).astype(np.int64)
    ones = sum(((q >> k) & 1).mean() for k in range(in_bits))
    return float(ones / in_bits)


def program_account(program: Any, in_bits: int = 4, out_bits: int = 4,
                    model: EnergyModel | None = None) -> dict[str, Any]:
    """Energy and latency account of one inference of a compiled program.

    Per layer: energy by component (word lines, input pulses, neurons, digital partial sums,
    activation transfer), MVMs, input pulses (row pairs pulsed, summed over bits) and synaptic
    events (pulses times the columns they drive), latency (its cores run in parallel, each core's MVMs one after
    another), MACs (one per weight and input). Totals: energy and latency per inference (layers
    in sequence), pipelined throughput (the busiest core sets the pace), TOPS and TOPS/W (network
    MACs), energy-delay product.
    """
    program = as_plan(program)
    model = EnergyModel() if model is None else model
    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 8)
    busy = np.zeros(program.chip.n_cores)
    layers = []
    core_times: list[dict[int, float]] = []
    for plan in program.plans:
        mode, bits = block_mode(plan, out_bits)
        activity = _bit_activity(plan.calib_rows, in_bits) if plan.calib_rows is not None \
            else 1.0
        comp = {"wl_switching": 0.0, "input_pulses": 0.0, "neuron": 0.0, "digital": 0.0,
                "transfer": 0.0}
        core_time: dict[int, float] = {}
        n_mvm = plan.mvms_per_input
        pulses = events = 0.0
        for blk in plan.blocks:
            cfg = operating_point(program, blk, plan, in_bits, out_bits)
            acc = mvm_account(2 * blk.pairs, blk.c1 - blk.c0, in_bits, bits, cfg.adc,
                              cfg.pulse_multiplier, activity, model, cfg.max_phase_bits,
                              unsigned=(mode == "relu"), config=cfg)
            for k in ("wl_switching", "input_pulses", "neuron"):
                comp[k] += acc[k] * n_mvm
            row_pulses = blk.pairs * in_bits * activity * n_mvm
            pulses += row_pulses
            events += row_pulses * (blk.c1 - blk.c0)
            share = np.diff(np.linspace(0, n_mvm, len(blk.placements) + 1))
            for pl, n in zip(blk.placements, share):
                core_time[pl.core] = core_time.get(pl.core, 0.0) + n * acc["time"]
            phases = acc["events"]["phases"]
            comp["digital"] += n_mvm * (blk.c1 - blk.c0) * (phases - 1) * model.e_digital_op
        # partial sums of the row segments, then the digital activation
        if plan.n_rseg > 1:
            comp["digital"] += n_mvm * plan.n_out * plan.n_rseg * model.e_digital_op
        comp["transfer"] = n_mvm * plan.n_out * out_bits * model.e_transfer_bit
        for c, t in core_time.items():
            busy[c] += t
        core_times.append(core_time)
        latency = max(core_time.values())
        energy = sum(comp.values())
        macs = plan.n_in * plan.n_out * n_mvm
        layers.append({"index": plan.index, "name": plan.name, "mvms": n_mvm,
                       "macs": macs, "energy_j": energy, "energy_by_component_j": comp,
                       "input_pulses": pulses, "synaptic_events": events,
                       "latency_s": latency, "input_activity": activity,
                       "cores": sorted(core_time)})
    energy = sum(l["energy_j"] for l in layers)
    # layers in sequence; parallel LSTM cells at the same time, those sharing a core in turn
    latency = 0.0
    for group in concurrent_groups(program.model):
        per_core: dict[int, float] = {}
        for layer in group:
            for c, t in core_times[program.index_of(layer)].items():
                per_core[c] = per_core.get(c, 0.0) + t
        latency += max(per_core.values())
    macs = sum(l["macs"] for l in layers)
    by_comp = {k: sum(l["energy_by_component_j"][k] for l in layers)
               for k in layers[0]["energy_by_component_j"]}
    pipelined = 1.0 / busy.max()
    return {
        "in_bits": in_bits, "out_bits": out_bits,
        "energy_per_inference_j": energy, "latency_per_inference_s": latency,
        "inferences_per_s_pipelined": pipelined,
        "macs_per_inference": macs,
        "input_pulses_per_inference": sum(l["input_pulses"] for l in layers),
        "synaptic_events_per_inference": sum(l["synaptic_events"] for l in layers),
        "tops": macs / latency / 1e12,
        "tops_pipelined": macs * pipelined / 1e12,
        "tops_per_w": macs / energy / 1e12,
        "edp_js": energy * latency,
        "energy_by_component_j": by_comp,
        "layers": layers,
        "energy_model": model.to_dict(),
        "notes": "MACs count one per weight and input (the chip's peak figures count one per "
                 "cell, two per differential weight); latency: layers in sequence (parallel LSTM "
                 "cells at the same time where they hold different cores), a layer's "
                 "cores in parallel; digital pooling and control are not counted.",
    }
