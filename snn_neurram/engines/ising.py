"""An Ising machine across the chip's cores.

The model: n spins s in {-1, +1}, a symmetric coupling matrix J (zero diagonal) and fields b,
energy E = -(1/2) s J s - b s. A heat-bath (Gibbs) update sets spin i to +1 with probability
sigmoid(2 h_i / T), h_i = sum_j J_ij s_j + b_i its local field.

Tiling. J is cut like a dense layer (:mod:`snn_neurram.compiler.tiling`): column segments of at
most 256 columns and row segments of at most 128 differential row pairs (the first one of each
column segment also holds the bias rows of b, driven at full scale). Per column segment only
the rows that couple into it are kept (all of them for a dense J), so a sparse J takes fewer
blocks; the spins sit on the array in their own order or, when that needs more cores than the
chip has, in the reverse Cuthill-McKee order that gathers a sparse graph's couplings near the
diagonal. Every block goes to its own core, as programmed by write-verify (with the chip's
programming error, relaxation and faults). Row pair j of a block holds J_j. (spin j's outgoing
couplings), column i reads spin i's partial field. An MVM drives the block's rows with the spins
as 1-bit ternary pulses (s_j = +-1: a pulse of either polarity), the neurons integrate and
convert with their ADC (``out_bits``, each block at its own operating point calibrated on
random states), and the partial fields of a column's row segments are added digitally -- so the
fields carry the chip's read noise, ADC quantisation and the conductances as they relaxed.

Stochastic neurons. The summed field goes through the stochastic binary neuron of
:func:`snn_neurram.physics.neuron.activate`: threshold of 2 h plus injected logistic noise of
scale T (``NeuronConfig.noise_scale``), so P(s = +1) = sigmoid(2 h / T). The temperature is the
strength of that noise drive, and annealing lowers it sweep by sweep (the read noise of the
array adds a little more). In a single-core machine the noise can come from noise rows on the
array (:class:`snn_neurram.engines.rbm.BoltzmannMachine`); across cores the comparison follows
the digital sum of the partial fields, so the noise is added there.

Updates. ``"sequential"``: one spin at a time (its column's MVMs, one neuron each);
``"chromatic"``: the colour classes of a greedy colouring of the coupling graph (independent
sets, whose spins do not couple) one after the other, each as one MVM of every block of the
column segments it touches; ``"parallel"``: p-bit style, every spin from one MVM of all
blocks, each spin taking its new sample with probability ``p_update`` (damping; with
p_update = 1 coupled spins update together and may oscillate).

Cost. :meth:`IsingMachine.sweep_account` prices a sweep of one chain with
:func:`snn_neurram.physics.energy.mvm_account` per MVM (word lines, input pulses, neurons and
ADC), the digital partial sums, noise additions and comparisons (``e_digital_op``) and the bits
moved between cores (partial sums to the accumulator, new spins back to the cores that hold
their rows, ``e_transfer_bit``). Cores of one update run in parallel; the updates of a sweep one
after the other; digital time is not counted.

Randomness. Every stream (starting states, read noise, neuron noise, update masks,
calibration) derives from the chip's seed and the run's ``seed`` (:meth:`Chip.rng`): the same
call gives the same result whatever ran before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_choice, check_int, check_range
from .._seeds import check_seed
from ..errors import CapacityError
from ..hw.chip import Chip
from ..hw.core import Core
from ..physics.energy import EnergyModel, mvm_account
from ..physics.mapping import to_conductances
from ..physics.neuron import NeuronConfig, activate

__all__ = ["IsingMachine", "IsingBlock", "IsingResult", "colour_classes", "default_temperatures",
           "geometric_schedule", "ising_energy", "PAIRS", "COLS", "METHODS"]

PAIRS = 128            # differential row pairs of a core
COLS = 256             # columns of a core
METHODS = ("sequential", "chromatic", "parallel")


def ising_energy(J: np.ndarray, s: ArrayLike, b: np.ndarray | None = None) -> np.ndarray:
    """E = -(1/2) s J s - b s of spins s, (n,) or (chains, n) (dimensionless)."""
    s = np.asarray(s, dtype=float)
    e = -0.5 * np.einsum("...i,...i->...", s @ J, s)
    return e if b is None else e - s @ b


def colour_classes(J: ArrayLike) -> list[np.ndarray]:
    """Independent sets of the coupling graph covering every spin: a greedy colouring, spins
    in order of decreasing degree, each taking the lowest colour none of its neighbours has.

    Returns
    -------
    list of ndarray of int
        The spins of each colour, ascending.
    """
    A = np.asarray(J) != 0
    n = len(A)
    np.fill_diagonal(A, False)
    colour = np.full(n, -1)
    order = np.argsort(-A.sum(axis=1), kind="stable")
    for i in order:
        taken = np.unique(colour[A[i] & (colour >= 0)])
        c = 0
        for t in taken:                    # sorted: the first gap
            if t != c:
                break
            c += 1
        colour[i] = c
    return [np.nonzero(colour == c)[0] for c in range(colour.max() + 1)]


def default_temperatures(J: ArrayLike) -> tuple[float, float]:
    """A starting and a final annealing temperature for couplings J (in their units).

    t_start is the rms local field of random states, sqrt(mean_i sum_j J_ij^2) (most uphill
    moves accepted); t_end is 0.1 times the smallest non-zero |J_ij| (uphill moves by one
    coupling accepted with probability about e^-20).
    """
    J = np.asarray(J, dtype=float)
    nz = np.abs(J[J != 0])
    if nz.size == 0:
        return 1.0, 0.1
    return float(np.sqrt(np.mean((J ** 2).sum(axis=1)))), 0.1 * float(nz.min())


def geometric_schedule(J: ArrayLike, sweeps: int, t_start: float | None = None,
                       t_end: float | None = None) -> np.ndarray:
    """Temperatures of ``sweeps`` sweeps falling geometrically from t_start to t_end
    (defaults: :func:`default_temperatures` of J)."""
    sweeps = check_int(sweeps, "sweeps", 1, 10 ** 7)
    d0, d1 = default_temperatures(J)
    t0 = d0 if t_start is None else check_range(t_start, "t_start", 0.0, None, lo_open=True)
    t1 = d1 if t_end is None else check_range(t_end, "t_end", 0.0, None, lo_open=True)
    if sweeps == 1:
        return np.array([t1])
    return t0 * (t1 / t0) ** (np.arange(sweeps) / (sweeps - 1))


@dataclass(eq=False)
class IsingBlock:
    """One block of J on one core.

    Attributes
    ----------
    core_index : int
        Core of the chip.
    rows : ndarray of int
        Array positions of the spins whose couplings the block's row pairs hold, ascending.
    c0, c1 : int
        Spins of its columns.
    rseg, cseg : int
        Row segment (within its column segment) and column segment.
    bias : bool
        Whether the block holds the bias rows of b (first row segment).
    n_pairs : int
        Row pairs driven, bias rows included.
    config : NeuronConfig
        Operating point of its MVMs.
    """

    core_index: int
    rows: np.ndarray
    c0: int
    c1: int
    rseg: int
    cseg: int
    bias: bool
    n_pairs: int
    config: NeuronConfig = field(default_factory=NeuronConfig)


@dataclass
class IsingResult:
    """Outcome of :meth:`IsingMachine.anneal`.

    Attributes
    ----------
    states : ndarray (chains, n)
        Final spins.
    best_states : ndarray (chains, n)
        Lowest-energy state each chain visited (checked after every sweep).
    best_energies : ndarray (chains,)
        Their energies.
    trace : ndarray (sweeps, chains)
        Energy after every sweep.
    temperatures : ndarray (sweeps,)
        The schedule.
    chip_time_per_sweep : float
        Chip time of one sweep of one chain (s), from the energy model.
    chip_energy_per_sweep : float
        Chip energy of one sweep of one chain (J).
    seconds : float
        Wall-clock time of the simulation (s).
    """

    states: np.ndarray
    best_states: np.ndarray
    best_energies: np.ndarray
    trace: np.ndarray
    temperatures: np.ndarray
    chip_time_per_sweep: float
    chip_energy_per_sweep: float
    seconds: float


class IsingMachine:
    """An Ising model E = -(1/2) s J s - b s tiled over the chip's cores.

    Parameters
    ----------
    J : array_like (n, n)
        Symmetric couplings (the diagonal is ignored), n up to a few thousand spins as long as
        the non-zero blocks fit the chip's cores.
    b : array_like (n,), optional
        Fields.
    """

    def __init__(self, J: ArrayLike, b: ArrayLike | None = None) -> None:
        J = as_finite_array(J, "J", ndim=2)
        if J.shape[0] != J.shape[1] or J.shape[0] == 0:
            raise ValueError(f"J must be a non-empty square matrix (got shape {J.shape})")
        if not np.allclose(J, J.T):
            raise ValueError("J must be symmetric (J == J.T)")
        self.J = J - np.diag(np.diag(J))
        self.n = len(J)
        self.b = (np.zeros(self.n) if b is None
                  else as_finite_array(b, "b", ndim=1, shape=(self.n,)))
        self.chip: Chip | None = None
        self.blocks: list[IsingBlock] = []
        self.order = "natural"
        self.perm = np.arange(self.n)           # spin at each array position
        self.pos = np.arange(self.n)            # array position of each spin
        self._groups: dict[str, list[np.ndarray]] = {}

    # ------------------------------------------------------------------ programming
    def spin_order(self, order: str = "natural") -> np.ndarray:
        """The spin at each position of the array's rows and columns.

        ``"natural"``: spin k at position k. ``"rcm"``: the reverse Cuthill-McKee order of the
        coupling graph (:func:`scipy.sparse.csgraph.reverse_cuthill_mckee`), which gathers
        the couplings of a sparse graph near the diagonal so that fewer blocks hold any.
        """
        check_choice(order, "order", ("natural", "rcm"))
        if order == "natural":
            return np.arange(self.n)
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        return np.asarray(reverse_cuthill_mckee(csr_matrix(self.J != 0), symmetric_mode=True),
                          dtype=np.int64)

    def tile(self, order: str = "natural") -> list[IsingBlock]:
        """The blocks of J with its spins in ``order`` (:meth:`spin_order`), not yet placed.

        Columns: segments of <= 256 positions. Rows: per column segment, the positions whose
        couplings into it are not all zero (every position for a dense J), in row segments of
        <= 128 pairs, the first one minus the bias rows; rows without a coupling into the
        column segment are left out, so a sparse J needs fewer blocks. Positions count in the
        given order."""
        perm = self.spin_order(order)
        Jp, bp = self.J[np.ix_(perm, perm)], self.b[perm]
        w_max = self.w_max
        has_bias = bool(np.any(bp != 0))
        n_bias = 0
        if has_bias:
            n_bias = to_conductances(np.zeros((1, self.n)), bp, w_max=w_max,
                                     x_max=1.0).n_bias_rows
            if n_bias >= PAIRS:
                raise CapacityError(f"b needs {n_bias} bias row pairs, more than a core's "
                                    f"{PAIRS}: scale b down against J")
        first = PAIRS - n_bias
        blocks = []
        for ci, c0 in enumerate(range(0, self.n, COLS)):
            c1 = min(self.n, c0 + COLS)
            rows = np.nonzero(np.any(Jp[:, c0:c1] != 0, axis=1))[0]
            if has_bias and rows.size == 0:
                rows = np.array([0])            # an all-zero row beside the bias rows
            chunks = [rows[:first]] + [rows[k:k + PAIRS] for k in range(first, len(rows), PAIRS)]
            for ri, chunk in enumerate(chunks):
                if chunk.size == 0:
                    continue
                bias = ri == 0 and has_bias
                blocks.append(IsingBlock(-1, chunk, c0, c1, ri, ci, bias,
                                         len(chunk) + (n_bias if bias else 0)))
        return blocks

    @property
    def w_max(self) -> float:
        """Weight mapped to the full conductance window: the largest |J_ij| (no clipping)."""
        return max(float(np.abs(self.J).max()), 1e-12)

    def program(self, chip: Chip, *, out_bits: int = 8, percentile: float = 99.9,
                first_core: int = 0, order: str = "auto", seed: int | None = 0,
                calibration_states: int = 256) -> IsingMachine:
        """Place every block on its own core (from ``first_core`` on), program it by
        write-verify, and set each block's operating point so that the ``percentile``-th
        percentile of its integrated voltage over ``calibration_states`` random spin states
        reaches the top of its ``out_bits``-bit ADC.

        ``order`` places the spins on the rows and columns (:meth:`spin_order`): ``"natural"``,
        ``"rcm"``, or ``"auto"`` (default): natural when its blocks fit the cores, else the
        reverse Cuthill-McKee order when that needs fewer blocks. The order used is kept in
        ``order`` and ``perm``; states and fields stay in the spins' own order.

        Raises
        ------
        CapacityError
            When the blocks need more cores than the chip has from ``first_core`` on.
        """
        if not isinstance(chip, Chip):
            raise ValueError(f"chip must be a Chip (got {type(chip).__name__})")
        self.out_bits = check_int(out_bits, "out_bits", 2, 8)
        percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
        first_core = check_int(first_core, "first_core", 0, chip.n_cores - 1)
        calibration_states = check_int(calibration_states, "calibration_states", 1, 10 ** 5)
        seed = check_seed(seed)
        check_choice(order, "order", ("auto", "natural", "rcm"))
        used = "natural" if order == "auto" else order
        blocks = self.tile(used)
        if order == "auto" and len(blocks) > chip.n_cores - first_core:
            other = self.tile("rcm")
            if len(other) < len(blocks):
                used, blocks = "rcm", other
        if len(blocks) > chip.n_cores - first_core:
            raise CapacityError(f"J ({self.n} spins) tiles into {len(blocks)} non-zero blocks of "
                                f"<= {PAIRS} row pairs x {COLS} columns; the chip has "
                                f"{chip.n_cores - first_core} cores from core {first_core}")
        w_max = self.w_max
        perm = self.spin_order(used)
        Jp, bp = self.J[np.ix_(perm, perm)], self.b[perm]
        cal = chip.rng(seed, "ising calibration").choice(np.array([-1.0, 1.0]),
                                                         (calibration_states, self.n))
        for k, blk in enumerate(blocks):
            blk.core_index = first_core + k
            core = chip.cores[blk.core_index]
            bias = bp[blk.c0:blk.c1] if blk.bias else None
            core.program(Jp[np.ix_(blk.rows, np.arange(blk.c0, blk.c1))], bias, x_max=1.0,
                         w_max=w_max)
            blk.n_pairs = core.n_pairs
            blk.config = core.set_operating_point(cal[:, blk.rows], 1, self.out_bits,
                                                  percentile=percentile, apply=False)
        self.chip, self.blocks = chip, blocks
        self.order, self.perm = used, perm
        self.pos = np.empty(self.n, dtype=np.int64)
        self.pos[perm] = np.arange(self.n)
        self._groups = {}
        return self

    def _core(self, blk: IsingBlock) -> Core:
        assert self.chip is not None
        return self.chip.cores[blk.core_index]

    def _check_programmed(self) -> None:
        if self.chip is None:
            raise RuntimeError("the Ising machine is not on a chip yet: call program(chip) first")

    @property
    def n_cores(self) -> int:
        """Cores in use."""
        return len(self.blocks)

    # ------------------------------------------------------------------ fields
    def local_fields(self, s: ArrayLike, rng: np.random.Generator,
                     spins: np.ndarray | None = None) -> np.ndarray:
        """Local fields h = s J + b read on the chip, (chains, n).

        Every block of the column segments that hold ``spins`` (default: all) runs one forward
        MVM of the spins as 1-bit codes; partial sums of one column are added digitally. Fields
        of the other column segments are left at zero. ``rng`` draws the read noise.
        """
        self._check_programmed()
        s = np.asarray(s, dtype=float)
        if s.ndim != 2 or s.shape[1] != self.n:
            raise ValueError(f"s must have shape (chains, {self.n}) (got {s.shape})")
        if spins is None:
            csegs = {blk.cseg for blk in self.blocks}
        else:
            csegs = {int(c) for c in np.unique(self.pos[np.asarray(spins)] // COLS)}
        sp = s[:, self.perm]
        h = np.zeros(s.shape)
        for blk in self.blocks:
            if blk.cseg not in csegs:
                continue
            core = self._core(blk)
            q = np.ascontiguousarray(sp[:, blk.rows], dtype=core.dtype)
            h[:, blk.c0:blk.c1] += core.mvm_codes(q, 1, self.out_bits, "linear",
                                                  neuron=blk.config, rng=rng)
        h = h[:, self.pos]
        if not any(blk.bias for blk in self.blocks):
            h += self.b
        return h

    def groups(self, method: str) -> list[np.ndarray]:
        """The spins updated together, in order, by one sweep of ``method``."""
        check_choice(method, "method", METHODS)
        if method not in self._groups:
            if method == "sequential":
                g = [np.array([i]) for i in range(self.n)]
            elif method == "chromatic":
                g = colour_classes(self.J)
            else:
                g = [np.arange(self.n)]
            self._groups[method] = g
        return self._groups[method]

    # ------------------------------------------------------------------ cost
    def sweep_account(self, method: str = "chromatic", p_update: float = 1.0,
                      model: EnergyModel | None = None) -> dict[str, Any]:
        """Energy (J) by component and chip time (s) of one sweep of one chain.

        Per update group: one MVM on every block of the column segments holding the group's
        spins (its active neurons: the group's spins in the block's columns), run on their
        cores in parallel; the digital partial sums (row segments - 1 adds per spin), the noise
        addition and the comparison per spin; partial sums (``out_bits`` each) moved to the
        accumulator and the new spins (1 bit, ``p_update`` of them on average for
        ``"parallel"``) moved to every core holding their rows.

        Returns
        -------
        dict
            ``wl_switching``, ``input_pulses``, ``neuron``, ``digital``, ``transfer``,
            ``total`` (J), ``time`` (s), ``mvms`` (core MVMs per sweep), ``groups``.
        """
        self._check_programmed()
        model = EnergyModel() if model is None else model
        p_update = check_range(p_update, "p_update", 0.0, 1.0, lo_open=True)
        comp = dict.fromkeys(("wl_switching", "input_pulses", "neuron", "digital", "transfer"),
                             0.0)
        time_, mvms = 0.0, 0
        holders = np.zeros(self.n)               # cores holding each position's row
        for blk in self.blocks:
            holders[blk.rows] += 1
        groups = self.groups(method)
        for spins in groups:
            g = self.pos[spins]                    # positions on the array
            slowest = 0.0
            for blk in self.blocks:
                active = int(np.count_nonzero((g >= blk.c0) & (g < blk.c1)))
                if active == 0:
                    continue
                acc = mvm_account(2 * blk.n_pairs, active, 1, self.out_bits,
                                  config=blk.config, model=model)
                for k in ("wl_switching", "input_pulses", "neuron"):
                    comp[k] += acc[k]
                comp["transfer"] += active * self.out_bits * model.e_transfer_bit
                slowest = max(slowest, acc["time"])
                mvms += 1
            for i in g:
                in_col = sum(1 for blk in self.blocks if blk.c0 <= i < blk.c1)
                comp["digital"] += (max(in_col - 1, 0) + 2) * model.e_digital_op
            moved = len(g) * (p_update if method == "parallel" else 1.0)
            per_spin = float(holders[g].mean())
            comp["transfer"] += moved * per_spin * model.e_transfer_bit
            time_ += slowest
        total = sum(comp.values())
        return {**comp, "total": total, "time": time_, "mvms": mvms, "groups": len(groups)}

    # ------------------------------------------------------------------ annealing
    def anneal(self, sweeps: int, *, chains: int = 1, method: str = "chromatic",
               t_start: float | None = None, t_end: float | None = None,
               schedule: ArrayLike | None = None, p_update: float = 0.5,
               states: ArrayLike | None = None, seed: int | None = 0,
               model: EnergyModel | None = None) -> IsingResult:
        """Anneal ``chains`` chains on the chip for ``sweeps`` sweeps.

        Parameters
        ----------
        sweeps : int
        chains : int
            Independent chains (run as a batch of MVM inputs).
        method : {"sequential", "chromatic", "parallel"}
            Update scheme (see the module docstring).
        t_start, t_end : float, optional
            Ends of the geometric schedule (defaults: :func:`default_temperatures`).
        schedule : array_like (sweeps,), optional
            A temperature per sweep instead (all > 0).
        p_update : float
            ``"parallel"`` only: probability that a spin takes its new sample, in (0, 1].
        states : array_like (chains, n), optional
            Starting spins (default: random).
        seed : int, optional
            The run's seed (None: fresh entropy).
        model : EnergyModel, optional
            For the chip time and energy of a sweep.
        """
        self._check_programmed()
        assert self.chip is not None
        sweeps = check_int(sweeps, "sweeps", 1, 10 ** 7)
        chains = check_int(chains, "chains", 1, 10 ** 6)
        check_choice(method, "method", METHODS)
        p_update = check_range(p_update, "p_update", 0.0, 1.0, lo_open=True)
        seed = check_seed(seed)
        if schedule is None:
            temps = geometric_schedule(self.J, sweeps, t_start, t_end)
        else:
            temps = as_finite_array(schedule, "schedule", ndim=1, shape=(sweeps,))
            if np.any(temps <= 0):
                raise ValueError("schedule must hold temperatures > 0")
        chip = self.chip
        if states is None:
            s = chip.rng(seed, "ising start").choice(np.array([-1.0, 1.0]), (chains, self.n))
        else:
            s = as_finite_array(states, "states", ndim=2, shape=(chains, self.n)).copy()
            if not np.all(np.abs(s) == 1):
                raise ValueError("states must hold spins -1 or +1 (one row per chain)")
        read_rng = chip.rng(seed, "ising read noise")
        neuron_rng = chip.rng(seed, "ising neuron noise")
        mask_rng = chip.rng(seed, "ising update mask")
        groups = self.groups(method)
        base = NeuronConfig(noise="logistic")
        trace = np.empty((sweeps, chains))
        best_e = np.full(chains, np.inf)
        best_s = s.copy()
        t0 = time.perf_counter()
        for t, temp in enumerate(temps):
            cfg = base.replace(noise_scale=float(temp))
            for g in groups:
                h = self.local_fields(s, read_rng, g)[:, g]
                new = 2.0 * activate(2.0 * h, "stochastic_binary", 1, cfg, neuron_rng) - 1.0
                if method == "parallel" and p_update < 1.0:
                    take = mask_rng.random(new.shape) < p_update
                    new = np.where(take, new, s[:, g])
                s[:, g] = new
            e = ising_energy(self.J, s, self.b)
            trace[t] = e
            better = e < best_e
            best_e[better] = e[better]
            best_s[better] = s[better]
        seconds = time.perf_counter() - t0
        acc = self.sweep_account(method, p_update if method == "parallel" else 1.0, model)
        return IsingResult(s, best_s, best_e, trace, temps, acc["time"], acc["total"], seconds)
