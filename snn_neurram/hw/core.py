"""One NeuRRAM core: a 256 x 256 transposable RRAM array (TNSA) with its 256 neurons.

Layout. Row pair p (rows 2p and 2p + 1) holds (G+, G-) of one input; column j is one output. A
core holds one or more *blocks* (weight matrices, "mappings"), each on its own rectangle of row
pairs x columns; a block takes up to 128 differential inputs, bias rows included, and up to 256
outputs. Cells that hold no weight rest at g_min and still load the lines they sit on, whichever
block they belong to.

Forward MVM of a block (inputs on its rows, outputs on its columns). In each cycle the rows of
pair p are driven to V_ref +- x_p V_read (x_p in {-1, 0, 1}); every other row of the core stays at
V_ref, and source line j settles at

    V_SL,j - V_ref = V_read * sum_p x_p (G+_pj - G-_pj) / sum_r G_rj,

the denominator running over all 256 rows. The neuron integrates ``c_ratio`` times this per cycle,
bit-serially (see :mod:`snn_neurram.neuron`), then converts with its ADC.

Backward MVM (inputs on the block's columns, outputs on its row pairs). Column j is driven to
V_ref + y_j V_read (the others stay at V_ref or carry alternating padding pulses), each row r
settles at V_read * sum_j y_j G_rj / sum_j G_rj (all 256 columns), and the neuron of pair p reads
the difference of its two rows:

    V_p = V_read * sum_j y_j (G+_pj / S+_p - G-_pj / S-_p).

Read noise. ``noise_model="output"`` (default, the fast path) adds to each integrated output a
noise of the variance that per-cell relative read noise implies to first order in sigma (see
:meth:`Core._integrate_fast`). ``noise_model="device"`` is the reference: every cycle reads every
cell afresh and settles the lines exactly; the integrator saturates cycle by cycle there, at the
end in the fast path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..physics import kernels
from .._checks import (as_finite_array, check_choice, check_int, check_range,
                       check_real_array)
from .._seeds import check_seed, derive_rng
from ..physics.device import FAULT_NONE, RRAMDevice
from ..errors import CapacityError
from ..physics.mapping import (SCHEMES, MappedWeights, conductance_pair, from_conductances,
                               to_conductances)
from ..physics.neuron import (ACTIVATIONS, V_READ_MAX, NeuronConfig, activate, adc_levels,
                              bit_planes, cycle_coefficients, phase_codes, phases)

__all__ = ["Core", "Block", "LineLoads"]

_MODES = {"linear": kernels.MODE_SIGNED, "relu": kernels.MODE_RELU}
_NOISE_MODELS = ("output", "device")


class _PhaseInputs(NamedTuple):
    """What the integration of one phase needs (see :meth:`Core._phases`)."""

    shift: int
    bits: int
    config: NeuronConfig
    weight: float
    q: np.ndarray
    u: np.ndarray
    r: np.ndarray
    rs: np.ndarray
    fu: float
    fr: float
    s1: float
    s2: float


@dataclass(eq=False)
class Block:
    """One weight matrix placed on a core.

    Attributes
    ----------
    mapping : MappedWeights
        Conductance targets, w_max, bias rows, x_max.
    row : int
        First row pair of the block.
    col : int
        First column of the block.
    neuron : NeuronConfig
        Neuron parameters used when this block runs (its operating point: V_read, multiplier).
    """

    mapping: MappedWeights
    row: int
    col: int
    neuron: NeuronConfig
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_pairs(self) -> int:
        """Row pairs of the block: inputs plus bias rows."""
        return self.mapping.g_plus.shape[0]

    @property
    def n_bias_rows(self) -> int:
        return self.mapping.n_bias_rows

    @property
    def n_in(self) -> int:
        return self.n_pairs - self.n_bias_rows

    @property
    def n_out(self) -> int:
        return self.mapping.g_plus.shape[1]

    @property
    def rows(self) -> slice:
        """Slice of the core's row pairs."""
        return slice(self.row, self.row + self.n_pairs)

    @property
    def cols(self) -> slice:
        """Slice of the core's columns."""
        return slice(self.col, self.col + self.n_out)


class LineLoads(NamedTuple):
    """Conductance of the cells on a block's lines that lie outside the block (S), and the sums
    of their squares (S^2): they load the lines although no input of the block drives them.

    ``columns``, ``columns_sq``: per output column, the cells of every other row of the core.
    ``rows_plus``, ``rows_plus_sq``, ``rows_minus``, ``rows_minus_sq``: per row pair of the
    block, the cells of its G+ and G- rows in every other column of the core.
    """

    columns: np.ndarray
    columns_sq: np.ndarray
    rows_plus: np.ndarray
    rows_plus_sq: np.ndarray
    rows_minus: np.ndarray
    rows_minus_sq: np.ndarray


class Core:
    """A simulated NeuRRAM core.

    Parameters
    ----------
    device : RRAMDevice, optional
        Device physics (default ``RRAMDevice()``: every non-ideality on with its default).
    neuron : NeuronConfig, optional
        Neuron parameters (default ``NeuronConfig()``); each block starts with these.
    seed : int or numpy.random.SeedSequence, optional
        Seeds every random draw of this core: its fault map and device variation, programming,
        relaxation and reads. The same seed and the same calls give bit-identical results.
    read_time : float
        Time between programming and use (s) at which relaxation and drift are evaluated.
        Default 86400 s (one day).
    scheme : {"sign", "offset"}
        Differential mapping scheme (see :mod:`snn_neurram.mapping`).
    percentile : float
        Percentile of |W| mapped to the full conductance window (default 95).
    precision : {"single", "double"}
        Floating-point precision of the batch MVMs (single is twice as fast).

    Notes
    -----
    Methods that act on one mapped matrix take ``block`` (default 0); the properties ``n_in``,
    ``n_out``, ``mapping`` and ``neuron`` refer to block 0.
    """

    N_ROWS = 256
    N_COLS = 256
    MAX_INPUTS = N_ROWS // 2

    def __init__(self, device: RRAMDevice | None = None, neuron: NeuronConfig | None = None,
                 seed: int | np.random.SeedSequence | None = None, *,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 precision: str = "single") -> None:
        self.device = RRAMDevice() if device is None else device
        neuron = NeuronConfig() if neuron is None else neuron
        if not isinstance(self.device, RRAMDevice):
            raise ValueError(f"device must be an RRAMDevice (got {type(self.device).__name__})")
        if not isinstance(neuron, NeuronConfig):
            raise ValueError(f"neuron must be a NeuronConfig (got {type(neuron).__name__})")
        self.default_neuron = neuron
        self.read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True,
                                     unit="second")
        self.scheme = check_choice(scheme, "scheme", SCHEMES)
        self.percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
        check_choice(precision, "precision", ("single", "double"))
        self.dtype = np.float32 if precision == "single" else np.float64
        self.seed_sequence = (seed if isinstance(seed, np.random.SeedSequence)
                              else np.random.SeedSequence(check_seed(seed)))
        s_fault, s_resp, s_drift, s_prog, s_read = self.seed_sequence.spawn(5)
        shape = (self.N_ROWS, self.N_COLS)
        dev = self.device
        self.faults = dev.sample_faults(shape, np.random.default_rng(s_fault))
        self.response = dev.sample_response(shape, np.random.default_rng(s_resp))
        self.drift_nu = dev.sample_drift_nu(shape, np.random.default_rng(s_drift))
        self._prog_rng = np.random.default_rng(s_prog)
        self.rng = np.random.default_rng(s_read)
        blank = dev.apply_faults(np.full(shape, dev.g_min), self.faults)
        self.targets = np.full(shape, dev.g_min)
        self.G_programmed = blank
        self.G = blank.copy()
        self.pulses = np.zeros(shape, dtype=np.int32)
        self.converged = np.ones(shape, bool)
        self.blocks: list[Block] = []
        self._z = np.zeros(shape)

    def __repr__(self) -> str:
        blocks = ", ".join(f"{b.n_in}x{b.n_out} at row pair {b.row}, column {b.col}"
                           for b in self.blocks)
        return (f"Core({len(self.blocks)} block{'s' if len(self.blocks) != 1 else ''}"
                + (f": {blocks}" if blocks else "") + f", read_time={self.read_time:g} s)")

    # ------------------------------------------------------------------ block-0 shortcuts
    @property
    def programmed(self) -> bool:
        """True once :meth:`program` or :meth:`program_blocks` has run."""
        return bool(self.blocks)

    def get_block(self, block: int = 0) -> Block:
        if not self.blocks:
            raise RuntimeError("the core is not programmed yet: call program(W) first")
        if not isinstance(block, (int, np.integer)) or not 0 <= block < len(self.blocks):
            raise ValueError(f"block must be an integer in [0, {len(self.blocks) - 1}] "
                             f"(got {block!r})")
        return self.blocks[block]

    mapping = property(lambda self: self.blocks[0].mapping if self.blocks else None,
                       doc="Mapping of block 0.")
    n_in = property(lambda self: self.blocks[0].n_in if self.blocks else 0,
                    doc="Weight inputs of block 0 (row pairs without the bias rows).")
    n_bias_rows = property(lambda self: self.blocks[0].n_bias_rows if self.blocks else 0,
                           doc="Bias row pairs of block 0.")
    n_out = property(lambda self: self.blocks[0].n_out if self.blocks else 0,
                     doc="Outputs (columns) of block 0.")
    n_pairs = property(lambda self: self.blocks[0].n_pairs if self.blocks else 0,
                       doc="Row pairs of block 0: inputs plus bias rows.")

    @property
    def neuron(self) -> NeuronConfig:
        """Neuron parameters of block 0 (the core's default before programming)."""
        return self.blocks[0].neuron if self.blocks else self.default_neuron

    @neuron.setter
    def neuron(self, config: NeuronConfig) -> None:
        if not isinstance(config, NeuronConfig):
            raise ValueError(f"neuron must be a NeuronConfig (got {type(config).__name__})")
        if self.blocks:
            self.blocks[0].neuron = config
        else:
            self.default_neuron = config

    # ------------------------------------------------------------------ programming
    def program(self, W: ArrayLike, bias: ArrayLike | None = None, *, x_max: float = 1.0,
                w_max: float | None = None, bias_rows: int | None = None,
                read_time: float | None = None) -> Core:
        """Program one weight matrix (and bias) at the core's origin, by write-verify, then
        let it relax.

        Parameters
        ----------
        W : array_like (n_in, n_out)
            Weights: output j = sum_i x_i W[i, j] + bias[j]. n_in plus the bias rows must not
            exceed 128, n_out must not exceed 256.
        bias : array_like (n_out,), optional
        x_max : float
            Input value that drives a row at full scale; inputs are expected in [-x_max, x_max].
        w_max : float, optional
            Weight mapped to the full conductance window (default: the core's percentile of |W|).
        bias_rows : int, optional
            Number of bias row pairs (default: the fewest that hold the bias without clipping).
        read_time : float, optional
            Time after programming (s) at which the core is used; default the core's read_time.

        Returns
        -------
        Core
            self, programmed.
        """
        self.program_blocks([dict(W=W, bias=bias, x_max=x_max, w_max=w_max,
                                  bias_rows=bias_rows)], read_time=read_time)
        return self

    def program_blocks(self, specs: list[dict[str, Any]],
                       read_time: float | None = None) -> list[int]:
        """Program several weight matrices into one array in a single write-verify pass.

        Parameters
        ----------
        specs : list of dict
            One dict per block with ``W`` and optional ``bias``, ``row`` (first row pair, default
            0), ``col`` (first column, default 0), ``x_max``, ``w_max``, ``bias_rows`` and
            ``neuron`` (a NeuronConfig for this block). Blocks must not overlap.
        read_time : float, optional
            Time after programming (s) at which the core is used.

        Returns
        -------
        list of int
            Block indices, in the order of ``specs``.
        """
        dev = self.device
        if read_time is not None:
            read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True,
                                    unit="second")
        if not isinstance(specs, (list, tuple)) or not specs:
            raise ValueError("specs must be a non-empty list of dicts, one per block")
        taken = np.zeros((self.MAX_INPUTS, self.N_COLS), bool)
        blocks = []
        for k, spec in enumerate(specs):
            name = "W" if len(specs) == 1 else f"specs[{k}]['W']"
            W = as_finite_array(spec["W"], name, ndim=2, shape=(None, None))
            n_in, n_out = W.shape
            row, col = int(spec.get("row", 0)), int(spec.get("col", 0))
            if n_out > self.N_COLS - col:
                raise CapacityError(f"W has {n_out} outputs (columns) from column {col}; a core "
                                    f"has {self.N_COLS}")
            if n_in > self.MAX_INPUTS - row:
                raise CapacityError(f"W has {n_in} inputs from row pair {row}; a core holds at "
                                    f"most {self.MAX_INPUTS} differential input pairs (bias rows "
                                    "included)")
            mapped = to_conductances(W, spec.get("bias"), g_min=dev.g_min, g_max=dev.g_max,
                                     scheme=self.scheme, w_max=spec.get("w_max"),
                                     percentile=self.percentile, x_max=spec.get("x_max", 1.0),
                                     bias_rows=spec.get("bias_rows"))
            n_pairs = mapped.g_plus.shape[0]
            if n_pairs > self.MAX_INPUTS - row:
                raise CapacityError(f"W has {n_in} inputs and its bias needs "
                                    f"{mapped.n_bias_rows} bias row pairs: {n_pairs} > "
                                    f"{self.MAX_INPUTS - row} pairs left from row pair {row}")
            if taken[row:row + n_pairs, col:col + n_out].any():
                raise ValueError(f"block {k} overlaps an earlier block on the core")
            taken[row:row + n_pairs, col:col + n_out] = True
            neuron = spec.get("neuron") or self.default_neuron
            blocks.append(Block(mapped, row, col, neuron))
        targets = self.block_targets(blocks)
        result = dev.program(targets, self._prog_rng, faults=self.faults, response=self.response)
        self.targets = targets
        self.G_programmed = result.conductance
        self.pulses = result.pulses
        self.converged = result.converged
        self.blocks = blocks
        self._z = self._prog_rng.standard_normal(targets.shape)
        self.age(self.read_time if read_time is None else read_time)
        return list(range(len(blocks)))

    def reprogram_block(self, block: int, W: ArrayLike, bias: ArrayLike | None = None, *,
                        w_max: float | None = None, x_max: float | None = None) -> Core:
        """Write new weights into one block's cells by write-verify, leaving every other cell of
        the array as it is (a chip re-programs only the cells it addresses).

        The block keeps its place and bias rows, and its w_max and x_max unless new ones are
        given. The new cells relax from now; the core is then read ``read_time`` after
        programming, like the rest of the array.

        Parameters
        ----------
        block : int
        W : array_like (n_in, n_out)
            The block's shape.
        bias : array_like (n_out,), optional
            Required when the block has bias rows.
        w_max, x_max : float, optional
        """
        b = self.get_block(block)
        W = as_finite_array(W, "W", ndim=2, shape=(b.n_in, b.n_out))
        if (bias is None) != (b.n_bias_rows == 0):
            raise ValueError(f"bias must be given exactly when the block has bias rows "
                             f"(it has {b.n_bias_rows})")
        m = b.mapping
        b.mapping = to_conductances(W, bias, g_min=self.device.g_min, g_max=self.device.g_max,
                                    scheme=self.scheme, w_max=w_max or m.w_max,
                                    x_max=x_max or m.x_max, bias_rows=m.n_bias_rows or None)
        self._rewrite((slice(2 * b.row, 2 * (b.row + b.n_pairs)), b.cols), self._prog_rng)
        return self

    def reprogram_bias(self, block: int, bias: ArrayLike,
                       rng: np.random.Generator | None = None) -> Core:
        """Write a new bias into one block's bias rows only, by write-verify; every other cell
        (the block's weights included) stays as it is.

        The block keeps its number of bias rows, w_max and x_max: a bias beyond what they hold
        (k rows x w_max x x_max) is clipped there. ``rng`` drives the write-verify draws of
        these cells (default: the core's programming stream).
        """
        b = self.get_block(block)
        if b.n_bias_rows == 0:
            raise ValueError(f"block {block} has no bias rows")
        bias = as_finite_array(bias, "bias", ndim=1, shape=(b.n_out,))
        m = b.mapping
        k = b.n_bias_rows
        wb = np.clip(bias / (k * m.x_max), -m.w_max, m.w_max)
        gp, gm = conductance_pair(np.tile(wb, (k, 1)), m.w_max, self.device.g_min,
                                  self.device.g_max, m.scheme)
        g_plus, g_minus = m.g_plus.copy(), m.g_minus.copy()
        g_plus[b.n_in:], g_minus[b.n_in:] = gp, gm
        b.mapping = m._replace(g_plus=g_plus, g_minus=g_minus)
        self._rewrite((slice(2 * (b.row + b.n_in), 2 * (b.row + b.n_pairs)), b.cols),
                      self._prog_rng if rng is None else rng)
        return self

    def _rewrite(self, region: tuple[slice, slice], rng: np.random.Generator) -> None:
        """Write-verify the cells of ``region`` to the blocks' current targets (the rest of the
        array untouched), give them fresh relaxation variates and age the core again."""
        targets = self.block_targets(self.blocks)
        result = self.device.program(targets[region], rng, faults=self.faults[region],
                                     response=self.response[region])
        self.targets = targets
        self.G_programmed = self.G_programmed.copy()
        self.G_programmed[region] = result.conductance
        self.pulses[region] = result.pulses
        self.converged[region] = result.converged
        self._z[region] = rng.standard_normal(result.conductance.shape)
        self.age(self.read_time)

    def block_targets(self, blocks: list[Block]) -> np.ndarray:
        """Target conductances of the whole array holding ``blocks`` (g_min elsewhere)."""
        targets = np.full((self.N_ROWS, self.N_COLS), self.device.g_min)
        for b in blocks:
            r = slice(2 * b.row, 2 * (b.row + b.n_pairs))
            targets[r, b.cols][0::2] = b.mapping.g_plus
            targets[r, b.cols][1::2] = b.mapping.g_minus
        return targets

    def age(self, t: float) -> Core:
        """Set the time since programming (s): conductances relax and drift to their state at t.

        Each device keeps one relaxation history, so ageing is consistent across calls.
        """
        t = check_range(t, "t", 0.0, None, lo_open=True, unit="second")
        self.read_time = t
        G = self.device.relax(self.G_programmed, t, z=self._z, faults=self.faults)
        self.G = self.device.drifted(G, t, self.drift_nu, faults=self.faults)
        self.refresh()
        return self

    def refresh(self) -> None:
        """Forget the derived arrays (call after changing ``G`` by hand)."""
        for b in self.blocks:
            b.cache.clear()

    def pair_rows(self, b: Block,
                  G: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(G+ rows, G- rows) of block b over all 256 columns."""
        G = self.G if G is None else G
        r = slice(2 * b.row, 2 * (b.row + b.n_pairs))
        return G[r][0::2], G[r][1::2]

    def line_arrays(self, b: Block) -> dict[str, Any]:
        """Derived arrays of block b for the current conductances, in the compute precision.

        Forward, per output column j (S_j = sum of its 256 cells): A = (G+ - G-) / S,
        H = (G+^2 + G-^2) / S^2, D = (G+^2 - G-^2) / S^2 over the block's pairs, T = sum_r G_r^2 /
        S^2. Backward, per row r of the block's weight pairs (S_r = sum of its 256 cells):
        K = G / S_r (for the G+ rows and the G- rows apart) and T = sum_j K_rj^2.
        """
        if b.cache:
            return b.cache
        G, T = self.G, self.targets
        gp_all, gm_all = self.pair_rows(b)
        gp, gm = gp_all[:, b.cols], gm_all[:, b.cols]
        col_sum = G.sum(axis=0)[b.cols]
        n = b.n_in
        kp = (gp_all[:n] / gp_all[:n].sum(axis=1, keepdims=True)).T           # (256, n_in)
        km = (gm_all[:n] / gm_all[:n].sum(axis=1, keepdims=True)).T
        tp_all, tm_all = self.pair_rows(b, T)
        arrays = {
            "fwd_A": (gp - gm) / col_sum,
            "fwd_H": (gp ** 2 + gm ** 2) / col_sum ** 2,
            "fwd_D": (gp ** 2 - gm ** 2) / col_sum ** 2,
            "fwd_T": (G[:, b.cols] ** 2).sum(axis=0) / col_sum ** 2,
            "bwd_A": kp - km,
            "bwd_K": np.hstack([kp, km, kp ** 2, km ** 2]),
            "bwd_H": kp ** 2 + km ** 2,
            "bwd_T": np.concatenate([(kp ** 2).sum(axis=0), (km ** 2).sum(axis=0)]),
        }
        b.cache.update({k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in arrays.items()})
        b.cache["fwd_s_nom"] = T.sum(axis=0)[b.cols]
        b.cache["bwd_inv_s_nom"] = 0.5 * (1.0 / tp_all[:n].sum(axis=1) +
                                          1.0 / tm_all[:n].sum(axis=1))
        return b.cache

    # ------------------------------------------------------------------ read-back
    def effective_weights(self, block: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Weights read back from the current conductances (mapping inverse).

        Returns
        -------
        W : ndarray (n_in, n_out)
        bias : ndarray (n_out,) or None
        """
        b = self.get_block(block)
        gp, gm = self.pair_rows(b)
        dev = self.device
        return from_conductances(gp[:, b.cols], gm[:, b.cols], b.mapping.w_max, dev.g_min,
                                 dev.g_max, b.n_bias_rows, b.mapping.x_max)

    def forward_matrix(self, block: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """The linear map the forward MVM computes, in output units, without noise or ADC.

        Includes each column's actual load sum_r G_rj against the nominal one the output scale
        assumes. Returns (W, bias) like :meth:`effective_weights`.
        """
        b = self.get_block(block)
        a = self.line_arrays(b)
        m = a["fwd_A"].astype(float) * (a["fwd_s_nom"] * b.mapping.w_max / self.device.g_range)
        if b.n_bias_rows:
            return m[:b.n_in], m[b.n_in:].sum(axis=0) * b.mapping.x_max
        return m, None

    def idle_loads(self, block: int = 0) -> LineLoads:
        """The loads of the block's lines by the core's cells outside the block (see
        :class:`LineLoads`), from the current conductances."""
        b = self.get_block(block)
        mine = np.zeros(self.N_ROWS, bool)
        mine[2 * b.row:2 * (b.row + b.n_pairs)] = True
        idle = self.G[~mine][:, b.cols]
        others = np.ones(self.N_COLS, bool)
        others[b.cols] = False
        gp, gm = (g[:, others] for g in self.pair_rows(b))
        return LineLoads(idle.sum(axis=0), (idle ** 2).sum(axis=0), gp.sum(axis=1),
                         (gp ** 2).sum(axis=1), gm.sum(axis=1), (gm ** 2).sum(axis=1))

    def run_rng(self, seed: int | None, purpose: str = "read noise") -> np.random.Generator:
        """Generator of one random stream of a run on this core: a function of the core's seed,
        the run's ``seed`` (None: fresh entropy) and ``purpose`` (pass it as ``rng=``)."""
        return derive_rng(self.seed_sequence, seed, purpose)

    def random_state(self) -> dict[str, Any]:
        """States of the core's own generators (programming, default read stream), for saving."""
        return {"rng": self.rng.bit_generator.state,
                "prog_rng": self._prog_rng.bit_generator.state}

    def set_random_state(self, state: dict[str, Any]) -> None:
        """Restore states returned by :meth:`random_state`."""
        self.rng.bit_generator.state = state["rng"]
        self._prog_rng.bit_generator.state = state["prog_rng"]

    def read_conductances(self, n_reads: int | None = None) -> np.ndarray:
        """One (or ``n_reads``) noisy read(s) of every cell (S)."""
        return self.device.read(self.G, self.rng, n_reads)

    # ------------------------------------------------------------------ MVMs
    def gain(self, direction: str, block: int | Block = 0,
             neuron: NeuronConfig | None = None) -> np.ndarray:
        """Nominal integrated volts per unit of sum(q w), per output (without leak), at the
        operating point ``neuron`` (default the block's)."""
        b = block if isinstance(block, Block) else self.get_block(block)
        cfg = b.neuron if neuron is None else neuron
        a = self.line_arrays(b)
        k = cfg.c_ratio * cfg.pulse_multiplier * cfg.v_read * self.device.g_range / b.mapping.w_max
        if direction == "forward":
            return k / a["fwd_s_nom"]
        return k * a["bwd_inv_s_nom"]

    def output_unit(self, in_bits: int, direction: str = "forward", block: int = 0,
                    x_max: float | None = None,
                    neuron: NeuronConfig | None = None) -> np.ndarray:
        """Output units per ADC step, per output, for inputs of ``in_bits`` bits."""
        b = self.get_block(block)
        cfg = b.neuron if neuron is None else neuron
        if x_max is None:
            x_max = b.mapping.x_max if direction == "forward" else 1.0
        return cfg.adc_lsb / self.gain(direction, block, cfg) * x_max / (2 ** in_bits - 1)

    def _prepare_inputs(self, x, in_bits, direction, x_max, pad, b):
        """Quantised input per line, the bias / padding lines included."""
        levels = 2 ** in_bits - 1
        if direction == "forward":
            n, lines = b.n_in, b.n_pairs
        else:
            n, lines = b.n_out, self.N_COLS
        name = "x" if direction == "forward" else "y"
        arr = check_real_array(x, name)
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        arr = as_finite_array(arr, name, ndim=2, shape=(None, n), dtype=dtype)
        q = np.empty((arr.shape[0], n), dtype=self.dtype)
        kernels.quantize(arr, levels / x_max, levels, q)
        return self._extend_codes(q, levels, direction, pad, b)

    def _extend_codes(self, q, levels, direction, pad, b):
        """Add the bias lines (forward), or for the alternating padding place the block's columns
        among all 256 (backward; with ``pad="zero"`` the block's columns alone carry pulses)."""
        if direction == "forward":
            if b.n_bias_rows == 0:
                return q
            return np.hstack([q, np.full((len(q), b.n_bias_rows), levels, dtype=self.dtype)])
        if pad == "zero":
            return q
        full = np.zeros((len(q), self.N_COLS), dtype=self.dtype)
        if pad == "alternate":
            full[:] = levels * np.where(np.arange(self.N_COLS) % 2 == 0, 1.0, -1.0)
        full[:, b.cols] = q
        return full

    def _phases(self, q, in_bits, cfg, nonneg=False):
        """The integration phases of quantised inputs q at operating point ``cfg``.

        The integrated voltage of a phase is V_read fu (u @ A). Its read noise sums, over the
        cycles c with coefficient k_c (see :func:`~snn_neurram.physics.neuron.cycle_coefficients`),
        the per-cycle variances; fr scales r = sum_c k_c^2 |x_c| / fr and
        rs = sum_c k_c^2 x_c / fr. Without leak u = rs = q, r = |q|, fu = c_ratio m and
        fr = c_ratio^2 m. s1 = sum_c k_c, s2 = sum_c k_c^2. Each phase runs at its own
        operating point (:func:`~snn_neurram.physics.neuron.phases`).
        """
        out = []
        mag = q if nonneg else np.abs(q)
        for ph in phases(in_bits, cfg):
            pcfg, nb = ph.config, ph.bits
            if ph.shift == 0 and nb == in_bits:
                qp, mp = q, mag
            else:
                qp = phase_codes(q, ph.shift, nb, nonneg)
                mp = qp if nonneg else np.abs(qp)
            mean, var, _ = cycle_coefficients(nb, pcfg)
            s1, s2 = float(mean.sum()), float(var.sum())
            if pcfg.leak == 0:
                out.append(_PhaseInputs(ph.shift, nb, pcfg, ph.weight, qp, qp, mp, qp,
                                        float(mean[0]), float(var[0]), s1, s2))
            else:
                planes = bit_planes(qp, nb)
                u = np.tensordot(mean, planes, axes=1).astype(self.dtype)
                r = np.tensordot(var, np.abs(planes), axes=1).astype(self.dtype)
                rs = np.tensordot(var, planes, axes=1).astype(self.dtype)
                out.append(_PhaseInputs(ph.shift, nb, pcfg, ph.weight, qp, u, r, rs, 1.0, 1.0,
                                        s1, s2))
        return out

    def integrate(self, x: ArrayLike, in_bits: int = 4, *, direction: str = "forward",
                  x_max: float | None = None, pad: str = "zero", noise_model: str = "output",
                  block: int = 0, neuron: NeuronConfig | None = None,
                  rng: np.random.Generator | None = None) -> np.ndarray:
        """Integrated neuron voltages (V) before the ADC, one array per integration phase.

        Parameters
        ----------
        x : array_like (batch, n_in) forward, (batch, n_out) backward
        in_bits : int
            Input magnitude bits, 1-8.
        direction : {"forward", "backward"}
        x_max : float, optional
            Full-scale input; default the programmed x_max (forward) or 1 (backward).
        pad : {"zero", "alternate"}
            Backward only: unused columns held at V_ref, or driven with alternating +-1 pulses to
            balance the array as the chip does.
        noise_model : {"output", "device"}
        block : int
        neuron, rng
            Operating point and read-noise stream (see :meth:`forward`).

        Returns
        -------
        ndarray (n_phases, batch, n_outputs)
            Saturated, noisy voltages; the phases are the LSB segment and, for inputs of more than
            ``max_phase_bits`` bits, the MSB segment (each at its own operating point, see
            :func:`snn_neurram.physics.neuron.phases`).
        """
        b = self.get_block(block)
        cfg = self._config(b, neuron)
        q, x_max = self._quantized(x, in_bits, direction, x_max, pad, b)
        phases_out = self._run(q, in_bits, direction, noise_model, "analog", b, cfg,
                               self._stream(rng))[0]
        return np.stack(phases_out).astype(np.float64) * cfg.adc_lsb

    def _quantized(self, x, in_bits, direction, x_max, pad, b):
        in_bits = check_int(in_bits, "in_bits", 1, 8)
        check_choice(direction, "direction", ("forward", "backward"))
        check_choice(pad, "pad", ("zero", "alternate"))
        if x_max is None:
            x_max = b.mapping.x_max if direction == "forward" else 1.0
        x_max = check_range(x_max, "x_max" if direction == "forward" else "y_max", 0.0, None,
                            lo_open=True)
        return self._prepare_inputs(x, in_bits, direction, x_max, pad, b), x_max

    @staticmethod
    def _config(b, neuron):
        """The operating point of a call: the one given, else the block's own."""
        if neuron is None:
            return b.neuron
        if not isinstance(neuron, NeuronConfig):
            raise ValueError(f"neuron must be a NeuronConfig (got {type(neuron).__name__})")
        return neuron

    def _stream(self, rng):
        """The read-noise stream of a call: the one given, else the core's own."""
        if rng is None:
            return self.rng
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator (got {type(rng).__name__})")
        return rng

    def _run(self, q, in_bits, direction, noise_model, mode, b, cfg, rng, levels=1.0,
             scale=None, nonneg=False, cols=None):
        """Integrate and convert every phase of quantised inputs ``q`` (all lines of the
        block) at operating point ``cfg``; returns (outputs per phase, shift-and-add weights)."""
        check_choice(noise_model, "noise_model", _NOISE_MODELS)
        kmode = {"analog": kernels.MODE_ANALOG, "linear": kernels.MODE_SIGNED,
                 "relu": kernels.MODE_RELU}[mode]
        n_outputs = b.n_out if direction == "forward" else b.n_in
        if cols is not None and direction == "forward":
            n_outputs = len(range(b.n_out)[cols])
        scale = np.ascontiguousarray(np.ones(n_outputs) if scale is None else scale,
                                     dtype=self.dtype)
        results, weights = [], []
        for ph in self._phases(q, in_bits, cfg, nonneg):
            pcfg = ph.config
            key = int(rng.integers(0, 2 ** 63))
            if noise_model == "device":
                qp = ph.q
                if cols is not None and direction == "backward":
                    full = np.zeros((len(qp), b.n_out), dtype=self.dtype)
                    full[:, cols] = qp
                    qp = full
                v = self._integrate_per_device(qp, ph.bits, direction, b, pcfg, rng)
                if cols is not None and direction == "forward":
                    v = np.ascontiguousarray(v[:, cols])
                var = np.empty((0, 0), dtype=self.dtype)
            else:
                v, var = self._integrate_fast(ph, direction, b, cols)
            if isinstance(var, tuple):           # forward: variance formed in the kernel
                a, cross, c1, k2 = var
                out = np.empty(v.shape, dtype=self.dtype)
                kernels.noisy_adc_quad(v, a, cross, c1, k2, key, pcfg.adc_lsb, pcfg.v_swing,
                                        kmode, levels, scale, out)
                v = out
            else:
                kernels.noisy_adc(v, var, key, pcfg.adc_lsb, pcfg.v_swing, kmode, levels,
                                   scale, v)
            results.append(v)
            weights.append(ph.weight)
        return results, weights

    def _integrate_fast(self, ph, direction, b, cols=None):
        """Integrated voltage (V) and its read-noise variance (V^2) from matrix products.

        Per cycle, a line of normalised voltage v = sum_i K_i u_i / S reads, to first order in the
        relative noise sigma, with variance sigma^2 sum_i K_i^2 (u_i - v)^2 / S^2 over every cell
        on the line (inputs at V_ref have u_i = 0). Summed over cycles this needs v per cycle,
        taken equal in every cycle of a phase (exact for 1-bit inputs):
        var = (sigma V_read)^2 [fr (r @ K2) - 2 v_bar fr (rs @ KD) + v_bar^2 s2 T],
        v_bar = V / (V_read s1). Forward returns the variance as the terms
        (a, cross, c1, k2) of a + V (c1 cross + k2 V), for the ADC kernel to form. ``cols``
        (a slice of the block's columns) limits the forward outputs, or names the only columns
        the backward inputs drive.
        """
        cfg, dev = ph.config, self.device
        u, r, rs, fu, fr, s1, s2 = ph.u, ph.r, ph.rs, ph.fu, ph.fr, ph.s1, ph.s2
        dt = self.dtype
        arr = self.line_arrays(b)
        if cols is not None:
            key = ("cols", cols.start, cols.stop, direction)
            if key not in b.cache:
                if direction == "forward":
                    sub = {k: np.ascontiguousarray(arr[k][:, cols])
                           for k in ("fwd_A", "fwd_H", "fwd_D")}
                    sub["fwd_T"] = np.ascontiguousarray(arr["fwd_T"][cols])
                else:
                    idx = np.arange(self.N_COLS)[b.cols][cols]
                    sub = {k: np.ascontiguousarray(arr[k][idx]) for k in ("bwd_A", "bwd_K",
                                                                           "bwd_H")}
                    sub["bwd_T"] = arr["bwd_T"]
                    sub["_sliced"] = True
                b.cache[key] = sub
            arr = b.cache[key]
        noisy = dev.read_noise and dev.read_noise_sigma > 0
        nv = (dev.read_noise_sigma * cfg.v_read) ** 2
        empty = np.empty((0, 0), dtype=dt)
        if direction == "forward":
            v = u @ (arr["fwd_A"] * dt(cfg.v_read * fu))
            if not noisy:
                return v, empty
            cross = rs @ arr["fwd_D"]
            a = r @ (arr["fwd_H"] * dt(nv * fr))
            k2 = arr["fwd_T"] * dt(dev.read_noise_sigma ** 2 * s2 / s1 ** 2)
            return v, (a, cross, -2.0 * nv * fr / (cfg.v_read * s1), k2)
        n = b.n_in
        if u.shape[1] != self.N_COLS and "_sliced" not in arr:   # the block's columns only
            arr = {k: arr[k][b.cols] for k in ("bwd_A", "bwd_K", "bwd_H")} | {
                "bwd_T": arr["bwd_T"]}
        if not noisy:
            return u @ (arr["bwd_A"] * dt(cfg.v_read * fu)), empty
        allk = u @ arr["bwd_K"]
        lines_p = np.ascontiguousarray(allk[:, :n] * dt(cfg.v_read * fu))
        lines_m = np.ascontiguousarray(allk[:, n:2 * n] * dt(cfg.v_read * fu))
        if rs is u:
            cross_p, cross_m = allk[:, 2 * n:3 * n], allk[:, 3 * n:]
        else:
            cross = rs @ arr["bwd_K"][:, 2 * n:]
            cross_p, cross_m = cross[:, :n], cross[:, n:]
        var = r @ (arr["bwd_H"] * dt(nv * fr))
        t_sc = arr["bwd_T"] * dt(dev.read_noise_sigma ** 2 * s2 / s1 ** 2)
        c1 = -2.0 * nv * fr / (cfg.v_read * s1)
        kernels.add_quadratic(var, lines_p, cross_p, c1, np.ascontiguousarray(t_sc[:n]))
        kernels.add_quadratic(var, lines_m, cross_m, c1, np.ascontiguousarray(t_sc[n:]))
        return lines_p - lines_m, var

    def _integrate_per_device(self, qp, n_bits, direction, b, cfg, rng):
        """Reference integration: every cycle reads every cell afresh and settles exactly."""
        dev = self.device
        planes = bit_planes(qp, n_bits)                       # (bits, batch, lines)
        batch = qp.shape[0]
        r0 = 2 * b.row
        if direction == "forward":
            G = self.G[:, b.cols]                             # (256 rows, N)
            n_outputs = b.n_out
        else:
            G = self.G[r0:r0 + 2 * b.n_pairs, :]              # (2P rows, 256 cols)
            n_outputs = b.n_in
            if planes.shape[2] != self.N_COLS:                # place the block's columns
                full = np.zeros(planes.shape[:2] + (self.N_COLS,))
                full[:, :, b.cols] = planes
                planes = full
        chunk = max(1, int(4e6 // G.size))
        v = np.zeros((batch, n_outputs))
        for b0 in range(0, batch, chunk):
            sl = slice(b0, min(batch, b0 + chunk))
            nb_ = sl.stop - sl.start
            vi = np.zeros((nb_, n_outputs))
            for k in range(n_bits):
                x = planes[k, sl]
                for _ in range(2 ** k * cfg.pulse_multiplier):
                    Gr = dev.read(G, rng, n_reads=nb_)
                    if direction == "forward":
                        drive = np.zeros((nb_, self.N_ROWS))
                        drive[:, r0:r0 + 2 * b.n_pairs:2] = x
                        drive[:, r0 + 1:r0 + 2 * b.n_pairs:2] = -x
                        v_line = np.einsum("br,brj->bj", drive, Gr) / Gr.sum(axis=1)
                    else:
                        rows = np.einsum("bj,brj->br", x, Gr) / Gr.sum(axis=2)
                        v_line = (rows[:, 0::2] - rows[:, 1::2])[:, :b.n_in]
                    vi = (1.0 - cfg.leak) * vi + cfg.c_ratio * cfg.v_read * v_line
                    np.clip(vi, -cfg.v_swing, cfg.v_swing, out=vi)
            v[sl] = vi
        return v.astype(self.dtype)

    def mvm_codes(self, q: ArrayLike, in_bits: int, out_bits: int, activation: str = "linear",
                  *, direction: str = "forward", block: int = 0, noise_model: str = "output",
                  return_codes: bool = False, x_max: float | None = None, nonneg: bool = False,
                  columns: slice | None = None, neuron: NeuronConfig | None = None,
                  rng: np.random.Generator | None = None) -> np.ndarray:
        """MVM of inputs already quantised to integer codes, |q| <= 2**in_bits - 1.

        ``q`` holds the codes of the block's inputs (forward: (batch, n_in), without the bias
        lines; backward: (batch, n_out)) in the core's precision. The compiled-chip engine uses
        this to quantise a layer's input once for all its blocks; ``nonneg=True`` promises
        q >= 0 and saves a pass. ``columns`` (a slice of the block's columns) limits the forward
        outputs to those columns, or in backward says that only those columns are driven (q
        then holds their codes; the others stay at V_ref). Otherwise as :meth:`forward`.
        """
        b = self.get_block(block)
        levels = 2 ** check_int(in_bits, "in_bits", 1, 8) - 1
        q = self._extend_codes(np.asarray(q, dtype=self.dtype), levels, direction, "zero", b)
        if x_max is None:
            x_max = b.mapping.x_max if direction == "forward" else 1.0
        return self._convert(q, in_bits, out_bits, activation, direction, x_max, noise_model,
                             return_codes, b, self._config(b, neuron), self._stream(rng),
                             nonneg, columns)

    def integrate_codes(self, q: ArrayLike, in_bits: int = 1, *, block: int = 0,
                        noise_model: str = "output", nonneg: bool = False,
                        neuron: NeuronConfig | None = None,
                        rng: np.random.Generator | None = None) -> np.ndarray:
        """Integrated voltage (V) of a forward MVM of integer codes (one phase, no ADC).

        The spiking engine calls this every time step with the spikes as 1-bit codes; bias rows
        get their full-scale pulse. Read noise and integrator saturation apply.
        """
        b = self.get_block(block)
        cfg = self._config(b, neuron)
        in_bits = check_int(in_bits, "in_bits", 1, cfg.max_phase_bits)
        q = self._extend_codes(np.asarray(q, dtype=self.dtype), 2 ** in_bits - 1, "forward",
                               "zero", b)
        return self._run(q, in_bits, "forward", noise_model, "analog", b, cfg,
                         self._stream(rng), nonneg=nonneg)[0][0] * self.dtype(cfg.adc_lsb)

    def _convert(self, q, in_bits, out_bits, activation, direction, x_max, noise_model,
                 return_codes, b, cfg, rng, nonneg=False, cols=None):
        check_choice(activation, "activation", ACTIVATIONS)
        if activation == "lif":
            raise ValueError("activation='lif' is time-stepped: it has no single-shot MVM "
                             "(run spiking networks through the SNN engines)")
        out_bits = check_int(out_bits, "out_bits", 1, 8)
        unit = cfg.adc_lsb / self.gain(direction, b, cfg) * x_max / (2 ** in_bits - 1)
        if cols is not None and direction == "forward":
            unit = unit[cols]
        single = len(phases(in_bits, cfg)) == 1
        if single and activation in _MODES:
            scale = None if return_codes else unit
            return self._run(q, in_bits, direction, noise_model, activation, b, cfg, rng,
                             adc_levels(out_bits, activation, cfg), scale, nonneg, cols)[0][0]
        if single:
            res = self._run(q, in_bits, direction, noise_model, "analog", b, cfg, rng,
                            nonneg=nonneg, cols=cols)[0]
            codes = res[0].astype(np.float64)           # analog voltage in LSB units
        else:
            # shift and add of the phases' signed codes; the sum is then read out on out_bits
            # bits: a ReLU requantised to its unsigned levels over the phases' joint full scale
            levels = adc_levels(out_bits, "linear", cfg)
            res, weights = self._run(q, in_bits, direction, noise_model, "linear", b, cfg, rng,
                                     levels, nonneg=nonneg, cols=cols)
            codes = sum(r.astype(np.float64) * w for r, w in zip(res, weights))
            if activation == "relu":
                step = levels * sum(weights) / adc_levels(out_bits, "relu", cfg)
                codes = np.clip(np.floor(codes / step + 0.5), 0,
                                adc_levels(out_bits, "relu", cfg))
            else:
                step = sum(weights)
                codes = codes / step
            if return_codes and activation in _MODES:
                return codes
            unit = unit * step
        y = codes * unit
        if activation in _MODES:
            return y
        return activate(y, activation, out_bits, cfg, rng)

    def forward(self, x: ArrayLike, in_bits: int = 4, out_bits: int = 8,
                activation: str = "linear", *, noise_model: str = "output",
                return_codes: bool = False, block: int = 0, neuron: NeuronConfig | None = None,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """Forward MVM of a batch: inputs on rows, outputs on columns, through the neurons.

        Parameters
        ----------
        x : array_like (batch, n_in)
            Inputs in [-x_max, x_max] (x_max set at programming); quantised to ``in_bits``.
        in_bits : int
            Input magnitude bits, 1-8 (sign comes free with the pulse polarity). Inputs of more
            than ``max_phase_bits`` bits run in two phases, shifted and added.
        out_bits : int
            Output bits, 1-8: sign + magnitude for linear/tanh, unsigned for relu/sigmoid.
        activation : {"linear", "relu", "sigmoid", "tanh", "stochastic_binary"}
        noise_model : {"output", "device"}
            Read noise as output noise of the implied variance (fast), or per cell per cycle.
        return_codes : bool
            For linear and relu, return the ADC codes (LSB units) instead of output values
            (two-phase inputs: a ReLU's integer output codes, a linear output's shift-and-add
            sum over the phases' joint scale).
        block : int
            Which mapped matrix of the core.
        neuron : NeuronConfig, optional
            Operating point of this call (V_read, pulse multiplier, ADC, ...); default the
            block's own. The block is not changed.
        rng : numpy.random.Generator, optional
            Stream of this call's read noise (and stochastic neurons). Default: the core's own
            stream, which advances with every call, so that successive calls draw fresh noise;
            pass a generator seeded by the caller for results that do not depend on what ran
            before.

        Returns
        -------
        ndarray (batch, n_out)
            Outputs in the units of x @ W + bias (linear, relu), in [0, 1] (sigmoid), [-1, 1]
            (tanh) or {0, 1} (stochastic_binary). Conversion to output units uses each column's
            nominal gain from the target conductances, as the mapping knows it. Single-phase
            linear and relu outputs come in the core's precision (float32 by default).
        """
        b = self.get_block(block)
        q, x_max = self._quantized(x, in_bits, "forward", None, "zero", b)
        return self._convert(q, in_bits, out_bits, activation, "forward", x_max, noise_model,
                             return_codes, b, self._config(b, neuron), self._stream(rng))

    def backward(self, y: ArrayLike, in_bits: int = 4, out_bits: int = 8,
                 activation: str = "linear", *, y_max: float = 1.0, pad: str = "zero",
                 noise_model: str = "output", return_codes: bool = False, block: int = 0,
                 neuron: NeuronConfig | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray:
        """Backward (transposed) MVM on the same conductances: inputs on columns, outputs on rows.

        Parameters
        ----------
        y : array_like (batch, n_out)
            Inputs in [-y_max, y_max], quantised to ``in_bits``.
        in_bits, out_bits, activation, noise_model, return_codes, block, neuron, rng
            As for :meth:`forward`.
        y_max : float
            Full-scale input.
        pad : {"zero", "alternate"}
            Unused columns held at V_ref, or driven with alternating +-1 pulses (the chip's
            balancing; adds their cells' mismatch to the outputs).

        Returns
        -------
        ndarray (batch, n_in)
            Approximately y @ W.T (bias rows are not read out).
        """
        b = self.get_block(block)
        q, y_max = self._quantized(y, in_bits, "backward", y_max, pad, b)
        return self._convert(q, in_bits, out_bits, activation, "backward", y_max, noise_model,
                             return_codes, b, self._config(b, neuron), self._stream(rng))

    # ------------------------------------------------------------------ operating point
    def phase_levels(self, q: ArrayLike, in_bits: int, neuron: NeuronConfig | None = None, *,
                     percentile: float = 99.5, mode: str = "linear", block: int = 0) -> float:
        """Largest, over the integration phases, ``percentile``-th percentile of the integrated
        voltage (V, noise and leak off, saturation ignored) of the forward MVM of integer codes
        q (the block's inputs and bias lines, :meth:`mvm_codes` layout with the bias lines
        appended) at the operating point ``neuron``. ``mode="relu"`` takes max(v, 0), every
        other mode |v|."""
        b = self.get_block(block)
        cfg = self._config(b, neuron)
        A = self.line_arrays(b)["fwd_A"].astype(np.float64)
        q = np.asarray(q, dtype=np.float64)
        level = 0.0
        for ph in phases(in_bits, cfg):
            p = ph.config
            qp = phase_codes(q, ph.shift, ph.bits)
            v = p.c_ratio * p.pulse_multiplier * p.v_read * (qp @ A)
            stat = np.maximum(v, 0.0) if mode == "relu" else np.abs(v)
            level = max(level, float(np.percentile(stat, percentile)))
        return level

    def set_operating_point(self, x: ArrayLike, in_bits: int = 4, out_bits: int = 8,
                            activation: str = "linear", *, percentile: float = 99.5,
                            v_read_range: tuple[float, float] = (0.05, V_READ_MAX),
                            block: int = 0, apply: bool = True) -> NeuronConfig:
        """Choose V_read so that the given inputs use the ADC range, and return the new config.

        The ``percentile``-th percentile of |integrated voltage| over ``x`` (noise off), in the
        integration phase where it is largest, is made to equal the top of the ADC range (levels
        x adc_lsb, or the integrator swing if lower). V_read stays within ``v_read_range`` (V);
        where that is not enough the pulse multiplier is raised. This is the basic
        operating-point choice; per-column calibration builds on it.

        ``apply=True`` (default) makes it the block's operating point; with ``apply=False`` the
        core is left as it is and the config is only returned (for passing as ``neuron=``).
        """
        b = self.get_block(block)
        percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
        cfg = b.neuron
        mode = activation if activation in _MODES else "linear"
        top = min(adc_levels(out_bits, mode, cfg) * cfg.adc_lsb, cfg.v_swing)
        q, _ = self._quantized(x, in_bits, "forward", None, "zero", b)
        level = self.phase_levels(q, in_bits, cfg, percentile=percentile, mode=mode,
                                  block=block)
        if level <= 0:
            return cfg
        lo, hi = v_read_range
        v_read = cfg.v_read * top / level
        mult = cfg.pulse_multiplier
        while v_read > hi and mult < 1024:
            mult *= 2
            v_read /= 2
        new = cfg.replace(v_read=float(np.clip(v_read, lo, hi)), pulse_multiplier=mult)
        if apply:
            b.neuron = new
        return new

    # ------------------------------------------------------------------ summary
    def used_cells(self) -> np.ndarray:
        """Boolean mask (256, 256) of the cells that hold a block's weight or bias."""
        used = np.zeros(self.G.shape, bool)
        for b in self.blocks:
            used[2 * b.row:2 * (b.row + b.n_pairs), b.cols] = True
        return used

    def summary(self) -> dict[str, Any]:
        """Programming statistics of the used cells, as a plain dict."""
        b0 = self.get_block(0)
        used = self.used_cells()
        err = (self.G_programmed - self.targets)[used]
        relax = (self.G - self.G_programmed)[used]
        return {
            "blocks": len(self.blocks),
            "rows_used": int(used.any(axis=1).sum()), "columns_used": int(used.any(axis=0).sum()),
            "n_in": b0.n_in, "n_out": b0.n_out, "bias_row_pairs": b0.n_bias_rows,
            "w_max": b0.mapping.w_max, "clipped_fraction": b0.mapping.clipped_fraction,
            "pulses_mean": float(self.pulses[used].mean()),
            "pulses_max": int(self.pulses[used].max()),
            "in_band_fraction": float(np.mean(np.abs(err) <= self.device.tolerance)),
            "programming_error_rms_siemens": float(np.sqrt(np.mean(err ** 2))),
            "relaxation_rms_siemens": float(np.sqrt(np.mean(relax ** 2))),
            "stuck_cells": int(np.sum(self.faults[used] != FAULT_NONE)),
            "read_time_s": self.read_time,
        }
