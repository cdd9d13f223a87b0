"""Energy and latency of MVMs on NeuRRAM and of whole mapped networks.

Events of one MVM of a block with R driven rows (2 per differential pair, bias rows included)
and N neurons (columns), with m = ``in_bits`` magnitude bits split into phases of at most four
bits and ``multiplier`` repeats of every cycle:

=======================  ==========================================  ===========================
event                    count per MVM                               energy / time constant
=======================  ==========================================  ===========================
word-line switching      R x (phases x per-phase + pulses)           ``e_wl_phase``, ``e_wl_pulse``
input pulses             R x pulses x activity                       ``e_input_pulse``
neuron, per phase        N x phases (reset, correlated sampling)     ``e_neuron_phase``, ``t_phase``
sample and integrate     N x cycles                                  ``e_neuron_cycle``, ``t_cycle``
ADC step                 N x steps                                   ``e_adc_step``, ``t_adc_step``
=======================  ==========================================  ===========================

pulses = m (one pulse per magnitude bit, held while the neuron samples 2^k times for bit k),
cycles = multiplier x sum over phases of (2^bits - 1), steps = out_bits per conversion for the SAR
ADC (the sign comparison and one per magnitude bit) or the worst-case count (the number of levels)
for the unary ADC, one conversion per phase. The time of an MVM is
phases x t_phase + cycles x t_cycle + steps x t_adc_step.

The nine constants are a fit (:func:`fit_to_published`) to the chip's measured throughput and
efficiency of a fully used 48-core chip at 1- to 8-bit inputs with two more output bits, and to
its energy split per MAC (word-line switching / neuron / input pulses) at 1, 4 and 8 bits
(Nature 2022 ED Fig. 12, :data:`PUBLISHED`). There a "b-bit input" is a sign and b - 1 magnitude
bits (1 bit: binary), and an op is one multiply-accumulate of one cell, 256 x 256 per core and
MVM. Digital work between cores is not in those figures; its constants are assumptions (see
:class:`EnergyModel`).
"""

from dataclasses import asdict, dataclass

import numpy as np

from ._checks import check_choice, check_int, check_range

__all__ = ["EnergyModel", "PUBLISHED", "mvm_events", "mvm_account", "peak", "fit_to_published",
           "published_bits", "program_account", "spike_account"]

#: Nature 2022 ED Fig. 12, 48 cores fully used, output bits = input bits + 2:
#: input bits -> (TOPS, TOPS/W); and the energy split in fJ per MAC
#: (word-line switching, neuron, input pulses) at 1, 4 and 8 bits.
PUBLISHED = {
    "throughput": {1: (2.12, 43.1), 2: (1.79, 40.3), 3: (1.17, 23.1), 4: (0.74, 16.0),
                   5: (0.5, 11.1), 6: (0.3, 8.7), 7: (0.34, 7.75), 8: (0.26, 6.44)},
    "split_fj_per_mac": {1: (9.0, 10.6, 3.4), 4: (21.8, 29.1, 11.5), 8: (50.5, 75.9, 27.5)},
}
CELLS = 256                 # cells per row and per column of a core
CORES = 48


@dataclass(frozen=True)
class EnergyModel:
    """Per-event energies (J) and times (s).

    The first nine are the fit of :func:`fit_to_published` (rounded); the digital ones are
    assumptions: a 16-bit add or compare of 0.4 pJ (0.05 pJ at 45 nm, Horowitz, ISSCC 2014,
    scaled by (130/45)^2 to the chip's 130-nm node) and 1 pJ per bit moved between cores
    (on-chip wires of a few mm).
    """

    e_wl_phase: float = 6.505e-13        # per driven row and phase
    e_wl_pulse: float = 1.653e-12        # per driven row and input pulse
    e_input_pulse: float = 9.448e-13     # per driven row and pulse that is applied
    e_neuron_phase: float = 1.999e-12    # per neuron and phase
    e_neuron_cycle: float = 7.319e-13    # per neuron and sample-and-integrate cycle
    e_adc_step: float = 0.0              # per neuron and ADC step
    t_phase: float = 4.833e-7            # per phase
    t_cycle: float = 2.816e-7            # per sample-and-integrate cycle
    t_adc_step: float = 2.521e-7         # per ADC step
    e_digital_op: float = 4e-13          # one 16-bit add or compare (assumption)
    e_transfer_bit: float = 1e-12        # one bit moved between cores (assumption)

    def to_dict(self):
        return asdict(self)


def published_bits(bits):
    """(in_bits, out_bits) of the chip's measurement at ``bits``-bit inputs: in_bits counts
    magnitude bits here (b - 1, binary at 1 bit), out_bits = bits + 2."""
    bits = check_int(bits, "bits", 1, 8)
    return max(1, bits - 1), bits + 2


def mvm_events(rows, cols, in_bits, out_bits, adc="sar", multiplier=1, max_phase_bits=4,
               unsigned=False):
    """Event counts of one MVM: phases, cycles, pulses (per row), ADC steps (per neuron)."""
    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 10)
    check_choice(adc, "adc", ("sar", "unary"))
    phases = [min(max_phase_bits, in_bits - s) for s in range(0, in_bits, max_phase_bits)]
    cycles = multiplier * sum(2 ** n - 1 for n in phases)
    if adc == "sar":
        steps = out_bits
    else:
        steps = 2 ** out_bits - 1 if unsigned else 2 ** (out_bits - 1)
    return {"rows": rows, "cols": cols, "phases": len(phases), "cycles": cycles,
            "pulses": in_bits, "adc_steps": steps * len(phases)}


def mvm_account(rows, cols, in_bits, out_bits, adc="sar", multiplier=1, activity=1.0,
                model=None, max_phase_bits=4, unsigned=False):
    """Energy (J) by component and time (s) of one MVM.

    Parameters
    ----------
    rows : int
        Driven rows (two per differential pair, bias rows included).
    cols : int
        Active neurons.
    in_bits, out_bits : int
        Input magnitude bits, output bits (1-10 here, for the published 9- and 10-bit points).
    adc : {"sar", "unary"}
    multiplier : int
        Pulse multiplier of the operating point.
    activity : float
        Fraction of the row pulses that are applied (a zero bit leaves the row at V_ref).
    model : EnergyModel, optional
    """
    model = EnergyModel() if model is None else model
    activity = check_range(activity, "activity", 0.0, 1.0)
    ev = mvm_events(rows, cols, in_bits, out_bits, adc, multiplier, max_phase_bits, unsigned)
    wl = rows * (ev["phases"] * model.e_wl_phase + ev["pulses"] * model.e_wl_pulse)
    pulses = rows * ev["pulses"] * activity * model.e_input_pulse
    neuron = cols * (ev["phases"] * model.e_neuron_phase + ev["cycles"] * model.e_neuron_cycle +
                     ev["adc_steps"] * model.e_adc_step)
    time = (ev["phases"] * model.t_phase + ev["cycles"] * model.t_cycle +
            ev["adc_steps"] * model.t_adc_step)
    return {"wl_switching": wl, "neuron": neuron, "input_pulses": pulses, "time": time,
            "events": ev}


def peak(bits, model=None, adc="sar"):
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


def fit_to_published():
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


def spike_account(rows_spiking, cols, cycles=1, model=None):
    """Energy (J) of ``cycles`` spiking cycles of a block: each spike is one input pulse on a
    row pair (its two rows), each active neuron samples and integrates once per cycle.

    Parameters
    ----------
    rows_spiking : float
        Spikes delivered (input row pairs pulsed), summed over the cycles.
    cols : int
        Active neurons.
    """
    model = EnergyModel() if model is None else model
    pulse = 2 * rows_spiking * (model.e_wl_pulse + model.e_input_pulse)
    neuron = cols * cycles * model.e_neuron_cycle
    return {"wl_switching": 2 * rows_spiking * model.e_wl_pulse,
            "input_pulses": 2 * rows_spiking * model.e_input_pulse,
            "neuron": neuron, "total": pulse + neuron,
            "time": cycles * model.t_cycle}


def _bit_activity(rows, in_bits):
    """Fraction of (row, bit) pulse slots that carry a pulse for inputs ``rows`` in [-1, 1]."""
    L = 2 ** in_bits - 1
    q = np.abs(np.clip(np.rint(np.asarray(rows, float) * L), -L, L)).astype(np.int64)
    ones = sum(((q >> k) & 1).mean() for k in range(in_bits))
    return float(ones / in_bits)


def program_account(program, in_bits=4, out_bits=4, model=None):
    """Energy and latency account of one inference of a compiled program.

    Per layer: energy by component (word lines, input pulses, neurons, digital partial sums,
    activation transfer), MVMs, input pulses (row pairs pulsed, summed over bits) and synaptic
    events (pulses times the columns they drive), latency (its cores run in parallel, each core's MVMs one after
    another), MACs (one per weight and input). Totals: energy and latency per inference (layers
    in sequence), pipelined throughput (the busiest core sets the pace), TOPS and TOPS/W (network
    MACs), energy-delay product.
    """
    from .compiler import weighted_layers
    from .layers import Conv2d

    model = EnergyModel() if model is None else model
    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 8)
    busy = np.zeros(program.chip.n_cores)
    layers = []
    weighted = weighted_layers(program.model)
    for plan, layer in zip(program.plans, weighted):
        mode, bits = program._block_mode(plan, out_bits)
        activity = _bit_activity(plan.calib_rows, in_bits) if plan.calib_rows is not None \
            else 1.0
        comp = {"wl_switching": 0.0, "input_pulses": 0.0, "neuron": 0.0, "digital": 0.0,
                "transfer": 0.0}
        core_time = {}
        n_mvm = plan.mvms_per_input
        pulses = events = 0.0
        for blk in plan.blocks:
            cfg = program.operating_point(blk, plan, in_bits, out_bits)
            acc = mvm_account(2 * blk.pairs, blk.c1 - blk.c0, in_bits, bits, cfg.adc,
                              cfg.pulse_multiplier, activity, model, cfg.max_phase_bits,
                              unsigned=(mode == "relu"))
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
        latency = max(core_time.values())
        energy = sum(comp.values())
        macs = plan.n_in * plan.n_out * n_mvm
        layers.append({"index": plan.index, "name": plan.name, "mvms": n_mvm,
                       "macs": macs, "energy_j": energy, "energy_by_component_j": comp,
                       "input_pulses": pulses, "synaptic_events": events,
                       "latency_s": latency, "input_activity": activity,
                       "cores": sorted(core_time)})
    energy = sum(l["energy_j"] for l in layers)
    latency = sum(l["latency_s"] for l in layers)
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
        "model": model.to_dict(),
        "notes": "MACs count one per weight and input (the chip's peak figures count one per "
                 "cell, two per differential weight); latency: layers in sequence, a layer's "
                 "cores in parallel; digital pooling and control are not counted.",
    }
