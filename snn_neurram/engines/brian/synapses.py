"""RRAM synapses as Brian2 ``Synapses``: per-synapse (G+, G-) pairs read through the device model.

A synapse is one differential pair of cells on one output line. Its target receives the
voltage-mode normalised sum, not a weighted sum: the synapses add sum u (G+ - G-) to the target's
``num`` and their cells to its line load ``g_line``; the neuron divides (see
:mod:`~snn_neurram.brian.neurons`).

Read noise is fresh at every read and exact in distribution. Numerator and load of a line are
linear in the cells' read noise, hence jointly Gaussian; the synapses sum the moments they need
(``nvar`` = sum u^2 (G+^2 + G-^2), ``ncov`` = sum u (G+^2 - G-^2)) and the neuron draws the pair.

- graded inputs (``input="graded"``): summed variables over every synapse, every cycle;
- spike inputs (``input="spikes"``): ``on_pre`` adds the spiking synapses' terms (u = 1), so a
  cycle costs work in proportion to the spikes, as in a plain Brian2 network.

Unset, ``input`` follows the source: groups that spike and have no pulse variable
(``PoissonGroup``, ``SpikeGeneratorGroup``, a thresholded ``NeuronGroup``) and
:class:`NeuRRAMNeurons` in ``lif`` mode give spikes; groups with the pulse variable and no spikes,
and :class:`NeuRRAMNeurons` in the ANN modes, give graded pulses.

What a Brian2 user should know (``docs/brian2.md``): weights are mapped to conductances relative
to their own scale (``w_max``, the ``percentile``-th percentile of abs(W)), and a line reads the
conductance-weighted average of its cells' pulses, so scaling W changes nothing; every synapse on
a line loads it, spiking or not; a line holds at most ``MAX_ROW_PAIRS`` (128) synapses.
"""

from __future__ import annotations

from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import as_finite_array, check_choice, check_int, check_range
from ..._seeds import check_seed
from ...errors import CapacityError
from ...physics.device import RRAMDevice
from ...physics.mapping import SCHEMES, to_conductances
from .neurons import MAX_COLUMNS, MAX_ROW_PAIRS, MODES, NeuRRAMNeurons

__all__ = ["RRAMSynapses", "TransposableSynapses", "program_pairs"]


def program_pairs(W: ArrayLike, device: RRAMDevice | None = None, seed: int | None = None,
                  read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                  w_max: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Map W (n_pre, n_post) to conductance pairs and program them through the device model.

    Write-verify (with faults and device variation) and relaxation to ``read_time``, all drawn
    from ``seed``. Returns (G+, G-, w_max), conductances in siemens of shape (n_pre, n_post).
    """
    device = RRAMDevice() if device is None else device
    read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True, unit="second")
    check_choice(scheme, "scheme", SCHEMES)
    m = to_conductances(W, g_min=device.g_min, g_max=device.g_max, scheme=scheme,
                        percentile=percentile, w_max=w_max)
    rng = np.random.default_rng(check_seed(seed))
    targets = np.stack([m.g_plus, m.g_minus])
    faults = device.sample_faults(targets.shape, rng)
    response = device.sample_response(targets.shape, rng)
    G = device.program(targets, rng, faults=faults, response=response).conductance
    G = device.relax(G, read_time, rng, faults=faults)
    G = device.drifted(G, read_time, device.sample_drift_nu(G.shape, rng), faults=faults)
    return G[0], G[1], m.w_max


def _pairs(W, conductances, device, seed, read_time, scheme, percentile, shape, sides,
           w_max=None):
    """(G+, G-, w_max) of the synapses: given conductances, or W programmed through ``device``;
    checked against ``shape`` = (pre, post) sizes, named ``sides`` in the error."""
    gp, gm, w_max = _pairs_of(W, conductances, device, seed, read_time, scheme, percentile,
                              w_max)
    if gp.shape != shape:
        raise ValueError(f"W / conductances have shape {gp.shape}; {sides} is {shape}")
    return gp, gm, w_max


def _pairs_of(W, conductances, device, seed, read_time, scheme, percentile, w_max=None):
    if conductances is not None:
        gp, gm = (as_finite_array(g, name, ndim=2) for g, name in
                  zip(conductances, ("conductances[0]", "conductances[1]")))
        if gp.shape != gm.shape:
            raise ValueError(f"conductances: G+ {gp.shape} and G- {gm.shape} must have one shape")
        if gp.min() < 0 or gm.min() < 0:
            raise ValueError("conductances must be non-negative (siemens)")
        return gp, gm, None
    if W is None:
        raise ValueError("give the weights W or the conductances (G+, G-)")
    return program_pairs(W, device, seed, read_time, scheme, percentile, w_max)


def _connect_dense(syn, n_pre, n_post, copies=1):
    """All-to-all from n_pre to n_post, in ``copies`` independent copies (block diagonal)."""
    ii = np.repeat(np.arange(n_pre), n_post)
    jj = np.tile(np.arange(n_post), n_pre)
    offs = np.arange(copies)
    syn.connect(i=(offs[:, None] * n_pre + ii).ravel(), j=(offs[:, None] * n_post + jj).ravel())


def _device_sigma(device: RRAMDevice) -> float:
    """Relative read noise of the device's reads (0 when read noise is off)."""
    return float(device.read_noise_sigma) if device.read_noise else 0.0


def _check_device(device: Any) -> RRAMDevice:
    device = RRAMDevice() if device is None else device
    if not isinstance(device, RRAMDevice):
        raise TypeError(f"device must be an snn_neurram.RRAMDevice (got {type(device).__name__})")
    return device


def _check_neurons(group: Any, arg: str, cls: str, backward: bool = False) -> NeuRRAMNeurons:
    """``group`` must be NeuRRAMNeurons: the synapses write the line variables of its neurons."""
    if isinstance(group, b2.Subgroup) and isinstance(group.source, NeuRRAMNeurons):
        raise TypeError(f"{cls}: {arg} must be a whole NeuRRAMNeurons group, not a slice of one "
                        f"(the synapses add their cells to every line of the group); build a "
                        f"separate NeuRRAMNeurons for these neurons")
    if not isinstance(group, NeuRRAMNeurons):
        kind = type(group).__name__
        raise TypeError(
            f"{cls}: {arg} must be snn_neurram.brian.NeuRRAMNeurons (got a {kind}): RRAM "
            f"synapses load the lines of voltage-mode neurons (line variables num, g_line, "
            f"sigma_read, ...), which a plain Brian2 {kind} does not have; build {arg} with "
            f"NeuRRAMNeurons(N{', backward=True' if backward else ''}, ...)")
    return group


def _can_spike(source: Any) -> bool:
    return "spike" in getattr(source, "events", {})


def _infer_input(source: Any, input: str | None, variable: str) -> str:
    """The input kind of a source: given, or inferred from what the source offers."""
    if not isinstance(source, b2.Group):
        raise TypeError(f"RRAMSynapses: source must be a Brian2 group (NeuronGroup, PoissonGroup, "
                        f"SpikeGeneratorGroup, NeuRRAMNeurons; got {type(source).__name__})")
    has_var = variable in getattr(source, "variables", {})
    spikes = _can_spike(source)
    kind = type(source).__name__
    base = source.source if isinstance(source, b2.Subgroup) else source
    if input is None:
        if isinstance(base, NeuRRAMNeurons):
            input = "spikes" if int(base.mode[:]) == MODES["lif"] else "graded"
        elif spikes and not has_var:
            input = "spikes"
        elif has_var and not spikes:
            input = "graded"
        elif has_var and spikes:
            raise ValueError(f"RRAMSynapses: the source {kind} both spikes and has a variable "
                             f"{variable!r}; say which it sends: input='spikes' or "
                             f"input='graded'")
        else:
            raise ValueError(f"RRAMSynapses: the source {kind} neither spikes (no threshold) nor "
                             f"has a variable {variable!r} (a pulse in {{-1, 0, 1}} per cycle); "
                             f"give it a threshold (input='spikes') or the variable (input='graded'"
                             f", variable=NAME)")
    check_choice(input, "input", ("graded", "spikes"))
    if input == "spikes" and not spikes:
        raise ValueError(f"RRAMSynapses: input='spikes' needs a source that spikes; the source "
                         f"{kind} has no threshold")
    if input == "graded":
        if not has_var:
            hint = " (it spikes: use input='spikes' or leave input unset)" if spikes else ""
            raise ValueError(f"RRAMSynapses: input='graded' reads the source variable "
                             f"variable={variable!r}, which the source {kind} does not have{hint}")
        if not b2.have_same_dimensions(source.variables[variable].dim, 1):
            raise ValueError(f"RRAMSynapses: the graded source variable {variable!r} must be "
                             f"dimensionless (a pulse in {{-1, 0, 1}} per cycle; got unit "
                             f"{source.variables[variable].unit})")
    return input


def _check_capacity(target: NeuRRAMNeurons, n_rows: int, cls: str, arg: str) -> None:
    """A line (a column of one core) holds at most MAX_ROW_PAIRS synapses in total."""
    held = int(target.line_rows)
    if held + n_rows > MAX_ROW_PAIRS:
        already = (f", and the neurons {target.name!r} already hold {held} from other synapses"
                   if held else "")
        raise CapacityError(
            f"{cls}: {arg} puts {n_rows} row pairs on every line of the target{already}; a line "
            f"(one column of a core) holds at most {MAX_ROW_PAIRS} row pairs "
            f"(snn_neurram.brian.MAX_ROW_PAIRS). For more inputs, compile the network "
            f"(snn_neurram.compile) and run it with snn_neurram.brian.run_snn_brian, which spreads "
            f"rows over cores and adds their partial sums digitally, or split {arg} into groups of "
            f"at most {MAX_ROW_PAIRS} feeding separate NeuRRAMNeurons")


class RRAMSynapses(b2.Synapses):
    """All-to-all RRAM synapses from ``source`` to a :class:`NeuRRAMNeurons` ``target``.

    Each synapse is one differential pair of cells (G+, G-) on the target neuron's line. The
    line settles at the conductance-weighted average of its cells' pulses,
    V = V_read sum_i u_i (G+_i - G-_i) / sum_r G_r, the load sum_r G_r running over every cell
    on the line: the cells of every synapse onto the target, pulsed or not, from every pathway.

    Parameters
    ----------
    source : brian2 group
        Rows: ``PoissonGroup``, ``SpikeGeneratorGroup``, ``NeuronGroup`` or
        :class:`NeuRRAMNeurons`. At most :data:`~snn_neurram.brian.MAX_ROW_PAIRS` (128) neurons
        per copy, counted with every other synapse onto the same target.
    target : NeuRRAMNeurons
        Columns: one line per neuron (a plain ``NeuronGroup`` is refused with a ``TypeError``).
    W : array_like (len(source), len(target)), optional
        Weights, dimensionless. Mapped to conductances relative to ``w_max`` (by default the
        ``percentile``-th percentile of abs(W)), so only the shape of W matters, not its scale;
        then programmed through ``device`` (write-verify, relaxation to ``read_time``, faults,
        variation), drawn from ``seed``.
    conductances : tuple of arrays, optional
        (G+, G-) in siemens instead of W, used as they are.
    device : RRAMDevice, optional
        Device physics (default ``RRAMDevice()``, every non-ideality on). Its read noise
        (``read_noise``, ``read_noise_sigma``) applies to every read, and sets the target's: the
        read noise is given here only.
    seed : int, optional
        Seed of the programming draws (faults, variation, write-verify, relaxation). The read
        noise during a run is Brian2's: seed it with ``brian2.seed``.
    read_time : float or brian2 time
        Time since programming at which the cells are read, s (default one day).
    scheme : {"sign", "offset"}
        Weight-to-conductance mapping (:mod:`snn_neurram.physics.mapping`).
    percentile : float
        Percentile of abs(W) that maps to the full conductance window, in (0, 100].
    w_max : float, optional
        Weight mapped to the full window, instead of the percentile: fix it to make the scale of
        W matter (weights above it are clipped).
    input : {"graded", "spikes"}, optional
        Unset: inferred from the source (spiking groups and ``lif`` NeuRRAMNeurons give
        ``"spikes"``; groups with ``variable`` and no threshold, and NeuRRAMNeurons in ANN modes,
        give ``"graded"``).
    variable : str, optional
        Source variable read by graded inputs, a dimensionless pulse per cycle (default ``"y"``).
    copies : int
        Independent copies of the whole connection: source and target hold ``copies`` blocks
        of neurons (e.g. one per input of a batch), copy k connecting source block k to target
        block k with the same conductances.
    name : str
    **kwargs
        Passed to ``brian2.Synapses``.

    Raises
    ------
    TypeError
        ``target`` is not NeuRRAMNeurons, ``source`` not a Brian2 group.
    CapacityError
        More than 128 row pairs on the target's lines.
    ValueError
        Shapes, ``input`` / ``variable`` that the source cannot give, or a device whose read
        noise disagrees with the target's.
    """

    def __init__(self, source: Any, target: NeuRRAMNeurons, W: ArrayLike | None = None, *,
                 conductances: tuple[ArrayLike, ArrayLike] | None = None,
                 device: RRAMDevice | None = None, seed: int | None = None,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 w_max: float | None = None, input: str | None = None,
                 variable: str | None = None, copies: int = 1, name: str = "rramsynapses*",
                 **kwargs: Any):
        _check_neurons(target, "target", "RRAMSynapses")
        variable = "y" if variable is None else variable
        input = _infer_input(source, input, variable)
        self.device = _check_device(device)
        copies = check_int(copies, "copies", 1, 10**7)
        if len(source) % copies or len(target) % copies:
            raise ValueError(f"copies={copies} must divide the source ({len(source)}) and target "
                             f"({len(target)}) sizes")
        shape = (len(source) // copies, len(target) // copies)
        _check_capacity(target, shape[0], "RRAMSynapses", "source")
        sigma = target.check_read_noise(_device_sigma(self.device),
                                        "the device of these RRAMSynapses")
        gp, gm, w_max = _pairs(W, conductances, self.device, seed, read_time, scheme, percentile,
                               shape, "source x target" + (" per copy" if copies > 1 else ""),
                               w_max)
        noisy = sigma > 0
        model = "Gp : siemens (constant)\nGm : siemens (constant)\n"
        on_pre = None
        u = f"{variable}_pre"
        if input == "graded":
            model += f"num_post = {u} * (Gp - Gm) : siemens (summed)\n"
            if noisy:
                model += (f"nvar_post = {u}**2 * (Gp**2 + Gm**2) : siemens**2 (summed)\n"
                          f"ncov_post = {u} * (Gp**2 - Gm**2) : siemens**2 (summed)\n")
        else:
            on_pre = "num_spk_post += Gp - Gm"
            if noisy:
                on_pre += ("\nnvar_spk_post += Gp**2 + Gm**2"
                           "\nncov_spk_post += Gp**2 - Gm**2")
        super().__init__(source, target, model, on_pre=on_pre, name=name, **kwargs)
        for attr in ("w_max", "input_kind"):
            self.add_attribute(attr)
        self.w_max = w_max
        self.input_kind = input
        _connect_dense(self, *shape, copies)
        self.Gp = np.tile(gp.ravel(), copies) * b2.siemens
        self.Gm = np.tile(gm.ravel(), copies) * b2.siemens
        target.use_read_noise(sigma)
        target.add_idle_load(np.tile((gp + gm).sum(axis=0), copies),
                             np.tile((gp ** 2 + gm ** 2).sum(axis=0), copies))
        target.line_rows = int(target.line_rows) + shape[0]


class TransposableSynapses(b2.Synapses):
    """One array of conductance pairs with a forward and a backward pathway (the TNSA).

    Forward: rows (``rows[i].y``) drive the columns: each column neuron receives
    V_read sum_i y_i (G+_ij - G-_ij) / (its line load). Backward: columns (``cols[j].y``) drive the
    rows: row neuron i receives V_read (sum_j y_j G+_ij / S+_i - sum_j y_j G-_ij / S-_i), the two
    rows of its pair read apart. Both read exactly the same ``Gp``/``Gm`` arrays, each with fresh
    read noise. One array is one core: at most 128 row pairs and 256 columns.

    Parameters
    ----------
    rows : NeuRRAMNeurons
        Built with ``backward=True``; at most :data:`~snn_neurram.brian.MAX_ROW_PAIRS` (128).
    cols : NeuRRAMNeurons
        At most :data:`~snn_neurram.brian.MAX_COLUMNS` (256).
    W, conductances, device, seed, read_time, scheme, percentile, w_max
        As for :class:`RRAMSynapses` (the device's read noise sets both groups').
    order : {"forward_first", "backward_first"}
        Order of the two pathways within one step: with ``forward_first`` a step settles the
        columns from the rows, updates the column neurons, then settles the rows from the new
        column outputs and updates the row neurons (alternating Gibbs sampling in one step).
    """

    def __init__(self, rows: NeuRRAMNeurons, cols: NeuRRAMNeurons, W: ArrayLike | None = None,
                 *, conductances: tuple[ArrayLike, ArrayLike] | None = None,
                 device: RRAMDevice | None = None, seed: int | None = None,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 w_max: float | None = None, order: str = "forward_first",
                 name: str = "transposable*", **kwargs: Any):
        check_choice(order, "order", ("forward_first", "backward_first"))
        _check_neurons(rows, "rows", "TransposableSynapses", backward=True)
        _check_neurons(cols, "cols", "TransposableSynapses")
        if not rows.backward:
            raise ValueError("rows must be NeuRRAMNeurons(..., backward=True) to receive the "
                             "backward pathway")
        self.device = _check_device(device)
        shape = (len(rows), len(cols))
        _check_capacity(cols, shape[0], "TransposableSynapses", "rows")
        if int(rows.line_cols) + shape[1] > MAX_COLUMNS:
            raise CapacityError(
                f"TransposableSynapses: cols puts {shape[1]} columns on every row pair of rows"
                + (f" (which already hold {int(rows.line_cols)})" if int(rows.line_cols) else "")
                + f"; a row pair spans at most {MAX_COLUMNS} columns of one core "
                f"(snn_neurram.brian.MAX_COLUMNS)")
        source = "the device of these TransposableSynapses"
        sigma = rows.check_read_noise(_device_sigma(self.device), source)
        cols.check_read_noise(sigma, source)
        gp, gm, w_max = _pairs(W, conductances, self.device, seed, read_time, scheme, percentile,
                               shape, "rows x cols", w_max)
        noisy = sigma > 0
        model = """Gp : siemens (constant)
Gm : siemens (constant)
num_post = y_pre * (Gp - Gm) : siemens (summed)
bnum_p_pre = y_post * Gp : siemens (summed)
bnum_m_pre = y_post * Gm : siemens (summed)
"""
        if noisy:
            model += """nvar_post = y_pre**2 * (Gp**2 + Gm**2) : siemens**2 (summed)
ncov_post = y_pre * (Gp**2 - Gm**2) : siemens**2 (summed)
bnvar_p_pre = y_post**2 * Gp**2 : siemens**2 (summed)
bncov_p_pre = y_post * Gp**2 : siemens**2 (summed)
bnvar_m_pre = y_post**2 * Gm**2 : siemens**2 (summed)
bncov_m_pre = y_post * Gm**2 : siemens**2 (summed)
"""
        super().__init__(rows, cols, model, name=name, **kwargs)
        for attr in ("w_max", "order_name"):
            self.add_attribute(attr)
        self.w_max = w_max
        _connect_dense(self, *shape)
        self.Gp = gp.ravel() * b2.siemens
        self.Gm = gm.ravel() * b2.siemens
        rows.use_read_noise(sigma)
        cols.use_read_noise(sigma)
        cols.add_idle_load((gp + gm).sum(axis=0), (gp ** 2 + gm ** 2).sum(axis=0))
        rows.add_idle_load(gp.sum(axis=1), (gp ** 2).sum(axis=1), line="_p")
        rows.add_idle_load(gm.sum(axis=1), (gm ** 2).sum(axis=1), line="_m")
        cols.line_rows = int(cols.line_rows) + shape[0]
        rows.line_cols = int(rows.line_cols) + shape[1]
        # order of the two pathways inside a step (all in the 'groups' slot)
        f_sum, f_upd, b_sum, b_upd = -16, -15, -12, -11
        if order == "backward_first":
            b_sum, b_upd, f_sum, f_upd = -16, -15, -12, -11
        for var, upd in self.summed_updaters.items():
            upd.order = f_sum if var.endswith("_post") else b_sum
        cols.set_order(f_upd)
        rows.set_order(b_upd)
        self.order_name = order
