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

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._checks import check_choice, check_int, check_range
from .neuron import NeuronConfig, phase_split, phases

__all__ = ["EnergyModel", "mvm_events", "mvm_account", "spike_account"]


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

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def mvm_events(rows: int, cols: int, in_bits: int, out_bits: int, adc: str = "sar",
               multiplier: int = 1, max_phase_bits: int = 4, unsigned: bool = False,
               config: NeuronConfig | None = None) -> dict[str, int]:
    """Event counts of one MVM: phases, cycles, pulses (per row), ADC steps (per neuron).

    The phases are those of :func:`snn_neurram.physics.neuron.phase_split`; with an operating
    point ``config`` each phase counts its own pulse multiplier
    (:func:`snn_neurram.physics.neuron.phases`), else every phase runs ``multiplier``.
    """
    in_bits = check_int(in_bits, "in_bits", 1, 8)
    out_bits = check_int(out_bits, "out_bits", 1, 10)
    check_choice(adc, "adc", ("sar", "unary"))
    if config is not None:
        split = phases(in_bits, config)
        phase_bits = [p.bits for p in split]
        cycles = sum(p.config.pulse_multiplier * (2 ** p.bits - 1) for p in split)
    else:
        phase_bits = [nb for _, nb in phase_split(in_bits, max_phase_bits)]
        cycles = multiplier * sum(2 ** n - 1 for n in phase_bits)
    phases_ = phase_bits
    if adc == "sar":
        steps = out_bits
    else:
        steps = 2 ** out_bits - 1 if unsigned else 2 ** (out_bits - 1)
    return {"rows": rows, "cols": cols, "phases": len(phases_), "cycles": cycles,
            "pulses": in_bits, "adc_steps": steps * len(phases_)}


def mvm_account(rows: int, cols: int, in_bits: int, out_bits: int, adc: str = "sar",
                multiplier: int = 1, activity: float = 1.0, model: EnergyModel | None = None,
                max_phase_bits: int = 4, unsigned: bool = False,
                config: NeuronConfig | None = None) -> dict[str, Any]:
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
    config : NeuronConfig, optional
        The operating point (its phases and their pulse multipliers, see :func:`mvm_events`).
    """
    model = EnergyModel() if model is None else model
    activity = check_range(activity, "activity", 0.0, 1.0)
    ev = mvm_events(rows, cols, in_bits, out_bits, adc, multiplier, max_phase_bits, unsigned,
                    config)
    wl = rows * (ev["phases"] * model.e_wl_phase + ev["pulses"] * model.e_wl_pulse)
    pulses = rows * ev["pulses"] * activity * model.e_input_pulse
    neuron = cols * (ev["phases"] * model.e_neuron_phase + ev["cycles"] * model.e_neuron_cycle +
                     ev["adc_steps"] * model.e_adc_step)
    time = (ev["phases"] * model.t_phase + ev["cycles"] * model.t_cycle +
            ev["adc_steps"] * model.t_adc_step)
    return {"wl_switching": wl, "neuron": neuron, "input_pulses": pulses, "time": time,
            "events": ev}


def spike_account(rows_spiking: float, cols: int, cycles: int = 1,
                  model: EnergyModel | None = None) -> dict[str, float]:
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
