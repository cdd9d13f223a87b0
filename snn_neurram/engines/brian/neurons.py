"""``NeuRRAMNeurons``: the voltage-mode neuron of NeuRRAM as a Brian2 ``NeuronGroup``.

One Brian2 time step is one sample-and-integrate cycle of the chip. In every step the group

1. settles its lines. A forward line (a column) carries the pulses u_r of its cells r; it settles
   at V_read sum_r u_r G'_r / sum_r G'_r, every cell read afresh as G'_r = G_r (1 + sigma xi_r).
   Numerator and load are linear in the xi, so they are jointly Gaussian: the synapses sum their
   means (``num``), the variance of the numerator sum_r u_r^2 G_r^2 (``nvar``) and its covariance
   with the load sum_r u_r G_r^2 (``ncov``); the neuron draws the pair from those moments and the
   load's own variance sum_r G_r^2 (``g_sq``) with two normal variates. This is the per-cell read
   noise exactly, at the cost of two random numbers per line and cycle. A backward input (the two
   rows of a pair) settles each row the same way and takes their difference.
2. integrates, unless refractory: v = (1 - leak) v + c_ratio (v_f + v_b), saturating at +-v_swing;
3. in ``lif`` mode fires at v >= threshold and resets (to zero or by subtracting the threshold),
   then rests ``refractory`` cycles; in the ANN modes it converts at the last cycle of every window
   of ``window`` cycles (the cycles of one bit-serial MVM) with the in-neuron ADC and clears v
   (``binary`` is the bare comparator: 1 for v >= 0, else 0). Neurons can also hold their output
   (``fixed``, ``y_fixed``: bias lines, clamped units) or output a fresh pseudo-random +-1 every
   cycle (``lfsr``: the chip's noise lines for stochastic sampling).

The mode is a shared variable: :meth:`NeuRRAMNeurons.set_mode` switches it between runs without
rebuilding the network.

Time: one step is one chip cycle, :data:`CYCLE_TIME` (the sample-and-integrate time of the energy
model, :class:`snn_neurram.physics.energy.EnergyModel`). The group warns
(:class:`CycleTimeWarning`) when it runs on a clock whose ``dt`` is not that cycle, since then
Brian2 times (spike times, ``PoissonGroup`` rates, run durations) are not chip times. ``refractory``
and ``leak`` take Brian2 times, converted to cycles with :data:`CYCLE_TIME`, or cycles and a
fraction per cycle. The ADC formulas are those of :func:`snn_neurram.neuron.adc_convert` and
:func:`snn_neurram.neuron.activate`, written as Brian2 code; the tests hold the two equal.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import check_choice, check_int, check_range
from ...hw.core import Core, LineLoads
from ...physics.energy import EnergyModel
from ...physics.neuron import NeuronConfig, adc_levels

__all__ = ["NeuRRAMNeurons", "MODES", "signed_adc_code", "CYCLE_TIME", "DT_RTOL",
           "MAX_ROW_PAIRS", "MAX_COLUMNS", "CycleTimeWarning", "refractory_cycles",
           "leak_fraction"]

#: Duration of one chip cycle (one Brian2 step), a Brian2 time: the sample-and-integrate time of
#: the energy model fitted to the chip's published throughput (0.2816 us). Use it as
#: ``brian2.defaultclock.dt = CYCLE_TIME``.
CYCLE_TIME: b2.Quantity = EnergyModel().t_cycle * b2.second
_CYCLE_S: float = float(EnergyModel().t_cycle)

#: Relative difference between a clock's ``dt`` and :data:`CYCLE_TIME` above which
#: :class:`NeuRRAMNeurons` warns. The cycle time is a fit, good to a few percent, so a ``dt`` of
#: 0.27 us counts as one cycle; Brian2's default 0.1 ms does not.
DT_RTOL: float = 0.1

#: Row pairs (differential inputs) on one line of a core: one column holds at most this many
#: synapses, whatever the number of pathways that feed it.
MAX_ROW_PAIRS: int = Core.MAX_INPUTS

#: Columns of one core: a row pair of a transposable array drives at most this many columns.
MAX_COLUMNS: int = Core.N_COLS


class CycleTimeWarning(UserWarning):
    """A network with :class:`NeuRRAMNeurons` runs with a ``dt`` other than one chip cycle."""


def _is_time(value: Any) -> bool:
    return isinstance(value, b2.Quantity) and not value.is_dimensionless


def refractory_cycles(value: Any, name: str = "refractory") -> int:
    """Refractory period in whole cycles.

    Parameters
    ----------
    value : int or brian2 time quantity
        Cycles (an integer >= 0) or a duration (e.g. ``2 * CYCLE_TIME`` or ``1 * us``),
        converted with :data:`CYCLE_TIME` and rounded up to whole cycles (as Brian2 keeps a
        neuron refractory for every step that starts within the period).
    name : str
        Argument name for error messages.

    Returns
    -------
    int
        Cycles in [0, 10**6].
    """
    if _is_time(value):
        if not b2.have_same_dimensions(value, b2.second):
            raise ValueError(f"{name} must be a time (e.g. 1*us) or a whole number of cycles "
                             f"(got {value!r})")
        seconds = float(value / b2.second)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{name} must be a time >= 0 (got {value!r})")
        cycles = seconds / _CYCLE_S
        if cycles > 10**6:
            raise ValueError(f"{name} must be at most 10**6 cycles = {10**6 * _CYCLE_S:g} s "
                             f"(got {value!r})")
        return math.ceil(cycles - 1e-6)
    if isinstance(value, b2.Quantity):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number of cycles or a Brian2 time "
                         f"(e.g. 2*us); got {value!r}")
    return check_int(value, name, 0, 10**6)


def leak_fraction(value: Any, name: str = "leak") -> float:
    """Leak per cycle as a fraction of the integrated voltage.

    Parameters
    ----------
    value : float or brian2 time quantity
        A fraction in [0, 1] lost per cycle, or a membrane time constant tau (a Brian2 time,
        ``> 0``; ``numpy.inf * second`` for no leak): the fraction is then
        1 - exp(-CYCLE_TIME / tau), so that with no input v decays as exp(-t / tau) in chip
        time, as ``dv/dt = -v/tau`` does in Brian2.
    name : str
        Argument name for error messages.

    Returns
    -------
    float
        Fraction in [0, 1].
    """
    if _is_time(value):
        if not b2.have_same_dimensions(value, b2.second):
            raise ValueError(f"{name} must be a fraction per cycle in [0, 1] or a time constant "
                             f"(e.g. 10*us); got {value!r}")
        tau = float(value / b2.second)
        if not tau > 0:
            raise ValueError(f"{name} as a time constant must be > 0 s (got {value!r})")
        return float(-np.expm1(-_CYCLE_S / tau))
    return check_range(value, name, 0.0, 1.0)


#: Integer code of each activation mode (the value of the shared variable ``mode``).
MODES = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "stochastic_binary": 4, "lif": 5,
         "binary": 6}



def signed_adc_code(x: str, levels: str) -> str:
    """Brian2 expression of the signed ADC code of ``x`` (a voltage in LSB units) with
    ``levels`` magnitude levels: (2 [x >= 0] - 1) (clip(floor(|x|) + 1, 1, L) - 1/2), the code
    of :func:`snn_neurram.physics.neuron.adc_convert` (``signed=True``)."""
    return f"(2 * int({x} >= 0) - 1) * (clip(floor(abs({x})) + 1, 1, {levels}) - 0.5)"


_LINE_VARS = """
{p}num{s} : siemens            # sum u G of the graded inputs (summed by synapses)
{p}nvar{s} : siemens**2        # sum u^2 G^2 of the graded inputs
{p}ncov{s} : siemens**2        # sum u G^2 of the graded inputs
{p}num_spk{s} : siemens        # the same three for the spikes of this cycle
{p}nvar_spk{s} : siemens**2
{p}ncov_spk{s} : siemens**2
{p}g_line{s} : siemens         # every cell on the line
{p}g_sq{s} : siemens**2        # sum of G^2 over every cell on the line
"""

_COMMON = """
v : volt                      # integrated voltage, relative to V_ref
v_sl : volt                   # settled input voltage of the last cycle
v_out : volt                  # integrated voltage at the last ADC conversion
y : 1                         # output of the last conversion (ANN modes)
unit : 1                      # output units per ADC step, per neuron
free_now : integer            # 1 if the neuron integrated in the last cycle
fixed : integer               # 1: the output is held at y_fixed (bias lines, clamped units)
y_fixed : 1
lfsr : integer                # 1: the output is a fresh pseudo-random code every cycle (noise lines)
lfsr_levels : 1 (shared)      # noise codes: +-1 (1) or uniform k / L, k in -L..L (L > 1)
ref_left : integer            # refractory cycles left
mode : integer (shared)
window : integer (shared)     # cycles per ANN conversion
cycle : integer (shared)      # cycles since the start of the run (set by reset_state)
levels : 1 (shared)           # magnitude levels of the ADC code
v_read : volt (shared)
c_ratio : 1 (shared)
leak : 1 (shared)
threshold : volt               # firing threshold, per neuron
reset_sub : 1 (shared)        # 1: reset by subtraction, 0: reset to zero
refractory_cycles : integer (shared)
adc_lsb : volt (shared)
v_swing : volt (shared)
noise_scale : 1 (shared)
sigma_read : 1 (shared)       # relative read noise of the cells
"""

_SETTLE_NOISY = """
{p}m{s} = {p}num{s} + {p}num_spk{s}
{p}vn{s} = {p}nvar{s} + {p}nvar_spk{s} + 1e-60*siemens**2
{p}cv{s} = {p}ncov{s} + {p}ncov_spk{s}
{p}xa{s} = randn()
{p}xb{s} = randn()
{p}line{s} = v_read * ({p}m{s} + sigma_read * sqrt({p}vn{s}) * {p}xa{s}) / ({p}g_line{s} + sigma_read * ({p}cv{s} / sqrt({p}vn{s}) * {p}xa{s} + sqrt(clip({p}g_sq{s} - {p}cv{s}**2 / {p}vn{s}, 0*siemens**2, {p}g_sq{s})) * {p}xb{s}) + int({p}g_line{s} <= 0*siemens) * siemens)
"""
_SETTLE_QUIET = """
{p}line{s} = v_read * ({p}num{s} + {p}num_spk{s}) / ({p}g_line{s} + int({p}g_line{s} <= 0*siemens) * siemens)
"""
_CLEAR = """
{p}num_spk{s} = 0*siemens
{p}nvar_spk{s} = 0*siemens**2
{p}ncov_spk{s} = 0*siemens**2
"""
_INTEGRATE = """
free_now = int(ref_left <= 0)
v = free_now * clip((1 - leak) * v + c_ratio * v_sl, -v_swing, v_swing) + (1 - free_now) * v
ref_left = ref_left - (1 - free_now)
"""
_READOUT = """
is_last = int((cycle % window) == window - 1)
vc = v / adc_lsb
ypre = vc * unit
code_lin = """ + signed_adc_code("vc", "levels") + """
code_relu = clip(floor(vc + 0.5), 0, levels)
t_tanh = tanh(ypre) * levels
u_rand = clip(rand(), 1e-12, 1 - 1e-12)
y_new = int(mode == 0) * code_lin * unit + int(mode == 1) * code_relu * unit + int(mode == 2) * floor(levels / (1 + exp(-ypre)) + 0.5) / levels + int(mode == 3) * (2 * int(t_tanh >= 0) - 1) * (clip(floor(abs(t_tanh)) + 1, 1, levels) - 0.5) / levels + int(mode == 4) * int(ypre + noise_scale * log(u_rand / (1 - u_rand)) > 0)
y_new = y_new + int(mode == 6) * int(vc >= 0)
y = is_last * y_new + (1 - is_last) * y
noise_code = int(lfsr_levels <= 1) * (2 * int(rand() < 0.5) - 1) + int(lfsr_levels > 1) * (floor(rand() * (2 * lfsr_levels + 1)) - lfsr_levels) / lfsr_levels
y = fixed * y_fixed + lfsr * noise_code + (1 - fixed - lfsr) * y
v_out = is_last * v + (1 - is_last) * v_out
v = (1 - is_last) * v
"""


def _lines(template, backward):
    out = template.format(p="", s="")
    if backward:
        out += template.format(p="b", s="_p") + template.format(p="b", s="_m")
    return out


def _cycle_code(noisy: bool, backward: bool) -> str:
    """Brian2 code of one cycle: settle the lines, clear the spike sums, integrate."""
    settle = _lines(_SETTLE_NOISY if noisy else _SETTLE_QUIET, backward)
    v_sl = "v_sl = line" + (" + bline_p - bline_m" if backward else "") + "\n"
    return settle + v_sl + _lines(_CLEAR, backward) + _INTEGRATE


class NeuRRAMNeurons(b2.NeuronGroup):
    """A group of NeuRRAM neurons; one Brian2 step is one chip cycle (:data:`CYCLE_TIME`).

    Each neuron sits on one line of the array (a column; with ``backward=True`` also a row
    pair) and integrates the line's settled voltage, the conductance-weighted average of the
    pulses of every cell on the line (see the module docstring). Synapses
    (:class:`~snn_neurram.brian.RRAMSynapses`, :class:`~snn_neurram.brian.TransposableSynapses`)
    put their cells on the lines.

    Parameters
    ----------
    N : int
        Number of neurons (lines), >= 1.
    config : NeuronConfig, optional
        Neuron parameters (shared with the batch engine): voltages in V, ``refractory`` in
        cycles, ``leak`` as a fraction per cycle.
    mode : str
        One of :data:`MODES`: ``lif`` (integrate and fire) or an ANN mode.
    out_bits : int
        Output bits of the ADC in ANN modes (1-8).
    window : int
        Cycles per ANN conversion (the cycles of one bit-serial MVM), >= 1.
    read_noise : float, optional
        Relative read noise sigma of the cells on the neurons' lines. Leave it unset: the first
        synapses connected to the group set it from their device (``RRAMDevice.read_noise`` /
        ``read_noise_sigma``). If given, it must equal the synapses' device's (0 when its read
        noise is off).
    backward : bool
        Whether the neurons also sit on row pairs that receive the backward pathway of a
        :class:`TransposableSynapses` (adds the variables of the two rows).
    refractory : int or brian2 time, optional
        Overrides ``config.refractory``: cycles (int >= 0) or a time such as ``1*us``, converted
        with :data:`CYCLE_TIME` and rounded up to whole cycles (:func:`refractory_cycles`).
    leak : float or brian2 time, optional
        Overrides ``config.leak``: a fraction lost per cycle in [0, 1], or a membrane time
        constant such as ``10*us`` (fraction 1 - exp(-CYCLE_TIME / tau), :func:`leak_fraction`).
    name : str
    **kwargs
        Passed to ``brian2.NeuronGroup`` (e.g. ``dt``, ``codeobj_class``).

    Warns
    -----
    CycleTimeWarning
        At the start of every run whose clock ``dt`` differs from :data:`CYCLE_TIME` by more
        than :data:`DT_RTOL`: the network still steps one cycle per ``dt``, but its Brian2 times
        are then not chip times.

    Notes
    -----
    Synapses add their cells to the line variables (``g_line``, ``g_sq``); cells of the same lines
    that no synapse represents (unused rows of a core, for instance) are added with
    :meth:`add_idle_load`. A line holds at most :data:`MAX_ROW_PAIRS` synapses over all the
    pathways that feed it (``line_rows`` counts them). The operations are ``cycle_op`` (settle
    and integrate), ``readout_op`` (ANN conversion, active in ANN modes) and ``counter_op``
    (cycle count).
    """

    # Brian2 state variables that callers set to scalars, arrays or quantities
    y: Any
    unit: Any
    threshold: Any
    mode: Any

    def __init__(self, N: int, config: NeuronConfig | None = None, mode: str = "lif",
                 out_bits: int = 8, window: int = 1, read_noise: float | None = None,
                 backward: bool = False, *, refractory: int | b2.Quantity | None = None,
                 leak: float | b2.Quantity | None = None,
                 name: str = "neurramneurons*", **kwargs: Any):
        config = NeuronConfig() if config is None else config
        if not isinstance(config, NeuronConfig):
            raise ValueError(f"config must be a NeuronConfig (got {type(config).__name__})")
        overrides: dict[str, Any] = {}
        if refractory is not None:
            overrides["refractory"] = refractory_cycles(refractory, "refractory")
        if leak is not None:
            overrides["leak"] = leak_fraction(leak, "leak")
        if overrides:
            config = replace(config, **overrides)
        sigma = None if read_noise is None else check_range(read_noise, "read_noise", 0.0, 1.0)
        eqs = _COMMON + _lines(_LINE_VARS, backward)
        super().__init__(
            check_int(N, "N", 1, 10**8), eqs,
            threshold="mode == 5 and free_now == 1 and v >= threshold",
            reset="v = reset_sub * (v - threshold)\nref_left = refractory_cycles",
            name=name, **kwargs)
        for attr in ("config", "noisy", "backward", "cycle_op", "readout_op", "counter_op",
                     "_out_bits", "read_noise", "line_rows", "line_cols"):
            self.add_attribute(attr)
        self.read_noise = sigma
        self.noisy, self.backward = bool(sigma), bool(backward)
        self.line_rows = 0                  # synapses (row pairs) per forward line
        self.line_cols = 0                  # columns per backward row pair
        self.cycle_op = self.run_regularly(_cycle_code(self.noisy, self.backward),
                                           when="groups", order=0, name=self.name + "_cycle")
        self.readout_op = self.run_regularly(_READOUT, when="groups", order=1,
                                             name=self.name + "_readout")
        self.counter_op = self.run_regularly("cycle = cycle + 1", when="end", order=100,
                                             name=self.name + "_counter")
        self.unit = 1.0
        self.lfsr_levels = 1.0
        self.sigma_read = 0.0 if sigma is None else sigma
        self.window = check_int(window, "window", 1, 10**9)
        self._out_bits = check_int(out_bits, "out_bits", 1, 8)
        self.apply_config(config)
        self.set_mode(mode, out_bits)

    def before_run(self, run_namespace: Any = None) -> None:
        """Brian2 hook at the start of a run: warns if ``dt`` is not one chip cycle (one message
        for every group of a network, so Python's default filter shows it once)."""
        super().before_run(run_namespace)
        dt = float(self.clock.dt_)
        if abs(dt / _CYCLE_S - 1.0) > DT_RTOL:
            warnings.warn(
                f"the network runs with dt = {dt * 1e6:.6g} us, but one step of NeuRRAMNeurons is "
                f"one chip cycle of {_CYCLE_S * 1e6:.4g} us (snn_neurram.brian.CYCLE_TIME): the "
                f"network still advances one cycle per step, but its Brian2 times (spike times, "
                f"PoissonGroup rates, run durations) are not chip times. Set "
                f"brian2.defaultclock.dt = CYCLE_TIME before building the network.",
                CycleTimeWarning, stacklevel=2)

    def check_read_noise(self, sigma: float, source: str = "the synapses' device") -> float:
        """Check that ``sigma`` agrees with the group's read noise (if already set); return it.

        Parameters
        ----------
        sigma : float
            Relative read noise (standard deviation / G), in [0, 1]; 0 for noiseless reads.
        source : str
            What asks for it, named in the error when it disagrees.
        """
        sigma = check_range(sigma, "read_noise", 0.0, 1.0)
        if self.read_noise is not None and abs(self.read_noise - sigma) > 1e-12:
            raise ValueError(
                f"the neurons {self.name!r} read their lines with read_noise={self.read_noise:g}, "
                f"but {source} reads with {sigma:g}; give the read noise once, in the RRAMDevice "
                f"(leave NeuRRAMNeurons(read_noise=...) unset), and feed one group of neurons "
                f"from devices with the same read noise")
        return sigma

    def use_read_noise(self, sigma: float, source: str = "the synapses' device") -> None:
        """Set the relative read noise of the lines' cells once; later calls must agree
        (:meth:`check_read_noise`). Synapses call it with their device's read noise."""
        sigma = self.check_read_noise(sigma, source)
        if self.read_noise is None:
            self.read_noise = sigma
            self.sigma_read = sigma
            if bool(sigma) != self.noisy:
                self.noisy = bool(sigma)
                code = _cycle_code(self.noisy, self.backward)
                self.cycle_op.abstract_code = code
                self.cycle_op.user_code = code

    def apply_config(self, config: NeuronConfig) -> None:
        """Load the parameters of a :class:`NeuronConfig` into the shared variables."""
        if not isinstance(config, NeuronConfig):
            raise ValueError(f"config must be a NeuronConfig (got {type(config).__name__})")
        self.config = config
        self.v_read = config.v_read * b2.volt
        self.c_ratio = config.c_ratio
        self.leak = config.leak
        self.threshold = config.threshold * b2.volt
        self.reset_sub = 1.0 if config.reset == "subtract" else 0.0
        self.refractory_cycles = config.refractory
        self.adc_lsb = config.adc_lsb * b2.volt
        self.v_swing = config.v_swing * b2.volt
        self.noise_scale = config.noise_scale

    def set_mode(self, mode: str, out_bits: int | None = None) -> None:
        """Switch the activation mode (and the ADC's output bits) between runs."""
        check_choice(mode, "mode", tuple(MODES))
        if out_bits is not None:
            self._out_bits = check_int(out_bits, "out_bits", 1, 8)
        if mode == "stochastic_binary" and self.config.noise != "logistic":
            raise ValueError("the Brian2 engine injects logistic noise: use noise='logistic'")
        self.mode = MODES[mode]
        self.readout_op.active = mode != "lif"
        if mode == "binary":
            self.levels = 1.0
        elif mode != "lif":
            self.levels = float(adc_levels(self._out_bits, mode, self.config))

    def set_order(self, order: int) -> None:
        """Place this group's cycle (and readout) at ``order`` in the 'groups' slot."""
        self.cycle_op.order = order
        self.readout_op.order = order + 1

    def add_idle_load(self, g_line: ArrayLike = 0.0, g_sq: ArrayLike = 0.0,
                      line: str = "") -> None:
        """Add cells without synapses to the lines: conductance (S) and sum of squares (S^2).

        ``line`` is ``""`` for the forward line, ``"_p"`` / ``"_m"`` for the G+ / G- row of a
        backward pair.
        """
        prefix = "" if line == "" else "b"
        if line not in ("", "_p", "_m") or (line and not self.backward):
            raise ValueError("line must be '' (forward) or, for backward=True groups, '_p' or '_m'")
        gl, gs = prefix + "g_line" + line, prefix + "g_sq" + line
        setattr(self, gl, getattr(self, gl)[:] + np.asarray(g_line) * b2.siemens)
        setattr(self, gs, getattr(self, gs)[:] + np.asarray(g_sq) * b2.siemens ** 2)

    def add_core_loads(self, loads: LineLoads, part: str = "columns", copies: int = 1) -> None:
        """Add a core's idle cells (:meth:`snn_neurram.Core.idle_loads`) to the lines: the
        forward lines (``part="columns"``) or the two rows of every backward pair
        (``part="rows"``), repeated for ``copies`` copies of the network."""
        if part == "columns":
            self.add_idle_load(np.tile(loads.columns, copies), np.tile(loads.columns_sq, copies))
        elif part == "rows":
            self.add_idle_load(np.tile(loads.rows_plus, copies),
                               np.tile(loads.rows_plus_sq, copies), line="_p")
            self.add_idle_load(np.tile(loads.rows_minus, copies),
                               np.tile(loads.rows_minus_sq, copies), line="_m")
        else:
            raise ValueError(f"part must be 'columns' or 'rows' (got {part!r})")

    def reset_state(self) -> None:
        """Clear integrators, outputs, refractory counters and the cycle count."""
        self.v = 0 * b2.volt
        self.v_out = 0 * b2.volt
        self.y = 0
        self.ref_left = 0
        self.cycle = 0
