"""An RBM on one core as Brian2 objects: Gibbs sampling with :class:`TransposableSynapses`.

The rows group holds the visible units (3-bit sigmoid readout), the hidden-bias rows (held at 1)
and the hidden noise rows (a fresh pseudo-random code every cycle); the columns group holds the
hidden units (comparators), the visible-bias columns (held at 1) and the noise and balance
columns (held at 0 in the mean-field readout). One Brian2 step is one Gibbs sweep: the forward
sums settle the columns from the rows, the hidden units decide, the backward sums settle the rows
from the new hidden states, the visible units read out -- the batch sampler's order.
"""

from __future__ import annotations

from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from .neurons import NeuRRAMNeurons
from .synapses import TransposableSynapses

__all__ = ["rbm_sampler"]


def rbm_sampler(chip_rbm: Any, v0: ArrayLike, sweeps: int,
                known_mask: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``sweeps`` Gibbs sweeps of a one-core :class:`snn_neurram.rbm.ChipRBM` from visible
    state v0 (n_visible,); returns (hidden states (sweeps, n_hidden), visible (sweeps, n_v))."""
    if len(chip_rbm.segments) != 1 or not chip_rbm.visible_bits:
        raise ValueError("the Brian2 RBM sampler runs an RBM on one core with a multi-bit "
                         "visible readout")
    core, r0, r1 = chip_rbm.segments[0]
    b = core.blocks[0]
    rbm = chip_rbm.rbm
    n_v, n_h = rbm.n_visible, rbm.n_hidden
    P, N = b.n_pairs, b.n_out
    dev = core.device
    sigma = dev.read_noise_sigma if dev.read_noise else 0.0
    cfg = b.neuron
    rows = NeuRRAMNeurons(P, cfg, mode="sigmoid", out_bits=chip_rbm.visible_bits,
                          read_noise=sigma, backward=True, name="rbm_rows")
    cols = NeuRRAMNeurons(N, cfg, mode="binary", read_noise=sigma, name="rbm_cols")
    gp, gm = core.pair_rows(b)
    syn = TransposableSynapses(rows, cols, conductances=(gp[:, b.cols], gm[:, b.cols]),
                               device=dev, name="rbm_syn")
    loads = core.idle_loads(0)
    cols.add_core_loads(loads, "columns")
    rows.add_core_loads(loads, "rows")
    # rows: visible units, hidden-bias rows (held at 1), noise rows (pseudo-random codes)
    fixed = np.zeros(P, int)
    y0 = np.zeros(P)
    y0[:n_v] = v0
    fixed[n_v:n_v + chip_rbm.k_hb] = 1
    y0[n_v:n_v + chip_rbm.k_hb] = 1.0
    lfsr = np.zeros(P, int)
    lfsr[n_v + chip_rbm.k_hb:] = 1
    if known_mask is not None:
        fixed[:n_v] = np.asarray(known_mask, int)
    rows.fixed, rows.y_fixed, rows.y, rows.lfsr = fixed, y0, y0, lfsr
    rows.lfsr_levels = float(chip_rbm.L)
    units = cfg.adc_lsb / core.gain("backward", b)
    rows.unit = np.concatenate([units, np.ones(P - len(units))])
    # columns: hidden units, visible-bias columns (held at 1), noise and balance (held at 0)
    cfixed = np.zeros(N, int)
    cfixed[n_h:] = 1
    cy = np.zeros(N)
    cy[n_h:n_h + chip_rbm.k_vb] = 1.0
    cols.fixed, cols.y_fixed, cols.y = cfixed, cy, cy
    hmon = b2.StateMonitor(cols, "y", record=np.arange(n_h), when="end", name="rbm_h")
    vmon = b2.StateMonitor(rows, "y", record=np.arange(n_v), when="end", name="rbm_v")
    b2.Network(rows, cols, syn, hmon, vmon).run(sweeps * b2.defaultclock.dt)
    return np.asarray(hmon.y).T, np.asarray(vmon.y).T
