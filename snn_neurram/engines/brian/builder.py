"""Build Brian2 objects from a programmed :class:`~snn_neurram.Core`, conductances unchanged.

:func:`from_core` returns a :class:`CoreCircuit`: the core's rows and columns as
:class:`NeuRRAMNeurons`, the programmed cells as one :class:`TransposableSynapses`, the cells
outside the mapped block added to the lines' loads, and bit-serial pulse inputs on either side.
``CoreCircuit.forward`` / ``backward`` run a batch of MVMs through Brian2 the way ``Core.forward``
/ ``backward`` run them through the batch engine.
"""

from __future__ import annotations

from typing import Any

import brian2 as b2
import numpy as np
from numpy.typing import ArrayLike

from ..._checks import as_finite_array, check_choice, check_int
from ...hw.core import Core
from ...physics.device import RRAMDevice
from ...physics.encoding import bit_serial_codes
from ...physics.neuron import cycle_coefficients, phase_split, quantize_inputs
from .neurons import MODES, NeuRRAMNeurons
from .synapses import TransposableSynapses

__all__ = ["from_core", "CoreCircuit", "bit_serial_pulses"]


def bit_serial_pulses(q: np.ndarray, in_bits: int, pulse_multiplier: int = 1) -> np.ndarray:
    """Ternary pulses per cycle of a batch of signed integer codes q (batch, lines), input after
    input: (batch * cycles, lines), in the order of :func:`snn_neurram.encoding.bit_serial`."""
    per_step = bit_serial_codes(q, in_bits, pulse_multiplier)          # (cycles, batch, lines)
    return per_step.transpose(1, 0, 2).reshape(-1, q.shape[1]).astype(float)


class CoreCircuit:
    """A core's conductances as Brian2 objects, with bit-serial pulse drivers.

    Attributes
    ----------
    rows : NeuRRAMNeurons
        One neuron per row pair in use (inputs, then bias rows): the backward outputs.
    cols : NeuRRAMNeurons
        One neuron per column in use: the forward outputs.
    synapses : TransposableSynapses
    network : brian2.Network
        Holds the objects above plus the pulse drivers; add monitors to it freely.
    """

    def __init__(self, core: Core, device: RRAMDevice | None = None,
                 codeobj_class: type | None = None, block: int = 0):
        self.core = core
        b = core.get_block(block)
        self.block = block
        P, N = b.n_pairs, b.n_out
        dev = core.device if device is None else device
        kw: dict[str, Any] = {} if codeobj_class is None else {"codeobj_class": codeobj_class}
        # the read noise is the device's, set on both groups by the synapses
        self.rows = NeuRRAMNeurons(P, b.neuron, mode="linear", backward=True, **kw)
        self.cols = NeuRRAMNeurons(N, b.neuron, mode="linear", **kw)
        gp, gm = core.pair_rows(b)
        self.synapses = TransposableSynapses(
            self.rows, self.cols, conductances=(gp[:, b.cols], gm[:, b.cols]), device=dev, **kw)
        # cells of the lines outside the mapped block still load them
        loads = core.idle_loads(block)
        self.cols.add_core_loads(loads, "columns")
        self.rows.add_core_loads(loads, "rows")
        # pulse drivers: override the outputs y of the driving side each cycle
        drive = "y = pulses(t - t_start, i)"
        self.row_drive = self.rows.run_regularly(drive, when="groups", order=-20,
                                                 name=self.rows.name + "_drive")
        self.col_drive = self.cols.run_regularly(drive, when="groups", order=-20,
                                                 name=self.cols.name + "_drive")
        self.v_rows = b2.StateMonitor(self.rows, "v_out", record=True, when="end")
        self.v_cols = b2.StateMonitor(self.cols, "v_out", record=True, when="end")
        self.y_rows = b2.StateMonitor(self.rows, "y", record=True, when="end")
        self.y_cols = b2.StateMonitor(self.cols, "y", record=True, when="end")
        self.network = b2.Network(self.rows, self.cols, self.synapses, self.v_rows, self.v_cols,
                                  self.y_rows, self.y_cols)

    def _run(self, x, in_bits, out_bits, activation, direction, x_max, pad):
        core = self.core
        b = core.get_block(self.block)
        cfg = b.neuron
        in_bits = check_int(in_bits, "in_bits", 1, 8)
        if len(phase_split(in_bits, cfg.max_phase_bits)) > 1:
            raise ValueError(f"the Brian2 engine runs single-phase MVMs: in_bits <= "
                             f"{cfg.max_phase_bits} (got {in_bits})")
        check_choice(activation, "activation", tuple(m for m in MODES if m != "lif"))
        if direction == "forward":
            drive, out = self.rows, self.cols
            q = quantize_inputs(as_finite_array(x, "x", ndim=2, shape=(None, b.n_in)),
                                in_bits, b.mapping.x_max)
            q = np.hstack([q, np.full((len(q), b.n_bias_rows), 2.0 ** in_bits - 1)])
            x_scale = b.mapping.x_max
        else:
            drive, out = self.cols, self.rows
            q = quantize_inputs(as_finite_array(x, "y", ndim=2, shape=(None, b.n_out)),
                                in_bits, x_max)
            if pad == "alternate":
                raise ValueError("pad='alternate' is not modelled by the Brian2 builder")
            x_scale = x_max
        batch = len(q)
        cycles = cycle_coefficients(in_bits, cfg)[2]
        pulses = bit_serial_pulses(q, in_bits, cfg.pulse_multiplier)
        dt = self.rows.clock.dt
        table = b2.TimedArray(pulses, dt=dt)
        for g in (self.rows, self.cols):
            g.apply_config(cfg)
            g.reset_state()
        out.set_mode(activation, out_bits)
        out.window = cycles
        drive.window = cycles
        self.row_drive.active = direction == "forward"
        self.col_drive.active = direction == "backward"
        drive.cycle_op.active = False          # the driving side only holds its pulses
        drive.readout_op.active = False
        out.cycle_op.active = True
        units = cfg.adc_lsb / core.gain(direction, b) * x_scale / (2 ** in_bits - 1)
        out.unit = np.concatenate([units, np.ones(len(out) - len(units))])
        t_start = self.network.t
        v_mon = self.v_cols if direction == "forward" else self.v_rows
        y_mon = self.y_cols if direction == "forward" else self.y_rows
        n_before = len(v_mon.t)
        self.network.run(batch * cycles * dt, namespace={"pulses": table, "t_start": t_start})
        ends = n_before + np.arange(cycles - 1, batch * cycles, cycles)
        v = np.asarray(v_mon.v_out[:, ends]).T
        y = np.asarray(y_mon.y[:, ends]).T
        if direction == "backward":
            v, y = v[:, :b.n_in], y[:, :b.n_in]
        return v, y

    def forward(self, x: ArrayLike, in_bits: int = 4, out_bits: int = 8,
                activation: str = "linear") -> tuple[np.ndarray, np.ndarray]:
        """Forward MVMs of a batch through Brian2, one bit-serial window per input.

        Returns (V, y): the integrated voltages (V) at conversion and the outputs, each
        (batch, n_out), in the units of :meth:`snn_neurram.Core.forward`.
        """
        return self._run(x, in_bits, out_bits, activation, "forward", None, "zero")

    def backward(self, y: ArrayLike, in_bits: int = 4, out_bits: int = 8,
                 activation: str = "linear", y_max: float = 1.0,
                 pad: str = "zero") -> tuple[np.ndarray, np.ndarray]:
        """Backward MVMs of a batch through Brian2; returns (V, outputs), each (batch, n_in)."""
        return self._run(y, in_bits, out_bits, activation, "backward", y_max, pad)


def from_core(core: Core, device: RRAMDevice | None = None, codeobj_class: type | None = None,
              block: int = 0) -> CoreCircuit:
    """Brian2 objects of a programmed core, its conductances carried over unchanged.

    Parameters
    ----------
    core : Core
        A programmed core (``Core(...).program(W)`` or ``program_blocks``).
    device : RRAMDevice, optional
        Device whose read noise the Brian2 reads use; by default the core's.
    codeobj_class : type, optional
        Brian2 code object class of every object (e.g. for a per-object target).
    block : int
        Index of the mapped block to build, >= 0.

    Returns
    -------
    CoreCircuit
        ``.rows``, ``.cols``, ``.synapses``, ``.network``; ``.forward(x, ...)`` /
        ``.backward(y, ...)`` like ``core.forward`` / ``core.backward``. One step is one
        cycle: set ``brian2.defaultclock.dt = CYCLE_TIME`` to keep chip time (the
        results do not depend on it).
    """
    if not isinstance(core, Core):
        raise TypeError(f"core must be an snn_neurram.Core (got {type(core).__name__})")
    core.get_block(0)
    return CoreCircuit(core, device=device, codeobj_class=codeobj_class, block=block)
