"""ANN-to-SNN conversion of a compiled network: which layers spike, at what thresholds.

Data-based normalisation (Diehl et al. 2015, Rueckauer et al. 2017): every weighted layer keeps
its weights and calibrated ranges -- x_max, the range of its input, and out_top, the range of its
ReLU output. One time step is one neuron cycle. A neuron integrates
dV_j = c_ratio V_read sum_i s_i (G+ - G-)_ij / S_j = g_j (sum_i s_i w_ij + b_j / x_max) per step
(g_j the column's nominal gain, its bias rows pulsed every step) and fires at
theta_j = g_j out_top / x_max: its rate then approximates a_j / out_top.

Layers of one row segment integrate in their neurons with the chip's neuron design
(``chip.neuron``: leak, reset, refractory period, swing); each block drives its rows at the
V_read of its calibrated operating point for :data:`OPERATING_BITS`-bit inputs and outputs (with
no pulse repeats), so that a layer's spikes are scaled as its multi-bit MVMs are. A layer split over row segments
cannot add analog charge across cores: each segment converts its per-step partial sum with an
8-bit linear ADC at its own operating point, and the sums are added into a digital membrane
(threshold out_top, in output units; no leak, no saturation).

Native spiking layers (:mod:`snn_neurram.nn.spiking`) keep their own thresholds, leaks and
resets: :func:`spiking_plan` takes them from :mod:`snn_neurram.compiler.native`.

Both spiking engines (batch and Brian2) take their thresholds and operating points from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn.graph import leaves
from ..nn.layers import Conv2d, Dense, Flatten, MaxPool2d
from ..nn.spiking import is_spiking
from ..physics.neuron import NeuronConfig
from .native import is_native, native_block_configs
from .operating import operating_point
from .plan import LayerPlan, ProgramPlan

__all__ = ["PARTIAL_BITS", "OPERATING_BITS", "CODINGS", "SpikingLayerPlan", "snn_layers", "spiking_plan"]

#: Bits of the per-step partial sums of a layer split over row segments.
PARTIAL_BITS = 8
#: (in_bits, out_bits) of the calibrated operating point whose V_read analog layers spike at.
OPERATING_BITS = (4, 4)
#: Input codings of the spiking engines ("spikes": the inputs are spike trains already).
CODINGS = ("rate", "regular", "latency", "spikes")


@dataclass
class SpikingLayerPlan:
    """How one weighted layer runs as spiking neurons.

    Attributes
    ----------
    plan : LayerPlan
    layer : Dense or Conv2d
    digital : bool
        The layer spans several row segments: a digital membrane adds 8-bit partial sums.
    neuron : NeuronConfig
        The LIF parameters (leak, reset, refractory, swing) of the layer's neurons; for a digital
        membrane its leak is 0.
    block_configs : list of NeuronConfig
        Operating point of every block of the layer (passed to its MVMs).
    theta : ndarray (n_out,)
        Firing threshold per output: volts (analog) or output units (digital).
    fires : bool
        False for the output layer read out by its membrane.
    latency : bool
        Time-to-first-spike coding: a neuron fires at most once.
    recurrent : bool
        The layer's own spikes of the previous step drive rows of its matrix (after the
        input's).
    native : bool
        A native spiking layer: in a run of ``steps`` steps, the k-th spiking layer integrates
        in cycles k + 1 ... k + steps only (the pipeline; see :mod:`snn_neurram.nn.spiking`),
        and rests (no MVM, no leak) in the others.
    """

    plan: LayerPlan
    layer: Any
    digital: bool
    neuron: NeuronConfig
    block_configs: list[NeuronConfig]
    theta: np.ndarray
    fires: bool
    latency: bool
    recurrent: bool = False
    native: bool = False

    def active(self, k: int, t: int, steps: int) -> bool:
        """Whether the k-th spiking layer integrates in cycle t of a run of ``steps`` steps."""
        return not self.native or k + 1 <= t <= k + steps


def snn_layers(model: Any) -> list[Any]:
    """The model as a flat list of layers, checked for a spiking form."""
    is_native(model)                    # refuses a mix of native and converted layers
    out = []
    for node in leaves(model):
        if getattr(node, "activation", None) == "lstm":
            raise ValueError(f"{node.name}: LSTM cells have no spiking form here; they run in "
                             "multi-bit mode (mode='ann')")
        if not isinstance(node, (Dense, Conv2d, Flatten, MaxPool2d)):
            raise ValueError(f"mode='snn' runs Dense, Conv2d, MaxPool2d and Flatten layers; "
                             f"{type(node).__name__} ({getattr(node, 'name', '')}) has no "
                             "spiking form here")
        out.append(node)
    return out


def spiking_plan(program: ProgramPlan, layer: Any, last: bool, readout: str, coding: str,
                 steps: int) -> SpikingLayerPlan:
    """Thresholds and operating points of one weighted layer in a spiking run."""
    plan = program.plan_of(layer)
    digital = plan.n_rseg > 1
    if is_spiking(layer):
        configs, theta, neuron = native_block_configs(
            program, plan, layer, lambda blk: operating_point(program, blk, plan, 1, PARTIAL_BITS))
        return SpikingLayerPlan(plan, layer, digital, neuron, configs, theta,
                                fires=not (last and readout == "membrane"), latency=False,
                                recurrent=bool(layer.recurrent), native=True)
    cfg = program.chip.neuron.replace(pulse_multiplier=1)
    cores = program.chip.cores
    if digital:
        configs = [operating_point(program, blk, plan, 1, PARTIAL_BITS) for blk in plan.blocks]
        theta = np.full(plan.n_out, plan.out_top)
        cfg = cfg.replace(leak=0.0)
    else:
        configs = [operating_point(program, blk, plan, *OPERATING_BITS).replace(
            pulse_multiplier=1) for blk in plan.blocks]
        theta = np.empty(plan.n_out)
        for blk, bcfg in zip(plan.blocks, configs):
            pl = blk.placements[0]
            gain = cores[pl.core].gain("forward", pl.block, bcfg)
            theta[blk.c0:blk.c1] = gain * plan.out_top / plan.x_max
    latency = coding == "latency"
    if latency and not last:
        # fire once on the latched ramp after about steps / 4 full-rate steps, within the
        # integrator's swing
        factor = max(1.0, steps / 4)
        if not digital:
            factor = min(factor, 0.75 * cfg.v_swing / theta.max())
        theta = theta * max(1.0, factor)
    return SpikingLayerPlan(plan, layer, digital, cfg, configs, theta,
                            fires=not (last and readout == "membrane"), latency=latency)
