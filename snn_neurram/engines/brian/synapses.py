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
"""

from __future__ import annotations

from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import as_finite_array, check_choice, check_int, check_range
from ..._seeds import check_seed
from ...physics.device import RRAMDevice
from ...physics.mapping import SCHEMES, to_conductances
from .neurons import NeuRRAMNeurons

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


def _pairs(W, conductances, device, seed, read_time, scheme, percentile, shape, sides):
    """(G+, G-, w_max) of the synapses: given conductances, or W programmed through ``device``;
    checked against ``shape`` = (pre, post) sizes, named ``sides`` in the error."""
    gp, gm, w_max = _pairs_of(W, conductances, device, seed, read_time, scheme, percentile)
    if gp.shape != shape:
        raise ValueError(f"W / conductances have shape {gp.shape}; {sides} is {shape}")
    return gp, gm, w_max


def _pairs_of(W, conductances, device, seed, read_time, scheme, percentile):
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
    return program_pairs(W, device, seed, read_time, scheme, percentile)


def _connect_dense(syn, n_pre, n_post, copies=1):
    """All-to-all from n_pre to n_post, in ``copies`` independent copies (block diagonal)."""
    ii = np.repeat(np.arange(n_pre), n_post)
    jj = np.tile(np.arange(n_post), n_pre)
    offs = np.arange(copies)
    syn.connect(i=(offs[:, None] * n_pre + ii).ravel(), j=(offs[:, None] * n_post + jj).ravel())


class RRAMSynapses(b2.Synapses):
    """All-to-all RRAM synapses from ``source`` to a :class:`NeuRRAMNeurons` ``target``.

    Parameters
    ----------
    source : brian2 group
        Rows. For ``input="graded"`` it must have the variable ``variable`` (the pulse of each row
        in the current cycle, in {-1, 0, 1} on the chip); for ``"spikes"`` it must spike.
    target : NeuRRAMNeurons
        Columns.
    W : array_like (len(source), len(target)), optional
        Weights, programmed through ``device`` (write-verify, relaxation to ``read_time``, faults,
        variation), drawn from ``seed``.
    conductances : tuple of arrays, optional
        (G+, G-) in siemens instead of W, used as they are.
    device : RRAMDevice, optional
        Device physics; its read noise applies to every read.
    input : {"graded", "spikes"}
    variable : str
        Name of the source variable read by graded inputs.
    copies : int
        Independent copies of the whole connection: source and target hold ``copies`` blocks
        of neurons (e.g. one per input of a batch), copy k connecting source block k to target
        block k with the same conductances.
    """

    def __init__(self, source: Any, target: NeuRRAMNeurons, W: ArrayLike | None = None, *,
                 conductances: tuple[ArrayLike, ArrayLike] | None = None,
                 device: RRAMDevice | None = None, seed: int | None = None,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 input: str = "graded", variable: str = "y", copies: int = 1,
                 name: str = "rramsynapses*", **kwargs: Any):
        check_choice(input, "input", ("graded", "spikes"))
        self.device = RRAMDevice() if device is None else device
        copies = check_int(copies, "copies", 1, 10**7)
        if len(source) % copies or len(target) % copies:
            raise ValueError(f"copies={copies} must divide the source ({len(source)}) and target "
                             f"({len(target)}) sizes")
        shape = (len(source) // copies, len(target) // copies)
        gp, gm, w_max = _pairs(W, conductances, self.device, seed, read_time, scheme, percentile,
                               shape, "source x target" + (" per copy" if copies > 1 else ""))
        noisy = self.device.read_noise and self.device.read_noise_sigma > 0
        _check_noise(target, self.device)
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
        target.add_idle_load(np.tile((gp + gm).sum(axis=0), copies),
                             np.tile((gp ** 2 + gm ** 2).sum(axis=0), copies))


def _check_noise(group, device):
    """The neurons' read noise must be the synapses' device's."""
    sigma = device.read_noise_sigma if device.read_noise else 0.0
    if abs(float(group.sigma_read[:]) - sigma) > 1e-12:
        raise ValueError(f"the target neurons have read_noise={float(group.sigma_read[:]):g} but the "
                         f"synapses' device reads with {sigma:g}; build the neurons with "
                         f"read_noise=device.read_noise_sigma (or 0 when read noise is off)")


class TransposableSynapses(b2.Synapses):
    """One array of conductance pairs with a forward and a backward pathway (the TNSA).

    Forward: rows (``rows[i].y``) drive the columns: each column neuron receives
    V_read sum_i y_i (G+_ij - G-_ij) / (its line load). Backward: columns (``cols[j].y``) drive the
    rows: row neuron i receives V_read (sum_j y_j G+_ij / S+_i - sum_j y_j G-_ij / S-_i), the two
    rows of its pair read apart. Both read exactly the same ``Gp``/``Gm`` arrays, each with fresh
    read noise.

    Parameters
    ----------
    rows, cols : NeuRRAMNeurons
    W, conductances, device, seed, read_time, scheme, percentile
        As for :class:`RRAMSynapses`.
    order : {"forward_first", "backward_first"}
        Order of the two pathways within one step: with ``forward_first`` a step settles the
        columns from the rows, updates the column neurons, then settles the rows from the new
        column outputs and updates the row neurons (alternating Gibbs sampling in one step).
    """

    def __init__(self, rows: NeuRRAMNeurons, cols: NeuRRAMNeurons, W: ArrayLike | None = None,
                 *, conductances: tuple[ArrayLike, ArrayLike] | None = None,
                 device: RRAMDevice | None = None, seed: int | None = None,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 order: str = "forward_first", name: str = "transposable*", **kwargs: Any):
        check_choice(order, "order", ("forward_first", "backward_first"))
        self.device = RRAMDevice() if device is None else device
        shape = (len(rows), len(cols))
        gp, gm, w_max = _pairs(W, conductances, self.device, seed, read_time, scheme, percentile,
                               shape, "rows x cols")
        if not rows.backward:
            raise ValueError("rows must be NeuRRAMNeurons(..., backward=True) to receive the "
                             "backward pathway")
        noisy = self.device.read_noise and self.device.read_noise_sigma > 0
        _check_noise(rows, self.device)
        _check_noise(cols, self.device)
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
        cols.add_idle_load((gp + gm).sum(axis=0), (gp ** 2 + gm ** 2).sum(axis=0))
        rows.add_idle_load(gp.sum(axis=1), (gp ** 2).sum(axis=1), line="_p")
        rows.add_idle_load(gm.sum(axis=1), (gm ** 2).sum(axis=1), line="_m")
        # order of the two pathways inside a step (all in the 'groups' slot)
        f_sum, f_upd, b_sum, b_upd = -16, -15, -12, -11
        if order == "backward_first":
            b_sum, b_upd, f_sum, f_upd = -16, -15, -12, -11
        for var, upd in self.summed_updaters.items():
            upd.order = f_sum if var.endswith("_post") else b_sum
        cols.set_order(f_upd)
        rows.set_order(b_upd)
        self.order_name = order
