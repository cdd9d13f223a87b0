"""An RBM on one core as Brian2 objects: Gibbs sampling with :class:`TransposableSynapses`.

The rows group holds the visible units (3-bit sigmoid readout), the hidden-bias rows (held at 1)
and the hidden noise rows (a fresh pseudo-random code every cycle); the columns group holds the
hidden units (comparators), the visible-bias columns (held at 1) and the noise and balance
columns (held at 0 in the mean-field readout). One Brian2 step is one Gibbs sweep: the forward
sums settle the columns from the rows, the hidden units decide, the backward sums settle the rows
from the new hidden states, the visible units read out -- the batch sampler's order.

Several chains run as independent copies of these groups and synapses in one network (one copy
of the core per chain, the same conductances): their read noise and noise codes are separate
draws, so the chains are independent.
"""

from __future__ import annotations

import warnings
from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import as_finite_array, check_int

from .neurons import CycleTimeWarning, NeuRRAMNeurons
from .synapses import TransposableSynapses

__all__ = ["rbm_sampler"]


def _chain_rows(x: ArrayLike | None, name: str, chains: int, n: int,
                lo: float, hi: float) -> np.ndarray | None:
    """A per-chain array (chains, n) from one row (n,) or one per chain (chains, n)."""
    if x is None:
        return None
    arr = as_finite_array(x, name)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (chains, len(arr)))
    if arr.shape != (chains, n):
        raise ValueError(f"{name} must have shape ({n},) or ({chains}, {n}) (got {arr.shape})")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must hold values in [{lo:g}, {hi:g}]")
    return arr


def rbm_sampler(chip_rbm: Any, v0: ArrayLike, sweeps: int,
                known_mask: ArrayLike | None = None, *, chains: int | None = None,
                seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``sweeps`` Gibbs sweeps of a one-core :class:`snn_neurram.rbm.ChipRBM` in Brian2.

    Parameters
    ----------
    chip_rbm : ChipRBM
        An RBM programmed on one core with a multi-bit visible readout.
    v0 : array_like (n_visible,) or (chains, n_visible)
        Starting visible states in [0, 1]: one for every chain, or one per chain.
    sweeps : int
        Gibbs sweeps (Brian2 time steps), 1 .. 10**7.
    known_mask : array_like of bool (n_visible,) or (chains, n_visible), optional
        Visible units clamped to their starting values.
    chains : int, optional
        Independent chains, run as copies of the network in one Brian2 network (1 .. 10**4).
        Default: 1 for a 1-D ``v0``, ``len(v0)`` for a 2-D one.
    seed : int, optional
        Seed of Brian2's random numbers (``brian2.seed``: the read noise and the noise codes of
        every chain), in [0, 2**32 - 1]; None draws fresh entropy.

    Returns
    -------
    hidden, visible : ndarray
        Hidden states (0 / 1) and visible readouts after every sweep: (sweeps, n_hidden) and
        (sweeps, n_visible) for a 1-D ``v0`` without ``chains``, else (chains, sweeps,
        n_hidden) and (chains, sweeps, n_visible).
    """
    if len(chip_rbm.segments) != 1 or not chip_rbm.visible_bits:
        raise ValueError("the Brian2 RBM sampler runs an RBM on one core with a multi-bit "
                         "visible readout")
    sweeps = check_int(sweeps, "sweeps", 1, 10**7)
    n_v, n_h = chip_rbm.n_visible, chip_rbm.n_hidden
    v0_arr = as_finite_array(v0, "v0")
    if v0_arr.ndim not in (1, 2):
        raise ValueError(f"v0 must have shape ({n_v},) or (chains, {n_v}) (got {v0_arr.shape})")
    single = v0_arr.ndim == 1 and chains is None
    if chains is None:
        chains = 1 if v0_arr.ndim == 1 else len(v0_arr)
    chains = check_int(chains, "chains", 1, 10**4)
    starts = _chain_rows(v0_arr, "v0", chains, n_v, 0.0, 1.0)
    assert starts is not None
    masks = _chain_rows(known_mask, "known_mask", chains, n_v, 0.0, 1.0)
    if seed is not None:
        seed = check_int(seed, "seed", 0, 2**32 - 1)
    core, r0, r1 = chip_rbm.segments[0]
    b = core.blocks[0]
    P, N = b.n_pairs, b.n_out
    dev = core.device
    sigma = dev.read_noise_sigma if dev.read_noise else 0.0
    cfg = b.neuron
    gp, gm = core.pair_rows(b)
    loads = core.idle_loads(0)
    units = cfg.adc_lsb / core.gain("backward", b)
    objects: list[Any] = []
    monitors = []
    for c in range(chains):
        tag = "" if c == 0 else f"_{c}"        # chain 0 keeps the names of the one-chain network
        rows = NeuRRAMNeurons(P, cfg, mode="sigmoid", out_bits=chip_rbm.visible_bits,
                              read_noise=sigma, backward=True, name="rbm_rows" + tag)
        cols = NeuRRAMNeurons(N, cfg, mode="binary", read_noise=sigma, name="rbm_cols" + tag)
        syn = TransposableSynapses(rows, cols, conductances=(gp[:, b.cols], gm[:, b.cols]),
                                   device=dev, name="rbm_syn" + tag)
        cols.add_core_loads(loads, "columns")
        rows.add_core_loads(loads, "rows")
        # rows: visible units, hidden-bias rows (held at 1), noise rows (pseudo-random codes)
        fixed = np.zeros(P, int)
        y0 = np.zeros(P)
        y0[:n_v] = starts[c]
        fixed[n_v:n_v + chip_rbm.k_hb] = 1
        y0[n_v:n_v + chip_rbm.k_hb] = 1.0
        lfsr = np.zeros(P, int)
        lfsr[n_v + chip_rbm.k_hb:] = 1
        if masks is not None:
            fixed[:n_v] = masks[c].astype(bool).astype(int)
        rows.fixed, rows.y_fixed, rows.y, rows.lfsr = fixed, y0, y0, lfsr
        rows.lfsr_levels = float(chip_rbm.L)
        rows.unit = np.concatenate([units, np.ones(P - len(units))])
        # columns: hidden units, visible-bias columns (held at 1), noise and balance (held at 0)
        cfixed = np.zeros(N, int)
        cfixed[n_h:] = 1
        cy = np.zeros(N)
        cy[n_h:n_h + chip_rbm.k_vb] = 1.0
        cols.fixed, cols.y_fixed, cols.y = cfixed, cy, cy
        hmon = b2.StateMonitor(cols, "y", record=np.arange(n_h), when="end", name="rbm_h" + tag)
        vmon = b2.StateMonitor(rows, "y", record=np.arange(n_v), when="end", name="rbm_v" + tag)
        objects += [rows, cols, syn, hmon, vmon]
        monitors.append((hmon, vmon))
    b2.seed(seed)
    with warnings.catch_warnings():      # one step is one Gibbs sweep here, whatever dt is
        warnings.simplefilter("ignore", CycleTimeWarning)
        b2.Network(*objects).run(sweeps * b2.defaultclock.dt, namespace={})
    hidden = np.stack([np.asarray(h.y).T for h, _ in monitors])
    visible = np.stack([np.asarray(v.y).T for _, v in monitors])
    return (hidden[0], visible[0]) if single else (hidden, visible)
