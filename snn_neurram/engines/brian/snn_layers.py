"""The pieces of a compiled spiking program as Brian2 objects (used by
:mod:`~snn_neurram.engines.brian.snn_builder`).

A weighted layer is two groups, ``batch`` copies each. Its neurons, a :class:`SpikingLayerGroup`:
one per output of a Dense layer, one per output channel and pixel of a convolution
(channel-major). Its lines, a :class:`LineGroup`: one per neuron and row segment k of the layer's
matrix (line k * neurons + n). A line is the column of one block on one core: the spikes of the
block's rows add their pairs' G+ - G- to the line's ``num`` (one Brian2 ``Synapses`` per source of
rows, ``on_pre``, whatever the number of blocks), its bias rows (driven every cycle) are a
constant ``bias``, and in every cycle it settles at

    V = V_read m (num + bias) / load

with ``load`` every cell on the column of the block's core (idle rows, the padding rows of a
convolution and other blocks' rows included) and m the first cycle coefficient of the block's
operating point (:func:`~snn_neurram.physics.neuron.cycle_coefficients`: c_ratio for one
cycle). The line gives ``y``: for a layer of one row segment the analog increment V (clipped at
the swing); for a layer of several, its segment's partial sum through the block's 8-bit linear
ADC (:func:`~snn_neurram.engines.brian.neurons.signed_adc_code`, clipped at the swing) times
the block's unit (output units) -- what the batch engine's ``integrate_codes`` and
``mvm_codes(..., 1, PARTIAL_BITS, "linear")`` give. A summed ``Synapses`` adds a neuron's lines,
segment after segment, into its ``dv``; the neuron then takes the package's LIF step
(:func:`~snn_neurram.physics.neuron.lif_step`, written in Brian2): leak, saturation at the swing
(analog membranes only), reset, refractory cycles, and the gating window of a native layer
(cycles ``t_on`` ... ``t_off``; outside it, no step at all).

Which copy of a replicated block serves which input follows the batch engine (its batch rows --
inputs, or inputs x pixels for a convolution -- split evenly over the copies), so both engines
read the same cells.

Max-pooling and latched rows (latency coding) between layers go through a
:class:`SpikeRelay`: within the same step (it fires in the ``synapses`` slot, after the layer
that feeds it and before the synapses it feeds), a relay neuron spikes when any neuron of its
window spiked -- two spikes in one window make one -- and, latched, in every later step too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import brian2 as b2
import numpy as np

from ...compiler.conversion import PARTIAL_BITS, SpikingLayerPlan
from ...nn.layers import Conv2d, Flatten, MaxPool2d
from ...physics.neuron import adc_levels, cycle_coefficients
from .neurons import signed_adc_code

__all__ = ["SpikingLayerGroup", "LineGroup", "SpikeRelay", "LayerWiring", "layer_wiring",
           "line_sums", "relay_pairs", "spike_synapses", "RELAY_ORDER", "LAYER_ORDER",
           "SegmentActivity", "activity_index"]

#: Orders in the ``synapses`` slot: pathways into a relay (Brian2's default -1), the relay's
#: threshold, the pathways out of it.
RELAY_ORDER = (-1, 1, 2)
#: Orders in the ``groups`` slot: the lines settle, their sums are formed, the neurons step.
LAYER_ORDER = (-3, -2, 0)


@dataclass
class Wire:
    """Synapses from one source of rows to a layer's lines."""

    source: str                     # "input" (the layer's input rows) or "self" (recurrent)
    pre: np.ndarray                 # source neuron per synapse (all copies), int32
    post: np.ndarray                # target line per synapse: segment * neurons + neuron
    values: dict[str, np.ndarray]   # "dG" = G+ - G- (S); with read noise "gs" = G+ + G-
    #                                 (float32: it enters the noise's moments only)


class _Piece:
    """The synapses of one block from one source of rows, made on demand (so that a layer's
    synapses are written into arrays of their final size and type, one block at a time)."""

    def __init__(self, source: str, n: int, make: Any) -> None:
        self.source, self.n, self.make = source, n, make


@dataclass
class LayerWiring:
    """Everything a layer needs: the constants of its lines (segment-major: line
    k * n_neurons + n is neuron n's line of row segment k) and its synapses."""

    n_neurons: int
    segments: int
    digital: bool
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    wires: list[Wire] = field(default_factory=list)
    theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lsb: float = 0.0
    swing: float = 0.0
    levels: float = 0.0


def _replica(n_rows: int, n_reps: int) -> np.ndarray:
    """Which copy of a block serves each of ``n_rows`` batch rows (the batch engine splits its
    rows evenly, in order, over the copies)."""
    bounds = np.linspace(0, n_rows, n_reps + 1).astype(int)
    return np.searchsorted(bounds, np.arange(n_rows), side="right") - 1


def layer_wiring(program: Any, sp: SpikingLayerPlan, batch: int, in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...], sigma: float = 0.0) -> LayerWiring:
    """Line constants and synapses of one weighted layer, ``batch`` copies (see the module
    documentation); ``sigma``: the cells' relative read noise (0: none)."""
    layer, plan = sp.layer, sp.plan
    cores = program.chip.cores
    dtype = program.dtype
    n_src = int(np.prod(in_shape))
    n_out = int(np.prod(out_shape))
    conv = isinstance(layer, Conv2d)
    pixels = int(np.prod(out_shape[1:])) if conv else 1
    segments = plan.n_rseg
    N = batch * n_out
    names = ["bias", "load", "kv"] + (["unit", "driven"] if sp.digital else []) + (
        ["bvar", "bcov", "lsq", "sig"] if sigma > 0 else [])
    arrays = {name: np.zeros(N * segments) for name in names}
    pieces: list[_Piece] = []
    copies = np.arange(batch)
    lsb = swing = None
    levels = 0.0
    for blk, cfg in zip(plan.blocks, sp.block_configs):
        k = blk.rseg
        reps = blk.placements
        rep = _replica(batch * pixels, len(reps))
        width = blk.c1 - blk.c0
        n_w = blk.r1 - blk.r0
        gps, gms = [], []
        per_col: dict[str, list[np.ndarray]] = {name: [] for name in names}
        mean, var, _ = cycle_coefficients(1, cfg)
        for pl in reps:
            core = cores[pl.core]
            b = core.get_block(pl.block)
            gp_rows, gm_rows = core.pair_rows(b)
            gp, gm = gp_rows[:, b.cols], gm_rows[:, b.cols]
            gps.append(gp[:n_w])
            gms.append(gm[:n_w])
            per_col["bias"].append((gp[n_w:] - gm[n_w:]).sum(axis=0))
            per_col["load"].append(core.G.sum(axis=0)[b.cols])
            per_col["kv"].append(np.full(width, cfg.v_read * float(mean[0])))
            if sp.digital:
                unit = cfg.adc_lsb / core.gain("forward", b, cfg) * b.mapping.x_max
                per_col["unit"].append(unit.astype(dtype).astype(float))
                per_col["driven"].append(np.full(width, float(blk.has_bias)))
            if sigma > 0:
                per_col["bvar"].append((gp[n_w:] ** 2 + gm[n_w:] ** 2).sum(axis=0))
                per_col["bcov"].append((gp[n_w:] ** 2 - gm[n_w:] ** 2).sum(axis=0))
                per_col["lsq"].append((core.G[:, b.cols] ** 2).sum(axis=0))
                per_col["sig"].append(np.full(width, sigma * np.sqrt(float(var[0]))
                                              / float(mean[0])))
        if lsb is None:
            lsb, swing = cfg.adc_lsb, cfg.v_swing
            levels = float(adc_levels(PARTIAL_BITS, "linear", cfg))
        elif (lsb, swing) != (cfg.adc_lsb, cfg.v_swing):
            raise ValueError(f"layer {plan.name!r}: its blocks' ADC steps or swings differ; the "
                             "Brian2 engine needs one per layer")
        # lines of the block's columns, all copies, and the copy of the block serving each
        cols = np.arange(blk.c0, blk.c1)
        if conv:
            idx = (copies[:, None, None] * n_out + cols[None, :, None] * pixels
                   + np.arange(pixels)[None, None, :])                      # (batch, width, P)
            q = rep.reshape(batch, 1, pixels).repeat(width, axis=1)
            j = np.broadcast_to(np.arange(width)[None, :, None], idx.shape)
        else:
            idx = copies[:, None] * n_out + cols[None, :]                    # (batch, width)
            q = np.broadcast_to(rep[:, None], idx.shape)
            j = np.broadcast_to(np.arange(width)[None, :], idx.shape)
        for name, per in per_col.items():
            arrays[name][k * N + idx.ravel()] = np.stack(per)[q.ravel(), j.ravel()]
        dg_p, dg_m = np.stack(gps), np.stack(gms)                           # (reps, rows, width)
        if conv:
            pieces += _conv_pieces(layer, blk, in_shape, out_shape, batch, rep, dg_p, dg_m,
                                   k * N)
        else:
            pieces += _dense_pieces(blk, n_src, n_out, batch, rep, dg_p, dg_m, k * N)
    theta = sp.theta.repeat(pixels) if conv else sp.theta
    assert lsb is not None and swing is not None
    return LayerWiring(N, segments, sp.digital, arrays, _assemble(pieces, sigma > 0),
                       np.tile(theta, batch), lsb, swing, levels)


def _assemble(pieces: list[_Piece], noisy: bool) -> list[Wire]:
    """One wire per source of rows (one ``Synapses`` object each: few objects per step), the
    blocks in the order of the plan."""
    out = []
    for source in dict.fromkeys(p.source for p in pieces):
        part = [p for p in pieces if p.source == source]
        n = sum(p.n for p in part)
        pre, post = np.empty(n, np.int32), np.empty(n, np.int32)
        values = {"dG": np.empty(n)}
        if noisy:
            values["gs"] = np.empty(n, np.float32)
        at = 0
        for p in part:
            a, b, gp, gm = p.make()
            sl = slice(at, at + p.n)
            pre[sl], post[sl] = a, b
            values["dG"][sl] = gp - gm
            if noisy:
                values["gs"][sl] = gp + gm
            at += p.n
            p.make = None
        out.append(Wire(source, pre, post, values))
    return out


def _dense_pieces(blk, n_src, n_out, batch, rep, gp, gm, offset):
    """Synapses of a dense block: rows blk.r0:r1 (the input's, then for a recurrent layer the
    layer's own neurons), columns blk.c0:c1, one copy per input; lines from ``offset``."""
    out = []
    width = blk.c1 - blk.c0
    copies = np.arange(batch)
    for source, lo, hi, base in (("input", blk.r0, min(blk.r1, n_src), 0),
                                 ("self", max(blk.r0, n_src), blk.r1, n_src)):
        if hi <= lo:
            continue
        n_pre = n_src if source == "input" else n_out

        def make(lo=lo, hi=hi, base=base, n_pre=n_pre):
            rows = np.arange(lo, hi)
            pre = copies[:, None, None] * n_pre + (rows - base)[None, :, None]
            post = offset + copies[:, None, None] * n_out + blk.c0 + np.arange(width)[None,
                                                                                        None, :]
            sel = slice(lo - blk.r0, hi - blk.r0)
            shape = (batch, hi - lo, width)
            return (np.broadcast_to(pre, shape).ravel(), np.broadcast_to(post, shape).ravel(),
                    gp[rep][:, sel].ravel(), gm[rep][:, sel].ravel())

        out.append(_Piece(source, batch * (hi - lo) * width, make))
    return out


def _conv_pieces(layer, blk, in_shape, out_shape, batch, rep, gp, gm, offset):
    """Synapses of a convolution block, unrolled: output pixel p of channel o takes the input
    pixels of its patch through the cells of rows blk.r0:r1 (patch features (c, i, j)) of
    column o. Rows that fall on the padding have no synapse (their cells stay idle, at V_ref,
    and load the column)."""
    C, H, W = in_shape
    _, Ho, Wo = out_shape
    kh, kw = layer.W.shape[2:]
    s, pad = layer.stride, layer.padding
    P = Ho * Wo
    feats = np.arange(blk.r0, blk.r1)
    ci, ki, kj = np.unravel_index(feats, (C, kh, kw))
    oh, ow = np.divmod(np.arange(P), Wo)
    ih = oh[None, :] * s + ki[:, None] - pad                                # (features, P)
    iw = ow[None, :] * s + kj[:, None] - pad
    valid = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    f_idx, p_idx = np.nonzero(valid)
    width = blk.c1 - blk.c0
    n_src, n_out = C * H * W, int(np.prod(out_shape))

    def make():
        src = ci[f_idx] * H * W + ih[f_idx, p_idx] * W + iw[f_idx, p_idx]
        copies = np.arange(batch)[:, None, None]
        o = np.arange(blk.c0, blk.c1)[None, None, :]
        shape = (batch, len(f_idx), width)
        pre = np.broadcast_to(copies * n_src + src[None, :, None], shape).ravel()
        post = np.broadcast_to(offset + copies * n_out + o * P + p_idx[None, :, None],
                               shape).ravel()
        q = rep.reshape(batch, P)[:, p_idx][:, :, None]                      # (batch, pairs, 1)
        f, j = f_idx[None, :, None], np.arange(width)[None, None, :]
        return pre, post, gp[q, f, j].ravel(), gm[q, f, j].ravel()

    return [_Piece("input", batch * len(f_idx) * width, make)]


def relay_pairs(ops: list[Any], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """(source neuron, relay neuron) pairs, per copy, of the digital operations ``ops``
    (flattening, max-pooling) applied to a spike map of ``shape``: relay neuron r spikes when
    any of its sources spiked. Returns (sources, relays, relay count)."""
    n = int(np.prod(shape))
    src, dst = np.arange(n), np.arange(n)
    for op in ops:
        if isinstance(op, Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(op, MaxPool2d):
            C, H, W = shape
            Co, Ho, Wo = op.output_shape(shape)
            c, oh, ow, a, b = np.meshgrid(np.arange(C), np.arange(Ho), np.arange(Wo),
                                          np.arange(op.kernel), np.arange(op.kernel),
                                          indexing="ij")
            p_in = (c * H + oh * op.stride + a) * W + ow * op.stride + b
            p_out = (c * Ho + oh) * Wo + ow
            p_in, p_out = p_in.ravel(), p_out.ravel()
            order = np.argsort(p_in, kind="stable")
            p_in, p_out = p_in[order], p_out[order]
            lo = np.searchsorted(p_in, dst, side="left")
            hi = np.searchsorted(p_in, dst, side="right")
            reps = hi - lo
            src = np.repeat(src, reps)
            starts = np.repeat(lo, reps)
            offs = np.arange(len(starts)) - np.repeat(np.cumsum(reps) - reps, reps)
            dst = p_out[starts + offs]
            key = np.unique(src * (Co * Ho * Wo) + dst)
            src, dst = np.divmod(key, Co * Ho * Wo)
            shape = (Co, Ho, Wo)
        else:
            raise ValueError(f"no spiking form for {type(op).__name__}")
    return src, dst, int(np.prod(shape))


class SpikeRelay(b2.NeuronGroup):
    """Spikes in the step its sources spike (max-pooling: any source of its window), or,
    ``latch=True``, in that step and every later one (the latched rows of latency coding)."""

    def __init__(self, N: int, latch: bool, name: str):
        super().__init__(N, "hit : integer\non : integer\nlatch : integer (shared, constant)",
                         threshold="hit > 0 or on > 0", reset="hit = 0\non = latch", name=name)
        self.latch = int(latch)
        self.thresholder["spike"].when = "synapses"
        self.thresholder["spike"].order = RELAY_ORDER[1]


_SETTLE_NOISY = """
m = num + bias
vn = nvar + bvar + 1e-60
cv = ncov + bcov
xa = randn()
xb = randn()
line = kv * (m + sig * sqrt(vn) * xa) / (load + sig * (cv / sqrt(vn) * xa + sqrt(clip(lsq - cv**2 / vn, 0, lsq)) * xb))
nvar = 0
ncov = 0
"""
_SETTLE_QUIET = """
line = kv * (num + bias) / load
"""


class LineGroup(b2.NeuronGroup):
    """The lines of a layer: one per neuron and row segment (see the module documentation).
    Each cycle a line settles, and gives ``y``: the analog increment of the integrator (V),
    or its segment's ADC code times the unit (output units, ``digital``)."""

    def __init__(self, wiring: LayerWiring, noisy: bool, name: str):
        digital = wiring.digital
        eqs = ["num : 1", "y : 1", "bias : 1 (constant)", "load : 1 (constant)",
               "kv : 1 (constant)"]
        if digital:
            eqs += ["unit : 1 (constant)", "driven : 1 (constant)", "active : 1 (linked)"]
        if noisy:
            eqs += ["nvar : 1", "ncov : 1"] + [f"{n} : 1 (constant)"
                                               for n in ("bvar", "bcov", "lsq", "sig")]
        eqs += [f"{v} : 1 (shared, constant)" for v in ("lsb", "lsb_inv", "sw", "levels")]
        super().__init__(wiring.n_neurons * wiring.segments, "\n".join(eqs), name=name)
        code = _SETTLE_NOISY if noisy else _SETTLE_QUIET
        code += "x = clip(line * lsb_inv, -sw, sw)\nnum = 0\n"
        if digital:      # a segment none of whose rows is pulsed is not converted
            code += f"y = int(active + driven > 0) * {signed_adc_code('x', 'levels')} * unit\n"
        else:
            code += "y = x * lsb\n"
        self.run_regularly(code, when="groups", order=LAYER_ORDER[0], name=name + "_settle")
        for var, value in wiring.lines.items():
            self.variables[var].set_value(value)
        self.lsb = wiring.lsb
        self.lsb_inv = 1.0 / wiring.lsb
        self.sw = wiring.swing / wiring.lsb
        self.levels = wiring.levels


class SegmentActivity(b2.NeuronGroup):
    """Whether the rows of a row segment got a pulse this cycle, one neuron per (segment,
    input copy, output pixel) of a digital layer: its lines (:class:`LineGroup`) read it
    through a linked variable after their settle, and it is cleared after that. Fed by
    synapses from the rows' sources (``active_post = 1``: a few per source neuron, against
    one per cell for the lines)."""

    def __init__(self, N: int, name: str):
        super().__init__(N, "active : 1", name=name)
        self.run_regularly("active = 0", when="groups", order=LAYER_ORDER[0] + 1,
                           name=name + "_clear")


def activity_index(lines: np.ndarray, wiring: LayerWiring, batch: int, pixels: int) -> np.ndarray:
    """Index in the layer's :class:`SegmentActivity` of each line (segment, copy, pixel)."""
    N = wiring.n_neurons
    n_out = N // batch
    seg, rem = np.divmod(lines, N)
    copy, o = np.divmod(rem, n_out)
    return (seg * batch + copy) * pixels + o % pixels


class SpikingLayerGroup(b2.NeuronGroup):
    """The neurons of one weighted layer (see the module documentation): membrane ``v`` (volts,
    or output units for a digital membrane), threshold ``theta`` per neuron, the increment
    ``dv`` summed from the neuron's lines; ``fires`` = 0 for an output read by its membrane;
    with ``sp.latency`` a neuron fires at most once."""

    def __init__(self, wiring: LayerWiring, sp: SpikingLayerPlan, t_on: int, t_off: int,
                 name: str):
        eqs = ["v : 1", "dv : 1", "theta : 1 (constant)", "ref_left : integer",
               "free_now : integer", "fired : integer"]
        eqs += [f"{v} : 1 (shared, constant)" for v in ("leak", "v_swing", "reset_sub")]
        eqs += [f"{v} : integer (shared, constant)"
                for v in ("refractory_cycles", "fires", "t_on", "t_off")]
        threshold = "fires == 1 and free_now == 1 and v >= theta"
        if sp.latency:
            threshold += " and fired == 0"
        super().__init__(wiring.n_neurons, "\n".join(eqs), threshold=threshold,
                         reset="v = reset_sub * (v - theta)\nref_left = refractory_cycles\n"
                               "fired = 1", name=name)
        new = "(1 - leak) * v + dv"
        if not wiring.digital:
            new = f"clip({new}, -v_swing, v_swing)"
        self.run_regularly(
            "act = int(t_in_timesteps >= t_on) * int(t_in_timesteps <= t_off)\n"
            "free_now = act * int(ref_left <= 0)\n"
            f"v = free_now * ({new}) + (1 - free_now) * v\n"
            "ref_left = ref_left - act * int(ref_left > 0)\n",
            when="groups", order=LAYER_ORDER[2], name=name + "_cycle")
        self.variables["theta"].set_value(wiring.theta)
        cfg = sp.neuron
        self.leak = cfg.leak
        self.v_swing = cfg.v_swing
        self.reset_sub = 1.0 if cfg.reset == "subtract" else 0.0
        self.refractory_cycles = cfg.refractory
        self.fires = int(sp.fires)
        self.t_on, self.t_off = t_on, t_off


def line_sums(lines: LineGroup, neurons: SpikingLayerGroup, wiring: LayerWiring,
              name: str) -> Any:
    """The summed ``Synapses`` that add each neuron's lines into its ``dv``, segment after
    segment (the order the batch engine adds its blocks in)."""
    N, R = wiring.n_neurons, wiring.segments
    syn = b2.Synapses(lines, neurons, "dv_post = y_pre : 1 (summed)", name=name)
    syn.connect(i=np.arange(N * R, dtype=np.int32), j=np.tile(np.arange(N, dtype=np.int32), R))
    syn.summed_updaters["dv_post"].order = LAYER_ORDER[1]
    return syn


def spike_synapses(source: Any, target: Any, pre: np.ndarray, post: np.ndarray, on_pre: str,
                   values: dict[str, np.ndarray], name: str, order: int | None = None) -> Any:
    """A ``Synapses`` object from arrays: one ``connect`` call (so that Brian2 allocates its
    arrays once, at their size), constant per-synapse ``values`` (stored in their arrays'
    types), no per-synapse delay."""
    model = "\n".join(f"{var} : 1 (constant)" for var in values)
    dtype = {var: v.dtype for var, v in values.items() if v.dtype != np.float64}
    syn = b2.Synapses(source, target, model, on_pre=on_pre, delay=0 * b2.second, name=name,
                      dtype=dtype or None)
    syn.connect(i=np.asarray(pre, np.int32), j=np.asarray(post, np.int32))
    for var, value in values.items():
        syn.variables[var].set_value(value)
    if order is not None:
        syn.pre.order = order
    return syn
