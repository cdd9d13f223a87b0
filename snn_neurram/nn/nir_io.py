"""NIR (the Neuromorphic Intermediate Representation) import and export of native spiking networks.

:func:`from_nir` turns a NIR graph (a ``nir.NIRGraph`` or a file that ``nir.read`` reads) into a
:class:`~snn_neurram.nn.layers.Sequential` of :class:`~snn_neurram.nn.spiking.SpikingDense`,
:class:`~snn_neurram.nn.spiking.SpikingConv2d` and ``Flatten`` layers; :func:`to_nir` writes
such a network as a NIR graph. Both need the optional ``nir`` package
(``pip install 'snn_neurram[nir]'``); ``import snn_neurram`` does not.

Time-step rule
--------------
NIR's neurons are continuous-time; the chip runs discrete steps of ``dt`` seconds (default
1e-4 s, the step snnTorch's exporter assumes). A neuron with ``tau dv/dt = (v_leak - v) + r I``
takes one forward-Euler step per chip step::

    v[t] = beta v[t-1] + (r dt / tau) I[t] + (1 - beta) v_leak,     beta = 1 - dt / tau

so per node (all parameters may be per neuron; ``I[t]`` is the node's input in step t):

========== ===================================================================================
LIF        beta = 1 - dt/tau; the input scale r dt/tau (per neuron) multiplies the incoming
           weights and bias; (1 - beta) v_leak = (dt/tau) v_leak is added to the bias
IF         beta = 1, input scale r (``v += r I`` per step)
CubaLIF    only with a trivial synaptic filter, alpha = 1 - dt/tau_syn == 0 (within 1e-6):
           the current is then ``w_in (dt/tau_syn) S[t]`` and enters v in the same step
           (as snnTorch's ``Synaptic`` does); beta = 1 - dt/tau_mem, input scale
           w_in (dt/tau_syn) (r dt/tau_mem), bias (dt/tau_mem) v_leak
Threshold  a neuron without memory: beta = 0, reset to zero, input scale 1
LI, CubaLI leaky integrators that never fire: a non-firing readout layer (beta and scale as LIF
           and CubaLIF). Only as the last neuron layer; run the model with
           ``readout="membrane"``. Its threshold is 1 (the membrane readout, v / threshold, is
           then v itself), or the ``"threshold"`` of the node's metadata (:func:`to_nir` writes
           it, and the layer's ``"reset"``)
I          the integrator (nir.I): a non-firing readout with beta = 1 and input scale r
========== ===================================================================================

Weights with no neuron node after them (the graph's Output takes their output) are a
memoryless non-firing readout: beta = 0, threshold 1.

An input scale within 1e-6 of 1 is taken as 1 (the float32 round-off of exporters that write
``r = tau / dt``). ``beta`` must lie in [0, 1] (``tau >= dt``) and be one value per layer: the
chip's leak is set per layer (beta is rounded to 12 significant digits, which drops the
round-off of ``tau = dt / (1 - beta)`` and back); thresholds, input scales and leak biases may
differ per neuron (per output channel in a convolution). NIR's neuron fires when v > threshold,
the chip's when v >= threshold: they differ only when v lands exactly on the threshold.

Reset: NIR resets v to ``v_reset`` at once, in the same step. ``v_reset == 0`` imports as
``reset="zero"``; another ``v_reset`` is refused (the chip's neuron resets to zero or subtracts
its threshold). A node whose metadata holds ``{"reset": "subtract"}`` (as :func:`to_nir` writes
it) imports as reset by subtraction, and the ``reset=`` argument overrides every firing node
(``reset="subtract"`` for sources that subtract, e.g. snnTorch's default ``Leaky``).

Weights: NIR's weights are (out, in); the layers' are (in, out). ``Scale`` nodes fold into the
neighbouring weights (before a convolution: one factor per input channel; after one: per output
channel). ``SumPool2d`` / ``AvgPool2d`` are linear and fold into the next weighted layer where
that is exact: before ``Flatten`` + ``Affine`` / ``Linear`` the pooling matrix multiplies the
weights (any kernel and stride, no padding); before a convolution the kernel is expanded when
the pool is square, its stride equals its kernel, it has no padding and the convolution has no
padding. A ``Flatten`` between a convolution and its neurons moves behind the spiking layer.
Grouped convolutions become full ones (zero blocks).

``Conv1d`` becomes a ``SpikingConv2d`` of height 1: its input (C, L) is taken as (C, 1, L), so a
network that starts with a ``Conv1d`` takes inputs (C, 1, L) (spike trains (steps, batch, C, 1,
L)). Its padding p becomes a kernel of height 2 p + 1 whose only non-zero row is the middle one
(exact; the zero rows take array rows on the chip).

Recurrence: a cycle neuron -> Affine/Linear -> neuron (flat, as nirtorch writes snnTorch's
``RLeaky``, or nested as a ``NIRGraph`` subgraph, as snnTorch's own RLeaky export and importer
write it) becomes a ``SpikingDense`` with ``W_rec``: the neuron's spikes of step t - 1 reach it
in step t (snnTorch's timing), through the neuron's input scale; an ``Affine``'s bias adds to
the layer's bias.

Whatever the chip cannot express raises a ValueError naming the NIR node and what the chip
cannot do: branches and merges (the chip runs a chain of layers), ``Delay``, per-neuron leaks,
synaptic filters, a ``v_reset`` other than 0, two weight layers without neurons between them,
neurons without weights before them, pooling that does not fold exactly, padding or strides
that differ per axis, dilation, recurrent convolutions and non-firing readouts that are not last.

Export (:func:`to_nir`) is the inverse: ``Affine`` (``Linear`` without bias) or ``Conv2d``
nodes, then per layer a ``LIF`` (``tau = dt / (1 - beta)``, ``r = tau / dt``, so the input
scale is 1; ``v_leak = 0``, ``v_reset = 0``, ``{"reset": ...}`` in the node's metadata), or an
``IF`` (``r = 1``) for beta = 1; a recurrent layer as a ``NIRGraph`` subgraph holding the
``LIF`` <-> ``Linear`` cycle, the form in which ``snntorch.import_from_nir`` (snnTorch 1.0,
nirtorch 2.x) runs it correctly (a flat cycle it rewires so that the input passes through the
recurrent weights). A refractory period and max-pooling have no NIR form (ValueError). Read by
snnTorch, the graph loses what its importer does not read: every LIF resets to zero, an ``IF``
becomes a leaky neuron (beta 0.9), and a layer's thresholds must be equal.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._checks import check_choice, check_range
from .graph import leaves
from .layers import Flatten, MaxPool2d, Sequential
from .spiking import LIF, RESETS, SpikingConv2d, SpikingDense

__all__ = ["from_nir", "to_nir", "DT", "SCALE_TOL", "BETA_TOL", "ALPHA_TOL", "nir_module"]

#: Default length of one chip step in seconds (the dt of snnTorch's NIR exporter).
DT = 1e-4
#: Input scales within this relative distance of 1 are taken as 1.
SCALE_TOL = 1e-6
#: Largest spread of beta within one layer that still counts as one leak.
BETA_TOL = 1e-6
#: Largest synaptic decay alpha = 1 - dt / tau_syn that counts as no synaptic filter.
ALPHA_TOL = 1e-6


def nir_module() -> Any:
    """The ``nir`` package, or an ImportError saying how to install it."""
    try:
        import nir
    except ImportError as exc:
        raise ImportError("NIR import and export need the nir package: "
                          "pip install 'snn_neurram[nir]'") from exc
    return nir


# ---------------------------------------------------------------------------------- helpers

def _kind(node: Any) -> str:
    return type(node).__name__


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _pair(name: str, node: Any, value: Any, what: str) -> tuple[int, int]:
    """A 2-D size (int or pair) as a pair of ints."""
    v = np.atleast_1d(np.asarray(value)).astype(int).ravel()
    if v.size == 1:
        return int(v[0]), int(v[0])
    if v.size != 2:
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): {what} {value!r} is not one or two "
                         "sizes")
    return int(v[0]), int(v[1])


def _param(name: str, node: Any, what: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A neuron parameter as an array of the layer's (NIR) shape."""
    a = _arr(value)
    size = int(np.prod(shape))
    if a.size == size:
        return a.reshape(shape)
    try:
        return np.broadcast_to(a, shape).copy()
    except ValueError:
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): {what} has shape {a.shape}, which "
                         f"does not fit its layer of shape {shape}") from None


def _meta(node: Any, key: str) -> Any:
    meta = getattr(node, "metadata", None)
    if not isinstance(meta, dict) or key not in meta:
        return None
    v = meta[key]
    if isinstance(v, np.ndarray) and v.dtype.kind in "SUO" and v.ndim == 0:
        v = v.item()
    if isinstance(v, bytes):
        v = v.decode("utf8")
    return v


def _per_channel(name: str, node: Any, what: str, a: np.ndarray) -> np.ndarray:
    """One value per channel (axis 0) of a (C, ...) array, or a ValueError when it varies
    within a channel."""
    flat = a.reshape(a.shape[0], -1)
    if not np.allclose(flat, flat[:, :1], rtol=1e-9, atol=0.0):
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): its {what} varies within an "
                         "output channel; a convolution on the chip has one value per channel")
    return flat[:, 0].copy()


# ---------------------------------------------------------------------------------- graph

def _flatten_graph(nir: Any, nodes: dict[str, Any], edges: list[tuple[str, str]],
                   prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested NIRGraph nodes: (flat nodes, flat edges), names joined with '.'."""
    flat: dict[str, Any] = {}
    flat_edges: list[tuple[str, str]] = []
    ports: dict[str, tuple[list[str], list[str]]] = {}      # subgraph -> (entries, exits)
    for key, node in nodes.items():
        full = prefix + str(key)
        if not isinstance(node, nir.NIRGraph):
            flat[full] = node
            continue
        sub_nodes = {str(k): n for k, n in node.nodes.items()}
        sub_edges = _canonical_rnn(nir, sub_nodes, [(str(a), str(b)) for a, b in node.edges])
        ins = [k for k, n in sub_nodes.items() if isinstance(n, nir.Input)]
        outs = [k for k, n in sub_nodes.items() if isinstance(n, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"NIR subgraph {full!r} has {len(ins)} Input and {len(outs)} Output "
                             "nodes; the chip runs a chain of layers (one of each)")
        inner_nodes, inner_edges = _flatten_graph(nir, sub_nodes, sub_edges, full + ".")
        i_name, o_name = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        ports[full] = ([b for a, b in inner_edges if a == i_name],
                       [a for a, b in inner_edges if b == o_name])
        del inner_nodes[i_name], inner_nodes[o_name]
        flat.update(inner_nodes)
        flat_edges.extend((a, b) for a, b in inner_edges if i_name not in (a, b) and
                          o_name not in (a, b))
    for a0, b0 in edges:
        a, b = prefix + str(a0), prefix + str(b0)
        for key in (a, b):
            if key not in flat and key not in ports:
                raise ValueError(f"NIR edge ({a!r}, {b!r}) names a node {key!r} that the graph "
                                 "does not have")
        srcs = ports[a][1] if a in ports else [a]
        dsts = ports[b][0] if b in ports else [b]
        flat_edges.extend((s, d) for s in srcs for d in dsts)
    return flat, flat_edges


_FIRING = ("LIF", "CubaLIF", "IF", "Threshold")
_READOUTS = ("LI", "CubaLI", "I")
_WEIGHTS = ("Affine", "Linear")


def _canonical_rnn(nir: Any, nodes: dict[str, Any],
                   edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edges of a recurrent subgraph (Input, Output, one neuron, one Affine/Linear in a
    cycle with it) in the canonical form Input -> neuron -> Output, neuron <-> weights
    (snnTorch's importer rewires a subgraph's Input to the weights); other graphs unchanged."""
    if len(nodes) != 4:
        return edges
    kinds = {k: _kind(n) for k, n in nodes.items()}
    inp = [k for k, t in kinds.items() if t == "Input"]
    out = [k for k, t in kinds.items() if t == "Output"]
    neu = [k for k, t in kinds.items() if t in _FIRING]
    wts = [k for k, t in kinds.items() if t in _WEIGHTS]
    if not (len(inp) == len(out) == len(neu) == len(wts) == 1):
        return edges
    cycle = {(neu[0], wts[0]), (wts[0], neu[0])}
    if not cycle <= set(edges):
        return edges
    return [(inp[0], neu[0]), (neu[0], wts[0]), (wts[0], neu[0]), (neu[0], out[0])]


def _recurrences(nodes: dict[str, Any],
                 edges: list[tuple[str, str]]) -> dict[str, tuple[str, Any]]:
    """Find the neuron -> Affine/Linear -> neuron cycles, take their weight nodes out of the
    graph (nodes and edges are changed in place); returns {neuron: (name, weight node)}."""
    rec: dict[str, tuple[str, Any]] = {}
    for w in [k for k, n in nodes.items() if _kind(n) in _WEIGHTS]:
        ins = [a for a, b in edges if b == w]
        outs = [b for a, b in edges if a == w]
        if len(ins) == 1 and outs == ins and ins[0] != w and _kind(nodes[ins[0]]) in (
                _FIRING + _READOUTS):
            if ins[0] in rec:
                raise ValueError(f"NIR node {ins[0]!r} has two recurrent weight nodes "
                                 f"({rec[ins[0]][0]!r}, {w!r}); the chip holds one per layer")
            rec[ins[0]] = (w, nodes[w])
    for w, _ in rec.values():
        edges[:] = [e for e in edges if w not in e]
        del nodes[w]
    return rec


def _chain(nir: Any, nodes: dict[str, Any],
           edges: list[tuple[str, str]]) -> tuple[tuple[int, ...], list[str]]:
    """(input shape, node names from the Input to the Output, both left out)."""
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"the NIR graph has {len(inputs)} Input and {len(outputs)} Output nodes; "
                         "the chip runs a chain of layers with one input and one output")
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    for k in nodes:
        if len(succ[k]) > 1:
            raise ValueError(f"NIR node {k!r} ({_kind(nodes[k])}) feeds {len(succ[k])} nodes "
                             f"({', '.join(map(repr, succ[k]))}): the chip runs a chain of "
                             "layers, without branches")
        if len(pred[k]) > 1:
            raise ValueError(f"NIR node {k!r} ({_kind(nodes[k])}) adds the outputs of "
                             f"{len(pred[k])} nodes ({', '.join(map(repr, pred[k]))}): the chip "
                             "runs a chain of layers, without merges or cycles other than a "
                             "neuron layer's recurrent weights")
    shape = nodes[inputs[0]].input_type["input"]
    if shape is None:
        raise ValueError(f"NIR Input node {inputs[0]!r} has no shape")
    chain, seen, cur = [], {inputs[0]}, inputs[0]
    while True:
        if not succ[cur]:
            raise ValueError(f"NIR node {cur!r} ({_kind(nodes[cur])}) leads nowhere: the chain "
                             f"from the Input does not reach the Output {outputs[0]!r}")
        cur = succ[cur][0]
        if cur in seen:
            raise ValueError(f"NIR node {cur!r} ({_kind(nodes[cur])}) closes a cycle that is not "
                             "a neuron layer's recurrent weights; the chip cannot run it")
        seen.add(cur)
        if cur == outputs[0]:
            break
        chain.append(cur)
    rest = sorted(set(nodes) - seen)
    if rest:
        raise ValueError(f"NIR nodes {rest} are not on the path from the Input to the Output; "
                         "the chip runs a chain of layers")
    return tuple(int(d) for d in np.atleast_1d(shape)), chain


# ---------------------------------------------------------------------------------- neurons

class _Neuron:
    """A NIR neuron node in the chip's discrete steps, parameters of the layer's (NIR) shape."""

    def __init__(self, name: str, node: Any, shape: tuple[int, ...], dt: float,
                 reset: str | None) -> None:
        kind = "none" if node is None else _kind(node)
        self.name, self.node, self.kind = name, node, kind
        self.fires = kind in _FIRING
        zeros = np.zeros(shape)

        def p(what: str) -> np.ndarray:
            return _param(name, node, what, getattr(node, what), shape)

        def beta_of(tau_name: str) -> tuple[np.ndarray, np.ndarray]:
            tau = p(tau_name)
            if np.any(tau <= 0):
                raise ValueError(f"NIR node {name!r} ({kind}): {tau_name} must be > 0 (got "
                                 f"minimum {float(tau.min()):.3g} s)")
            if np.any(tau < dt * (1 - 1e-9)):
                raise ValueError(
                    f"NIR node {name!r} ({kind}): {tau_name} = {float(tau.min()):.3g} s is "
                    f"shorter than the step dt = {dt:.3g} s; the forward-Euler step would "
                    "overshoot (beta = 1 - dt/tau < 0) and the chip's leak is in [0, 1]: import "
                    "with a smaller dt")
            return np.clip(1.0 - dt / tau, 0.0, 1.0), dt / tau

        if kind in ("LIF", "LI"):
            beta, k = beta_of("tau")
            scale, bias = p("r") * k, k * p("v_leak")
        elif kind in ("CubaLIF", "CubaLI"):
            tau_syn = p("tau_syn")
            alpha = 1.0 - dt / tau_syn
            if np.any(np.abs(alpha) > ALPHA_TOL):
                raise ValueError(
                    f"NIR node {name!r} ({kind}): its synaptic current decays with alpha = 1 - "
                    f"dt/tau_syn = {float(alpha.flat[np.argmax(np.abs(alpha))]):.3g} per step; "
                    "the chip's neuron has one integrator (the membrane), so only tau_syn = dt "
                    "(alpha = 0, no synaptic filter) maps onto it")
            beta, k = beta_of("tau_mem")
            scale = p("w_in") * (dt / tau_syn) * p("r") * k
            bias = k * p("v_leak")
        elif kind in ("IF", "I"):
            beta, scale, bias = np.ones(shape), p("r"), zeros
        elif kind in ("Threshold", "none"):         # none: weights straight to the Output
            beta, scale, bias = zeros, np.ones(shape), zeros
        else:                                               # pragma: no cover - callers check
            raise ValueError(f"NIR node {name!r}: {kind} is not a neuron")
        if np.ptp(beta) > BETA_TOL:
            raise ValueError(
                f"NIR node {name!r} ({kind}): its neurons leak differently (beta = 1 - dt/tau "
                f"from {float(beta.min()):.6g} to {float(beta.max()):.6g}); the chip's leak is "
                "set per layer, so a layer's time constants must be equal")
        # 12 significant digits: drops the round-off of tau = dt / (1 - beta) and back
        self.beta = float(f"{float(np.mean(beta)):.12g}")
        scale = np.where(np.abs(scale - 1.0) <= SCALE_TOL, 1.0, scale)
        self.scale, self.bias = scale, bias
        if self.fires:
            th = _param(name, node, "threshold" if kind == "Threshold" else "v_threshold",
                        node.threshold if kind == "Threshold" else node.v_threshold, shape)
            if np.any(th <= 0):
                raise ValueError(f"NIR node {name!r} ({kind}): threshold "
                                 f"{float(th.min()):.3g} <= 0; the chip's neurons fire at a "
                                 "positive threshold")
            self.threshold = th
            self.reset = "zero" if kind == "Threshold" else self._reset(reset)
        else:
            meta_th = None if node is None else _meta(node, "threshold")
            self.threshold = (np.ones(shape) if meta_th is None else
                              _param(name, node, "metadata threshold", meta_th, shape))
            meta_reset = None if node is None else _meta(node, "reset")
            self.reset = meta_reset if meta_reset in RESETS else "zero"   # (it never fires)

    def _reset(self, override: str | None) -> str:
        if override is not None:
            return override
        meta = _meta(self.node, "reset")
        if meta is not None:
            if meta not in RESETS:
                raise ValueError(f"NIR node {self.name!r} ({self.kind}): metadata reset "
                                 f"{meta!r} is not one of {RESETS}")
            return str(meta)
        v_reset = getattr(self.node, "v_reset", None)
        if v_reset is not None and np.any(_arr(v_reset) != 0):
            raise ValueError(
                f"NIR node {self.name!r} ({self.kind}) resets to v_reset = "
                f"{float(_arr(v_reset).flat[np.argmax(np.abs(_arr(v_reset)))]):.3g}; the chip's "
                "neuron resets to 0 or subtracts its threshold (pass reset='subtract' for a "
                "source that subtracts)")
        return "zero"


# ---------------------------------------------------------------------------------- import

_LINEAR_OPS = ("Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d",
               "Scale")
_POOLS = ("SumPool2d", "AvgPool2d")
_CONVS = ("Conv1d", "Conv2d")


def _pool_geometry(name: str, node: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    kernel = _pair(name, node, node.kernel_size, "kernel_size")
    stride = _pair(name, node, node.stride, "stride")
    if any(_pair(name, node, node.padding, "padding")):
        raise ValueError(f"NIR node {name!r} ({_kind(node)}) pads its input; padded pooling does "
                         "not fold exactly into the chip's weights (only unpadded pooling does)")
    return kernel, stride


def _op_shape(name: str, node: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of a pooling, flattening or scaling node on a signal of ``shape``."""
    kind = _kind(node)
    if kind == "Flatten":
        return (int(np.prod(shape)),)
    if kind in _POOLS:
        (kh, kw), (sh, sw) = _pool_geometry(name, node)
        if len(shape) != 3 or shape[1] < kh or shape[2] < kw:
            raise ValueError(f"NIR node {name!r} ({kind}) takes (C, H, W) maps of at least "
                             f"{kh}x{kw} (got shape {shape})")
        return (shape[0], (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1)
    return shape                                            # Scale


def _adjoint(name: str, node: Any, g: np.ndarray, before: tuple[int, ...],
             after: tuple[int, ...]) -> np.ndarray:
    """Rows g (n, *after) of a weight matrix pulled back through a linear node: (n, *before)."""
    n, kind = len(g), _kind(node)
    g = g.reshape((n,) + after)
    if kind == "Scale":
        return g * _param(name, node, "scale", node.scale, before)
    if kind == "Flatten":
        return g.reshape((n,) + before)
    (kh, kw), (sh, sw) = _pool_geometry(name, node)
    ho, wo = after[1:]
    x = np.zeros((n,) + before)
    for a in range(kh):
        for b in range(kw):
            x[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += g
    return x / (kh * kw) if kind == "AvgPool2d" else x


def _full_groups(name: str, node: Any, w: np.ndarray) -> np.ndarray:
    """A grouped convolution's kernel (oc, ic / groups, ...) as a full one (oc, ic, ...)."""
    groups = int(np.asarray(getattr(node, "groups", 1)).ravel()[0])
    if groups == 1:
        return w
    oc, icg = w.shape[:2]
    if groups < 1 or oc % groups:
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): {oc} output channels in {groups} "
                         "groups")
    full = np.zeros((oc, icg * groups) + w.shape[2:])
    per = oc // groups
    for o in range(oc):
        g = o // per
        full[o, g * icg:(g + 1) * icg] = w[o]
    return full


def _conv_padding(name: str, node: Any, kernel: tuple[int, ...], stride: int) -> int:
    pad = node.padding
    if isinstance(pad, bytes):
        pad = pad.decode("utf8")
    if isinstance(pad, np.ndarray) and pad.dtype.kind in "SUO":
        pad = str(pad.ravel()[0].decode("utf8") if isinstance(pad.ravel()[0], bytes)
                  else pad.ravel()[0])
    if isinstance(pad, str):
        if pad == "valid":
            return 0
        if stride == 1 and all(k % 2 == 1 for k in kernel) and len(set(kernel)) == 1:
            return (kernel[0] - 1) // 2
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): padding 'same' with a {kernel} "
                         f"kernel and stride {stride} pads unevenly; the chip's convolutions pad "
                         "every side by one amount")
    p = np.atleast_1d(np.asarray(pad)).astype(int).ravel()
    if p.size > 1 and (len(set(p.tolist())) != 1):
        raise ValueError(f"NIR node {name!r} ({_kind(node)}): padding {tuple(p.tolist())} differs "
                         "per axis; the chip's convolutions pad every side by one amount")
    return int(p[0])


class _Builder:
    """Walks the chain of NIR nodes and builds the layers."""

    def __init__(self, nodes: dict[str, Any], rec: dict[str, tuple[str, Any]],
                 in_shape: tuple[int, ...], dt: float, reset: str | None) -> None:
        self.nodes, self.rec, self.dt, self.reset = nodes, rec, dt, reset
        self.layers: list[Any] = []
        self.nshape = in_shape          # the signal's shape as NIR sees it
        self.oshape = in_shape          # the signal's shape in the layers (Conv1d: (C, 1, L))
        self.pending: list[tuple[str, Any]] = []
        self.readout: str | None = None

    def build(self, chain: list[str]) -> Sequential:
        for name in chain:
            node = self.nodes[name]
            kind = _kind(node)
            if self.readout is not None and kind != "Flatten":
                raise ValueError(
                    f"NIR node {self.readout!r} ({_kind(self.nodes[self.readout])}) is a "
                    f"non-firing readout, which only the last neuron layer can be, but {name!r} "
                    f"({kind}) follows it")
            if kind in _FIRING + _READOUTS:
                self._layer(name, node)
                if kind in _READOUTS:
                    self.readout = name
            elif kind in _LINEAR_OPS:
                self.pending.append((name, node))
            else:
                raise ValueError(
                    f"NIR node {name!r} is a {kind}, which the chip cannot run (it runs Affine, "
                    "Linear, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d and Scale nodes and "
                    "LIF, CubaLIF, IF, Threshold, LI, CubaLI and I neurons)")
        if any(_kind(n) in _WEIGHTS + _CONVS for _, n in self.pending):
            self._layer(None, None)     # weights straight to the Output: a memoryless readout
        for name, node in self.pending:
            if _kind(node) != "Flatten":
                raise ValueError(f"NIR node {name!r} ({_kind(node)}) comes after the last neuron "
                                 "layer; the chip ends with a neuron layer (a Flatten may "
                                 "follow it)")
            if len(self.oshape) > 1:
                self.layers.append(Flatten(name=name))
                self.oshape = self.nshape = (int(np.prod(self.oshape)),)
        if not any(isinstance(l, (SpikingDense, SpikingConv2d)) for l in self.layers):
            raise ValueError("the NIR graph has no neuron layer with weights before it")
        return Sequential(*self.layers)

    # -------------------------------------------------------------- one layer
    def _layer(self, name: str | None, node: Any) -> None:
        pend, self.pending = self.pending, []
        where = [i for i, (_, n) in enumerate(pend) if _kind(n) in _WEIGHTS + _CONVS]
        label = f"NIR node {name!r} ({_kind(node)})" if name is not None else "the Output"
        if not where:
            raise ValueError(f"{label} takes its input without a weight layer (Affine, Linear, "
                             "Conv1d, Conv2d) before it; the chip's neurons sit behind a weight "
                             "array")
        if len(where) > 1:
            first, second = pend[where[0]][0], pend[where[1]][0]
            raise ValueError(f"NIR nodes {first!r} and {second!r} are two weight layers "
                             "without neurons between them; the chip runs one weight array per "
                             "neuron layer (multiply them into one)")
        pre, (wname, wnode), post = pend[:where[0]], pend[where[0]], pend[where[0] + 1:]
        conv = _kind(wnode) in _CONVS
        if conv:
            layer_args = self._conv(pre, wname, wnode)
        else:
            layer_args = self._dense(pre, wname, wnode)
        out = layer_args["out"]                          # the layer's output shape (ours)
        nshape = layer_args["nshape"]                    # ... as NIR sees it
        post_scale = np.ones(out)
        flatten_after: str | None = None
        for pname, pnode in post:
            kind = _kind(pnode)
            if kind == "Scale":
                post_scale = post_scale * _param(pname, pnode, "scale", pnode.scale,
                                                 nshape).reshape(out)
            elif kind == "Flatten":
                flatten_after = pname
                nshape = (int(np.prod(nshape)),)
            else:
                raise ValueError(
                    f"NIR node {pname!r} ({kind}) sits between the weights {wname!r} and "
                    f"{label}; the chip's neurons take the weights' output directly (only Scale "
                    "and Flatten fold in between)")
        neuron = _Neuron(name or wname, node, nshape, self.dt, self.reset)
        scale = (post_scale * neuron.scale.reshape(out))
        leak_bias = neuron.bias.reshape(out)
        th = neuron.threshold.reshape(out)
        rec = self.rec.get(name) if name is not None else None
        if rec is not None and not neuron.fires:
            raise ValueError(f"{label} is a non-firing readout with recurrent weights "
                             f"{rec[0]!r}: it feeds back its membrane, not spikes, which the "
                             "chip cannot do")
        if conv:
            s_c = _per_channel(wname, wnode, "input scale", scale)
            W = layer_args["W"] * s_c[:, None, None, None]
            b = (0.0 if layer_args["b"] is None else layer_args["b"] * s_c) + \
                _per_channel(name or wname, node, "leak bias", leak_bias)
            if layer_args["b"] is None and not np.any(b):
                b = None
            th_c = _per_channel(name or wname, node, "threshold", th)
            if rec is not None:
                raise ValueError(f"{label} has recurrent weights {rec[0]!r} on a convolution; "
                                 "only the chip's dense layers can be recurrent")
            lif = LIF(float(th_c[0]) if np.all(th_c == th_c[0]) else th_c, neuron.beta,
                      neuron.reset)
            layer: Any = SpikingConv2d(W, b, layer_args["stride"], layer_args["padding"], lif,
                                       name=wname)
        else:
            W = layer_args["W"] * scale[None, :]
            b = (0.0 if layer_args["b"] is None else layer_args["b"] * scale) + leak_bias
            W_rec = None
            if rec is not None:
                rname, rnode = rec
                wr = _arr(rnode.weight)
                if wr.shape != (len(scale), len(scale)):
                    raise ValueError(f"NIR node {rname!r} ({_kind(rnode)}): recurrent weights of "
                                     f"shape {wr.shape} for a layer of {len(scale)} neurons")
                W_rec = wr.T * neuron.scale.reshape(out)[None, :]
                if _kind(rnode) == "Affine":
                    b = b + _param(rname, rnode, "bias", rnode.bias, out) * \
                        neuron.scale.reshape(out)
            if layer_args["b"] is None and not np.any(b):
                b = None
            lif = LIF(float(th[0]) if np.all(th == th[0]) else th, neuron.beta, neuron.reset)
            layer = SpikingDense(W, b, lif, W_rec, name=wname)
        self.layers.append(layer)
        self.oshape, self.nshape = out, nshape
        if flatten_after is not None:
            self.layers.append(Flatten(name=flatten_after))
            self.oshape = (int(np.prod(out)),)

    def _dense(self, pre: list[tuple[str, Any]], wname: str, wnode: Any) -> dict[str, Any]:
        weight = _arr(wnode.weight)
        if weight.ndim != 2:
            raise ValueError(f"NIR node {wname!r} ({_kind(wnode)}): weight of shape "
                             f"{weight.shape}; the chip's dense layers take (out, in) matrices")
        n_out, n_in = weight.shape
        shapes = [self.nshape]
        for pname, pnode in pre:
            if _kind(pnode) in _CONVS + _WEIGHTS:       # pragma: no cover - one weight node
                raise ValueError(pname)
            shapes.append(_op_shape(pname, pnode, shapes[-1]))
        if shapes[-1] != (n_in,):
            raise ValueError(f"NIR node {wname!r} ({_kind(wnode)}) takes {n_in} inputs but gets "
                             f"a signal of shape {shapes[-1]}"
                             + (" (flatten it first)" if len(shapes[-1]) > 1 else ""))
        g = weight
        for (pname, pnode), before, after in reversed(list(zip(pre, shapes[:-1], shapes[1:]))):
            g = _adjoint(pname, pnode, g, before, after)
        W = g.reshape(n_out, -1).T
        if len(self.oshape) > 1:
            flat = [p for p, n in pre if _kind(n) == "Flatten"]
            self.layers.append(Flatten(name=flat[-1] if flat else f"{wname}_flatten"))
        bias = (_param(wname, wnode, "bias", wnode.bias, (n_out,))
                if _kind(wnode) == "Affine" and wnode.bias is not None else None)
        return {"W": W, "b": bias, "out": (n_out,), "nshape": (n_out,)}

    def _conv(self, pre: list[tuple[str, Any]], wname: str, wnode: Any) -> dict[str, Any]:
        kind = _kind(wnode)
        w = _full_groups(wname, wnode, _arr(wnode.weight))
        one_d = kind == "Conv1d"
        if w.ndim != (3 if one_d else 4):
            raise ValueError(f"NIR node {wname!r} ({kind}): weight of shape {w.shape}")
        dil = np.atleast_1d(np.asarray(getattr(wnode, "dilation", 1))).astype(int)
        if np.any(dil != 1):
            raise ValueError(f"NIR node {wname!r} ({kind}): dilation {tuple(dil.tolist())}; the "
                             "chip's convolutions are not dilated")
        st = np.atleast_1d(np.asarray(wnode.stride)).astype(int).ravel()
        if len(set(st.tolist())) != 1:
            raise ValueError(f"NIR node {wname!r} ({kind}): stride {tuple(st.tolist())} differs "
                             "per axis; the chip's convolutions take one stride")
        stride = int(st[0])
        pad = _conv_padding(wname, wnode, w.shape[2:], stride)
        if one_d:
            W = np.zeros((w.shape[0], w.shape[1], 2 * pad + 1, w.shape[2]))
            W[:, :, pad, :] = w
        else:
            W = w
        oc, ic = int(W.shape[0]), int(W.shape[1])
        shapes = [self.nshape]
        for pname, pnode in pre:
            if _kind(pnode) == "Flatten":
                raise ValueError(f"NIR node {pname!r} (Flatten) comes before the convolution "
                                 f"{wname!r}, which takes (C, H, W) maps")
            if one_d and _kind(pnode) in _POOLS:
                raise ValueError(f"NIR node {pname!r} ({_kind(pnode)}) pools the 1-D signal "
                                 f"before {wname!r}; 2-D pooling of a Conv1d signal has no "
                                 "chip form")
            shapes.append(_op_shape(pname, pnode, shapes[-1]))
        want = 2 if one_d else 3
        if len(shapes[-1]) != want or shapes[-1][0] != ic:
            raise ValueError(f"NIR node {wname!r} ({kind}) takes {ic}-channel "
                             f"{'(C, L)' if one_d else '(C, H, W)'} inputs but gets a signal of "
                             f"shape {shapes[-1]}")
        for (pname, pnode), before in reversed(list(zip(pre, shapes[:-1]))):
            if _kind(pnode) == "Scale":
                s = _param(pname, pnode, "scale", pnode.scale, before)
                W = W * _per_channel(pname, pnode, "scale (before a convolution)", s)[
                    None, :, None, None]
                continue
            (kh, kw), (sh, sw) = _pool_geometry(pname, pnode)
            if not kh == kw == sh == sw or pad:
                raise ValueError(
                    f"NIR node {pname!r} ({_kind(pnode)}) before the convolution {wname!r}: "
                    "folding a pool into the kernel is exact only for a square pool whose "
                    f"stride equals its kernel, before an unpadded convolution (got kernel "
                    f"{kh}x{kw}, stride {sh}x{sw}, convolution padding {pad}); the chip pools "
                    "spikes by max only")
            W = W.repeat(kh, axis=2).repeat(kw, axis=3)
            if _kind(pnode) == "AvgPool2d":
                W = W / (kh * kw)
            stride *= kh
        if one_d and len(self.oshape) == 2:
            self.oshape = (self.oshape[0], 1, self.oshape[1])
        probe = SpikingConv2d(W, None, stride, pad, name=wname)
        out = tuple(probe.output_shape(self.oshape))
        bias = getattr(wnode, "bias", None)
        b = None if bias is None else _param(wname, wnode, "bias", bias, (oc,))
        return {"W": W, "b": b, "stride": stride, "padding": pad, "out": out,
                "nshape": (out[0], out[2]) if one_d else out}


def from_nir(graph_or_path: Any, *, dt: float = DT, reset: str | None = None) -> Sequential:
    """A native spiking network from a NIR graph (see the module documentation for the rule).

    Parameters
    ----------
    graph_or_path : nir.NIRGraph, str or path
        The graph, or a NIR file (``nir.read``).
    dt : float
        Seconds per chip step (default :data:`DT`, 1e-4 s, snnTorch's).
    reset : {"zero", "subtract"}, optional
        The reset of every firing node; by default each node's metadata ``"reset"``, else its
        ``v_reset`` (which must be 0: reset to zero).

    Returns
    -------
    Sequential
        ``SpikingDense`` / ``SpikingConv2d`` layers (named after their NIR weight nodes) and
        ``Flatten``. A graph ending in a non-firing node (LI, CubaLI, I) or in weights runs with
        ``readout="membrane"``; one ending in firing neurons with either readout. A graph that
        starts with a ``Conv1d`` takes inputs (C, 1, L).

    Raises
    ------
    ValueError
        For what the chip cannot express, naming the NIR node.
    ImportError
        Without the ``nir`` package.
    """
    nir = nir_module()
    dt = check_range(dt, "dt", 0.0, None, lo_open=True, unit="second")
    if reset is not None:
        check_choice(reset, "reset", RESETS)
    if isinstance(graph_or_path, (str, os.PathLike)):
        graph = nir.read(graph_or_path)
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
    else:
        raise ValueError(f"graph_or_path must be a nir.NIRGraph or a file path (got "
                         f"{type(graph_or_path).__name__})")
    nodes, edges = _flatten_graph(nir, {str(k): n for k, n in graph.nodes.items()},
                                  [(str(a), str(b)) for a, b in graph.edges])
    rec = _recurrences(nodes, edges)
    in_shape, chain = _chain(nir, nodes, edges)
    return _Builder(nodes, rec, in_shape, dt, reset).build(chain)


# ---------------------------------------------------------------------------------- export

def _neuron_node(nir: Any, layer: Any, out: tuple[int, ...], dt: float,
                 non_firing: bool) -> Any:
    lif = layer.neuron
    if lif.refractory:
        raise ValueError(f"layer {layer.name!r}: a refractory period ({lif.refractory} steps) "
                         "has no NIR form (NIR's neurons have none)")
    n_th = out[0]
    th = lif.thresholds(n_th)
    th = np.broadcast_to(th.reshape((n_th,) + (1,) * (len(out) - 1)), out).copy()
    ones, zeros = np.ones(out), np.zeros(out)
    beta = float(lif.beta)
    if non_firing:
        meta: dict[str, Any] = {"threshold": th, "reset": lif.reset}
        if beta == 1.0:
            return nir.I(r=ones, metadata=meta)
        tau = dt / (1.0 - beta)
        return nir.LI(tau=ones * tau, r=ones * (tau / dt), v_leak=zeros, metadata=meta)
    meta = {"reset": lif.reset}
    if beta == 1.0:
        return nir.IF(r=ones, v_threshold=th, v_reset=zeros, metadata=meta)
    tau = dt / (1.0 - beta)
    return nir.LIF(tau=ones * tau, r=ones * (tau / dt), v_leak=zeros, v_threshold=th,
                   v_reset=zeros, metadata=meta)


def to_nir(model: Any, *, dt: float = DT, input_shape: tuple[int, ...] | None = None,
           readout: str = "count") -> Any:
    """A native spiking network as a NIR graph (the inverse of :func:`from_nir`).

    Parameters
    ----------
    model : Sequential
        ``SpikingDense`` / ``SpikingConv2d`` and ``Flatten`` layers (NIR has no max-pooling).
    dt : float
        Seconds per chip step: ``tau = dt / (1 - beta)``.
    input_shape : tuple, optional
        Shape of one input; needed when the model does not start with a ``SpikingDense``.
    readout : {"count", "membrane"}
        ``"count"``: every layer fires (LIF / IF nodes). ``"membrane"``: the last layer is a
        non-firing readout (LI, or I for beta = 1, with its thresholds in the node's metadata;
        its recurrent weights, which never receive a spike, are left out).

    Returns
    -------
    nir.NIRGraph
        Node names: each weighted layer's name (made unique), its neurons ``<name>_lif``, a
        recurrent layer's subgraph ``<name>_rec`` (nodes input, lif, w_rec, output).
    """
    nir = nir_module()
    dt = check_range(dt, "dt", 0.0, None, lo_open=True, unit="second")
    check_choice(readout, "readout", ("count", "membrane"))
    layers = list(leaves(model))
    for layer in layers:
        if isinstance(layer, MaxPool2d):
            raise ValueError(f"layer {layer.name!r} (MaxPool2d): NIR has no max-pooling node")
        if not isinstance(layer, (SpikingDense, SpikingConv2d, Flatten)):
            raise ValueError(f"to_nir exports native spiking networks (SpikingDense, "
                             f"SpikingConv2d, Flatten); {getattr(layer, 'name', '')!r} is a "
                             f"{type(layer).__name__}")
    spiking = [l for l in layers if isinstance(l, (SpikingDense, SpikingConv2d))]
    if not spiking:
        raise ValueError("the model has no spiking layer")
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        model.output_shape(shape)
    elif isinstance(layers[0], SpikingDense):
        shape = (layers[0].W.shape[0],)
    else:
        raise ValueError(f"give input_shape: the model starts with a "
                         f"{type(layers[0]).__name__}, whose input size NIR needs")
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    used = {"input", "output"}

    def unique(name: str) -> str:
        base, k = name.replace(".", "_"), 1
        name = base
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        return name

    prev = "input"
    for layer in layers:
        name = unique(layer.name)
        if isinstance(layer, Flatten):
            nodes[name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                      end_dim=-1)
            edges.append((prev, name))
            prev, shape = name, (int(np.prod(shape)),)
            continue
        out = tuple(layer.output_shape(shape))
        b = None if layer.b is None else np.array(layer.b, float)
        if isinstance(layer, SpikingDense):
            weight = np.array(layer.W.T, float)
            nodes[name] = (nir.Linear(weight=weight) if b is None else
                           nir.Affine(weight=weight, bias=b))
        else:
            s, p = layer.stride, layer.padding
            nodes[name] = nir.Conv2d(
                input_shape=tuple(int(d) for d in shape[1:]), weight=np.array(layer.W, float),
                stride=(s, s), padding=(p, p), dilation=(1, 1), groups=1,
                bias=np.zeros(layer.W.shape[0]) if b is None else b)
        edges.append((prev, name))
        last = layer is spiking[-1]
        non_firing = last and readout == "membrane"
        neuron = _neuron_node(nir, layer, out, dt, non_firing)
        if getattr(layer, "recurrent", False) and not non_firing:
            n = out[0]
            sub = nir.NIRGraph(
                nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": neuron,
                       "w_rec": nir.Linear(weight=np.array(layer.W_rec.T, float)),
                       "output": nir.Output(output_type={"output": np.array([n])})},
                edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
            nname = unique(f"{name}_rec")
            nodes[nname] = sub
        else:
            nname = unique(f"{name}_lif")
            nodes[nname] = neuron
        edges.append((name, nname))
        prev, shape = nname, out
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "snn_neurram", "dt": dt})
