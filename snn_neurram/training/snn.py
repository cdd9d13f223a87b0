"""Surrogate-gradient training of native spiking networks (:mod:`snn_neurram.nn.spiking`), with
the chip's non-idealities in the forward pass.

::

    from snn_neurram.training import SpikingNet, train_snn, evaluate_snn, export_snn

    net = SpikingNet.mlp([64, 128, 10], beta=0.9, threshold=1.0, reset="subtract")
    history = train_snn(net, X_train, y_train, steps=16, coding="rate", epochs=30,
                        checkpoint="snn.pt")
    acc = evaluate_snn(net, X_test, y_test, steps=16, coding="rate")
    model = export_snn(net)        # Sequential of SpikingDense, ...: what snn_neurram.compile takes

The forward pass of :class:`SpikingNet` is the discrete-time network of
:func:`snn_neurram.compiler.native.simulate_float`, step for step: in step t, spiking layer k
computes ``v = beta v + W s_{k-1}[t] + W_rec s_k[t-1] + b`` (the leak factor taken as
``1 - (1 - beta)``, the chip neuron's ``1 - leak``), fires where ``v >= threshold`` and resets the
neurons that fired (to zero, or by subtracting the threshold), after which they rest
``refractory`` steps (keeping v, neither integrating nor firing). Max-pooling is an OR over spike
maps, flattening is C-major. The output layer is read by its final membrane / threshold
(``readout="membrane"``: it never fires) or by its spike count + membrane / threshold
(``"count"``). Without weight noise and saturation, a float64 net and ``simulate_float`` of
:func:`export_snn` give the same spikes.

Backpropagation through time replaces the derivative of the Heaviside step by a surrogate of
x = (v - threshold) / threshold (:data:`SURROGATES`); the reset is taken as a constant (detached),
the recurrent spikes carry gradients.

What the chip does, and the training models (each switchable):

- weight range: the mapping limits a layer's matrix (feed-forward rows stacked on the recurrent
  ones) to +-w_max, the ``weight_clip``-th percentile of its |entries| (the chip's
  ``percentile``, 95 by default); every forward pass uses the limited weights and
  :func:`export_snn` exports them. Here w_max is the order statistic at or below the
  percentile, so that the compiler's w_max of the exported weights is the same value and it
  limits nothing more;
- weight noise: each forward pass of training adds one draw of N(0, sigma^2) to the limited
  weights, constant over the time steps (one programmed chip): ``noise="device"`` takes sigma per
  weight from the conductance spread of its RRAM pair
  (:func:`~snn_neurram.training.weight_noise_sigma`, the bias rows likewise);
  ``noise="relative"`` sigma = eta max|W| per layer (as the ANN training);
- integrator saturation: a layer whose matrix fits one row segment of a core
  (rows = inputs + recurrent inputs + bias rows <= 128) integrates on its neurons' capacitors,
  whose membrane saturates in every step, before the threshold test, where the chip's will:
  at +-v_swing over the neuron's volts per weight unit at the V_read the compiler picks
  (:func:`snn_neurram.compiler.native.membrane_limits`: the block alone in its columns, nominal
  conductances; two thresholds where V_read can put the largest at half the swing, more where
  the drivers' 0.85 V keeps them lower); a larger layer has a digital membrane, unclipped.
  The bias rows are counted as the compiler counts them: ceil(max|b| / w_max), at least one.

Inputs: static values in [0, 1] become spikes with ``coding="rate"`` (Bernoulli, p = x, from a
seeded torch generator), ``"regular"`` (the deterministic code of
:func:`snn_neurram.physics.encoding.regular`, the same spikes the chip gets) or are given as
spike trains (``"spikes"``: arrays (N, steps, ...) with entries in {-1, 0, 1}).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn

from .._checks import as_finite_array, check_choice, check_int, check_range
from ..compiler.native import membrane_limits, native_layers
from ..compiler.tiling import PAIRS
from ..nn.layers import Flatten, MaxPool2d, Sequential
from ..nn.spiking import LIF, SpikingConv2d, SpikingDense
from ..physics.device import RRAMDevice
from ..physics.encoding import regular
from ..physics.neuron import NeuronConfig
from .loop import (check_schedule, labelled_data, lr_scheduler, new_history, resume_training,
                   run_epochs, torch_threads)
from .stored import CHIP_PERCENTILE, bias_rows, device_noise, w_max_of

__all__ = ["SpikingNet", "SpikingLayer", "train_snn", "evaluate_snn", "export_snn",
           "encode_inputs", "spike_fn", "SURROGATES", "CODINGS", "READOUTS", "SNN_NOISE_MODES",
           "CHIP_PERCENTILE"]

#: Surrogate derivatives of the Heaviside step, with their default slope k, as functions of
#: x = (v - threshold) / threshold: ``fast_sigmoid`` 1 / (1 + k |x|)^2 (SuperSpike, snnTorch's
#: default), ``arctan`` (k / 2) / (1 + (pi k x / 2)^2) (snnTorch's ``atan``).
SURROGATES = {"fast_sigmoid": 25.0, "arctan": 2.0}
#: Input codes of :func:`encode_inputs`.
CODINGS = ("rate", "regular", "spikes")
#: Readouts of the output layer (as :func:`snn_neurram.compiler.native.simulate_float`).
READOUTS = ("membrane", "count")
#: Weight-noise models of training.
SNN_NOISE_MODES = ("device", "relative", None)

# (weight noise, recurrent weight noise, bias noise) of one spiking layer
_Noise = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]


# ---------------------------------------------------------------------------- surrogate spike
class _Spike(torch.autograd.Function):
    """Heaviside (v >= threshold) forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, th: torch.Tensor, kind: str,
                slope: float) -> torch.Tensor:
        ctx.save_for_backward(v, th)
        ctx.kind, ctx.slope = kind, slope
        return (v >= th).to(v.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        v, th = ctx.saved_tensors
        x = (v - th) / th
        k = ctx.slope
        if ctx.kind == "fast_sigmoid":
            d = 1.0 / (1.0 + k * x.abs()) ** 2
        else:
            d = (k / 2) / (1.0 + (math.pi / 2 * k * x) ** 2)
        return grad * d / th, None, None, None


def spike_fn(v: torch.Tensor, threshold: torch.Tensor, surrogate: str = "fast_sigmoid",
             slope: float | None = None) -> torch.Tensor:
    """Spikes ``v >= threshold`` (1.0 / 0.0, v's dtype) with a surrogate gradient to v.

    Parameters
    ----------
    v : Tensor
        Membranes, in weight units.
    threshold : Tensor
        Thresholds broadcast to v (weight units, > 0); they get no gradient.
    surrogate : {"fast_sigmoid", "arctan"}
        See :data:`SURROGATES`; the derivative with respect to v is the surrogate's derivative
        with respect to x = (v - threshold) / threshold, divided by the threshold.
    slope : float, optional
        The surrogate's k, > 0; default that of :data:`SURROGATES`.
    """
    check_choice(surrogate, "surrogate", tuple(SURROGATES))
    k = SURROGATES[surrogate] if slope is None else slope
    return cast(torch.Tensor, _Spike.apply(v, threshold, surrogate, float(k)))


# ---------------------------------------------------------------------------- layers
class SpikingLayer(nn.Module):
    """One :class:`~snn_neurram.nn.spiking.SpikingDense` or ``SpikingConv2d`` in PyTorch.

    Parameters are held in the native layout: ``weight`` (in, out) for a dense layer, (out_c,
    in_c, kh, kw) for a convolution; ``weight_rec`` (out, out) for a recurrent dense layer;
    ``bias`` (out,) or None. The buffer ``threshold`` (out,) holds the neurons' thresholds; beta,
    reset and refractory period are plain attributes (fixed).
    """

    threshold: torch.Tensor

    def __init__(self, layer: SpikingDense | SpikingConv2d) -> None:
        super().__init__()
        self.is_conv = isinstance(layer, SpikingConv2d)
        self.stride = layer.stride if isinstance(layer, SpikingConv2d) else 1
        self.padding = layer.padding if isinstance(layer, SpikingConv2d) else 0
        self.weight = nn.Parameter(torch.tensor(np.asarray(layer.W), dtype=torch.float32))
        W_rec = layer.W_rec if isinstance(layer, SpikingDense) else None
        self.weight_rec = None if W_rec is None else nn.Parameter(
            torch.tensor(np.asarray(W_rec), dtype=torch.float32))
        self.bias = None if layer.b is None else nn.Parameter(
            torch.tensor(np.asarray(layer.b), dtype=torch.float32))
        n_out = layer.W.shape[0] if self.is_conv else layer.W.shape[1]
        lif = layer.neuron
        self.shared_threshold = np.ndim(lif.threshold) == 0
        self.register_buffer("threshold", torch.tensor(lif.thresholds(n_out),
                                                       dtype=torch.float32))
        self.beta = float(lif.beta)
        self.reset = str(lif.reset)
        self.refractory = int(lif.refractory)
        self.name = layer.name

    @property
    def n_out(self) -> int:
        return int(self.threshold.shape[0])

    @property
    def n_rows(self) -> int:
        """Rows of the layer's matrix on the chip: inputs (a patch for a convolution), then its
        own spikes for a recurrent layer (bias rows not counted)."""
        n = int(np.prod(self.weight.shape[1:])) if self.is_conv else int(self.weight.shape[0])
        return n + (0 if self.weight_rec is None else self.n_out)

    def matrix(self) -> torch.Tensor:
        """The (rows, out) matrix the cores hold (feed-forward rows, then recurrent ones)."""
        if self.is_conv:
            return self.weight.reshape(self.n_out, -1).T
        if self.weight_rec is None:
            return self.weight
        return torch.cat([self.weight, self.weight_rec])

    def w_max(self, weight_clip: float | None) -> torch.Tensor | None:
        """The mapping's full-scale weight (the ``weight_clip``-th percentile of |matrix|), or
        None without a weight limit."""
        return None if weight_clip is None else w_max_of(self.matrix(), weight_clip)

    def chip_weights(self, weight_clip: float | None) -> tuple[torch.Tensor, torch.Tensor | None,
                                                               torch.Tensor | None]:
        """(weight, weight_rec, bias) limited to +-w_max as the chip stores them (gradient 1
        inside the range, 0 beyond). The bias is not limited: it gets enough bias rows."""
        w_max = self.w_max(weight_clip)
        if w_max is None:
            return self.weight, self.weight_rec, self.bias
        rec = None if self.weight_rec is None else torch.clamp(self.weight_rec, -w_max, w_max)
        return torch.clamp(self.weight, -w_max, w_max), rec, self.bias

    def bias_rows(self, w_max: float) -> int:
        """Bias row pairs the compiler gives the layer: ceil(max|b| / w_max), at least one (none
        without a bias); the inputs are spikes (x_max 1)."""
        return bias_rows(self.bias, w_max)

    def saturation(self, weight_clip: float | None, neuron: NeuronConfig | None = None,
                   device: RRAMDevice | None = None) -> np.ndarray | None:
        """Membrane limit (weight units, +-) of every neuron (out,) of a layer that fits one row
        segment, where the chip's integrator saturates
        (:func:`snn_neurram.compiler.native.membrane_limits`, on the stored weights); None for
        a layer with a digital membrane."""
        w_max = self.w_max(weight_clip)
        w = float(w_max_of(self.matrix(), CHIP_PERCENTILE, "linear") if w_max is None
                  else w_max)
        if self.n_rows + self.bias_rows(w) > PAIRS:
            return None
        W, R, b = self.chip_weights(weight_clip)
        M = torch.cat([W.reshape(self.n_out, -1).T if self.is_conv else W]
                      + ([] if R is None else [R])).detach().double().numpy()
        dev = RRAMDevice() if device is None else device
        return membrane_limits(M, None if b is None else b.detach().double().numpy(),
                               self.threshold.detach().double().numpy(), w, neuron,
                               dev.g_min, dev.g_max)

    def draw_noise(self, mode: str, eta: float, weight_clip: float | None, device: RRAMDevice,
                   read_time: float, generator: torch.Generator) -> _Noise:
        """One draw of the weight noise (weight, weight_rec, bias), tensors like the parameters.

        ``mode`` "device": sigma per weight from the conductance spread of its pair (bias
        rows likewise, b / n spread over n rows); "relative": sigma = eta max|W| on the weights,
        none on the bias.
        """
        W, W_rec, _ = self.chip_weights(weight_clip)
        M = torch.cat([W.reshape(self.n_out, -1).T if self.is_conv else W]
                      + ([] if W_rec is None else [W_rec])).detach()
        db = None
        if mode == "relative":
            dM = (eta * M.abs().max()) * torch.randn(M.shape, generator=generator,
                                                     dtype=M.dtype)
        else:
            # the stored (limited) matrix, mapped as the compiler maps the exported weights
            pct = CHIP_PERCENTILE if weight_clip is None else weight_clip
            dM, db = device_noise(M, self.bias, pct, device, read_time, generator)
        n_ff = M.shape[0] - (0 if W_rec is None else self.n_out)
        dW = dM[:n_ff].T.reshape(self.weight.shape) if self.is_conv else dM[:n_ff]
        return dW, None if W_rec is None else dM[n_ff:], db

    def to_layer(self, weight_clip: float | None) -> SpikingDense | SpikingConv2d:
        """The layer as float64 numpy, with the weights as the chip stores them."""
        W, W_rec, b = self.chip_weights(weight_clip)
        th = self.threshold.detach().double().numpy().copy()
        lif = LIF(float(th[0]) if self.shared_threshold else th, self.beta, self.reset,
                  self.refractory)
        Wn = W.detach().double().numpy().copy()
        bn = None if b is None else b.detach().double().numpy().copy()
        if self.is_conv:
            return SpikingConv2d(Wn, bn, self.stride, self.padding, lif, self.name)
        Rn = None if W_rec is None else W_rec.detach().double().numpy().copy()
        return SpikingDense(Wn, bn, lif, Rn, self.name)


class SpikePool(nn.Module):
    """Max-pooling of spike maps: an OR over each window (of |s|)."""

    def __init__(self, layer: MaxPool2d) -> None:
        super().__init__()
        self.kernel, self.stride, self.name = layer.kernel, layer.stride, layer.name

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(s.abs(), self.kernel, self.stride)


class SpikeFlatten(nn.Module):
    """(batch, C, H, W) -> (batch, C * H * W), C-major."""

    def __init__(self, layer: Flatten) -> None:
        super().__init__()
        self.name = layer.name

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s.reshape(len(s), -1)


# ---------------------------------------------------------------------------- the network
def _init_weight(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                 gain: float) -> np.ndarray:
    """Uniform weights of standard deviation gain / sqrt(fan_in)."""
    a = gain * math.sqrt(3.0 / fan_in)
    return rng.uniform(-a, a, shape)


class SpikingNet(nn.Module):
    """A native spiking network in PyTorch, for surrogate-gradient training (see the module
    documentation). Build with :meth:`from_model`, :meth:`mlp` or :meth:`conv`.

    Parameters
    ----------
    model : Sequential
        SpikingDense, SpikingConv2d, MaxPool2d and Flatten layers (nested Sequentials are
        flattened); weights are copied (float32; ``net.double()`` for float64).
    readout : {"membrane", "count"}
        How the output layer is read (as ``simulate_float``).
    surrogate : {"fast_sigmoid", "arctan"}
        Surrogate derivative of the spike (:data:`SURROGATES`).
    slope : float, optional
        Its k, > 0; default that of :data:`SURROGATES`.
    weight_clip : float, optional
        Limit every layer's matrix to +-(this percentile of its |entries|) in every forward pass,
        as the chip's mapping does (``Chip(percentile=...)``, 95 by default); None: no limit.
    saturation : bool
        Clip the membranes of layers that fit one row segment where the chip's integrators
        saturate (:func:`snn_neurram.compiler.native.membrane_limits`).
    device : RRAMDevice, optional
        Cell model of ``noise="device"``; default ``RRAMDevice()``.
    read_time : float
        Time between programming and reading (s) of ``noise="device"``, > 0; default one day.

    Attributes
    ----------
    ops : nn.ModuleList
        SpikingLayer, SpikePool and SpikeFlatten modules in order.
    layers : list of SpikingLayer
        The spiking layers.
    """

    def __init__(self, model: Sequential, *, readout: str = "membrane",
                 surrogate: str = "fast_sigmoid", slope: float | None = None,
                 weight_clip: float | None = CHIP_PERCENTILE, saturation: bool = True,
                 device: RRAMDevice | None = None, read_time: float = 86400.0) -> None:
        super().__init__()
        if not isinstance(model, Sequential):
            raise ValueError(f"model must be a snn_neurram.nn.layers.Sequential "
                             f"(got {type(model).__name__})")
        self.readout = check_choice(readout, "readout", READOUTS)
        self.surrogate = check_choice(surrogate, "surrogate", tuple(SURROGATES))
        self.slope = SURROGATES[surrogate] if slope is None else check_range(
            slope, "slope", 0.0, None, lo_open=True)
        self.weight_clip = None if weight_clip is None else check_range(
            weight_clip, "weight_clip", 0.0, 100.0, lo_open=True)
        self.saturation = bool(saturation)
        self.device = RRAMDevice() if device is None else device
        if not isinstance(self.device, RRAMDevice):
            raise ValueError(f"device must be an RRAMDevice (got {type(self.device).__name__})")
        self.read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True)
        self.name = model.name
        ops: list[nn.Module] = []
        for layer in native_layers(model):
            if isinstance(layer, (SpikingDense, SpikingConv2d)):
                ops.append(SpikingLayer(layer))
            elif isinstance(layer, MaxPool2d):
                ops.append(SpikePool(layer))
            else:
                ops.append(SpikeFlatten(layer))
        self.ops: Sequence[nn.Module] = cast("Sequence[nn.Module]", nn.ModuleList(ops))
        self.eval()

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_model(cls, model: Sequential, **kwargs: Any) -> SpikingNet:
        """The trainable twin of a native spiking ``model`` (keyword arguments as the class)."""
        return cls(model, **kwargs)

    @classmethod
    def mlp(cls, sizes: Sequence[int], *, beta: float = 0.9, threshold: float = 1.0,
            reset: str = "subtract", refractory: int = 0, recurrent: bool = False,
            bias: bool = True, gain: float = 1.0, seed: int = 0, name: str = "snn_mlp",
            **kwargs: Any) -> SpikingNet:
        """A fully connected network of LIF layers, e.g. ``mlp([64, 128, 10])``.

        Parameters
        ----------
        sizes : sequence of int
            Inputs, then the neurons of every layer (the last is the output layer).
        beta, threshold, reset, refractory
            The LIF neurons of every layer (:class:`~snn_neurram.nn.spiking.LIF`).
        recurrent : bool
            Give every hidden layer recurrent weights (out, out) (not the output layer).
        bias : bool
            Layers with biases (initialised to zero).
        gain : float
            Initial weights are uniform with standard deviation gain / sqrt(fan-in) (recurrent
            ones half of that).
        seed : int
            Seed of the initial weights.
        **kwargs
            As the class (readout, surrogate, weight_clip, ...).
        """
        sizes = [check_int(n, "sizes[]", 1, None) for n in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs the inputs and at least one layer (got {sizes})")
        rng = np.random.default_rng(check_int(seed, "seed", 0, None))
        lif = LIF(threshold, beta, reset, refractory)
        layers = []
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            hidden = k < len(sizes) - 2
            W = _init_weight(rng, (n_in, n_out), n_in, gain)
            R = _init_weight(rng, (n_out, n_out), n_out, gain / 2) if recurrent and hidden \
                else None
            layers.append(SpikingDense(W, np.zeros(n_out) if bias else None, lif, R,
                                       name=f"fc{k}"))
        return cls(Sequential(*layers, name=name), **kwargs)

    @classmethod
    def conv(cls, input_shape: Sequence[int], channels: Sequence[int] = (8,),
             n_classes: int = 10, *, kernel: int = 3, padding: int = 1, pool: int = 2,
             hidden: Sequence[int] = (), beta: float = 0.9, threshold: float = 1.0,
             reset: str = "subtract", refractory: int = 0, bias: bool = True, gain: float = 1.0,
             seed: int = 0, name: str = "snn_cnn", **kwargs: Any) -> SpikingNet:
        """A convolutional network for NCHW inputs: (conv -> LIF -> max-pool) per entry of
        ``channels``, flatten, then dense LIF layers of ``hidden`` sizes and the output layer.

        Parameters
        ----------
        input_shape : (C, H, W)
        channels : sequence of int
            Output channels of every convolution (stride 1).
        n_classes : int
        kernel, padding : int
            Of every convolution.
        pool : int
            Max-pooling window and stride after every convolution (1: none).
        hidden : sequence of int
            Dense hidden layers after flattening.
        beta, threshold, reset, refractory, bias, gain, seed, **kwargs
            As :meth:`mlp`.
        """
        shape = tuple(check_int(n, "input_shape[]", 1, None) for n in input_shape)
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W) (got {tuple(input_shape)})")
        rng = np.random.default_rng(check_int(seed, "seed", 0, None))
        lif = LIF(threshold, beta, reset, refractory)
        layers: list[Any] = []
        for k, oc in enumerate(channels):
            ic = shape[0]
            W = _init_weight(rng, (oc, ic, kernel, kernel), ic * kernel * kernel, gain)
            layers.append(SpikingConv2d(W, np.zeros(oc) if bias else None, 1, padding, lif,
                                        name=f"conv{k}"))
            shape = layers[-1].output_shape(shape)
            if pool > 1:
                layers.append(MaxPool2d(pool, name=f"pool{k}"))
                shape = layers[-1].output_shape(shape)
        layers.append(Flatten())
        n_in = int(np.prod(shape))
        for k, n_out in enumerate(list(hidden) + [check_int(n_classes, "n_classes", 1, None)]):
            W = _init_weight(rng, (n_in, n_out), n_in, gain)
            layers.append(SpikingDense(W, np.zeros(n_out) if bias else None, lif,
                                       name=f"fc{k}"))
            n_in = n_out
        return cls(Sequential(*layers, name=name), **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def layers(self) -> list[SpikingLayer]:
        return [op for op in self.ops if isinstance(op, SpikingLayer)]

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def config(self) -> dict[str, Any]:
        """The settings of the chip model and of the surrogate, as a plain dict."""
        return {"readout": self.readout, "surrogate": self.surrogate, "slope": self.slope,
                "weight_clip": self.weight_clip, "saturation": self.saturation,
                "read_time": self.read_time, "device": self.device.to_dict()}

    def saturations(self) -> list[np.ndarray | None]:
        """Membrane limit of the neurons of every spiking layer ((out,), weight units; None:
        digital membrane or ``saturation`` off)."""
        if not self.saturation:
            return [None] * len(self.layers)
        return [layer.saturation(self.weight_clip, None, self.device) for layer in self.layers]

    # ------------------------------------------------------------------ weight noise
    def draw_noise(self, mode: str = "device", eta: float = 0.15,
                   generator: torch.Generator | None = None) -> list[_Noise]:
        """One draw of the weight noise of every spiking layer (one programmed chip): a list of
        (weight, weight_rec, bias) noise tensors for :meth:`forward`.

        Parameters
        ----------
        mode : {"device", "relative"}
            See the module documentation.
        eta : float
            Relative noise of ``"relative"``, >= 0.
        generator : torch.Generator, optional
        """
        check_choice(mode, "mode", ("device", "relative"))
        eta = check_range(eta, "eta", 0.0, None)
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        return [layer.draw_noise(mode, eta, self.weight_clip, self.device, self.read_time, gen)
                for layer in self.layers]

    # ------------------------------------------------------------------ forward
    def forward(self, spikes: Any, noise: list[_Noise] | None = None) -> torch.Tensor:
        """Readout (batch, n_out) of a run over input spikes (steps, batch) + input shape.

        ``noise``: a draw of :meth:`draw_noise` added to the weights (None: none).
        """
        return self.run(spikes, noise)[0]

    def run(self, spikes: Any, noise: list[_Noise] | None = None,
            record: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the network over time (the semantics of ``simulate_float``).

        Parameters
        ----------
        spikes : Tensor or array_like (steps, batch) + input shape
            Input spikes, entries in {-1, 0, 1} (time first, as ``simulate_float``).
        noise : list, optional
            Weight noise of every spiking layer (:meth:`draw_noise`).
        record : bool
            Also return the spikes of every spiking layer.

        Returns
        -------
        readout : Tensor (batch, n_out)
            Final membrane / threshold of the output layer (plus its spike count for
            ``readout="count"``).
        spikes : list of Tensor
            Per spiking layer (steps, batch) + its output shape (the output layer's are zero
            under a membrane readout); empty unless ``record``.
        """
        layers = self.layers
        dtype = layers[0].weight.dtype
        h = torch.as_tensor(spikes).to(dtype)
        if h.ndim < 3:
            raise ValueError(f"spikes must be (steps, batch) + input shape (got shape "
                             f"{tuple(h.shape)})")
        if noise is not None and len(noise) != len(layers):
            raise ValueError(f"noise has {len(noise)} entries for {len(layers)} spiking layers")
        sats = self.saturations()
        steps, batch = h.shape[:2]
        last = len(layers) - 1
        fires_last = self.readout == "count"
        recorded: list[torch.Tensor] = []
        k = 0
        v = count = th = h          # bound below (the net ends with a spiking layer)
        for op in self.ops:
            flat = h.reshape((steps * batch,) + tuple(h.shape[2:]))
            if not isinstance(op, SpikingLayer):
                out = op(flat)
                h = out.reshape((steps, batch) + tuple(out.shape[1:]))
                continue
            W, R, b = op.chip_weights(self.weight_clip)
            if noise is not None:
                dW, dR, db = noise[k]
                W = W + dW
                R = None if R is None else R + cast(torch.Tensor, dR)
                b = b if b is None or db is None else b + db
            # the feed-forward input of every step at once (no step depends on another)
            if op.is_conv:
                ff = F.conv2d(flat, W, b, op.stride, op.padding)
                th = op.threshold.to(dtype).reshape(1, -1, 1, 1)
            else:
                ff = flat.reshape(steps * batch, -1) @ W
                if b is not None and R is None:
                    ff = ff + b
                th = op.threshold.to(dtype).reshape(1, -1)
            ff = ff.reshape((steps, batch) + tuple(ff.shape[1:]))
            th = th.expand(ff.shape[1:])
            fires = k < last or fires_last
            keep = 1.0 - (1.0 - op.beta)            # the chip neuron's 1 - leak
            sat_k = sats[k]
            sat = None if sat_k is None else torch.from_numpy(sat_k).to(dtype).reshape(
                (-1, 1, 1) if op.is_conv else (-1,))
            v = torch.zeros_like(ff[0])
            count = torch.zeros_like(ff[0])
            r = torch.zeros(ff.shape[1:], dtype=torch.int64) if op.refractory else None
            s = torch.zeros_like(ff[0])
            out_spikes = []
            for t in range(steps):
                pre = ff[t]
                if R is not None:                   # its own spikes of the previous step
                    pre = pre + s @ R
                    if b is not None:
                        pre = pre + b
                new = (v * keep if op.beta != 1.0 else v) + pre
                if sat is not None:
                    new = torch.clamp(new, -sat, sat)
                free = None
                if r is not None:
                    free = r <= 0
                    new = torch.where(free, new, v)
                    r = r - (~free).to(torch.int64)
                if fires:
                    s = spike_fn(new, th, self.surrogate, self.slope)
                    if free is not None:
                        s = s * free.to(dtype)
                    fired = s.detach()              # the reset passes no gradient
                    new = new * (1.0 - fired) if op.reset == "zero" else new - fired * th
                    if r is not None:
                        r = torch.where(fired > 0, torch.full_like(r, op.refractory), r)
                    count = count + s
                v = new
                out_spikes.append(s if fires else torch.zeros_like(v))
            h = torch.stack(out_spikes)
            if record:
                recorded.append(h.detach())
            k += 1
        out = (v / th).reshape(batch, -1)
        if fires_last:
            out = out + count.reshape(batch, -1)
        return out, recorded


def export_snn(net: SpikingNet) -> Sequential:
    """The trained net as a :class:`~snn_neurram.nn.layers.Sequential` of SpikingDense,
    SpikingConv2d, MaxPool2d and Flatten layers (float64), what ``snn_neurram.compile`` takes.

    Weights are the ones the chip stores (limited to +-w_max when the net has ``weight_clip``);
    thresholds, betas, resets, refractory periods, recurrent weights and names as trained.
    """
    if not isinstance(net, SpikingNet):
        raise ValueError(f"net must be a SpikingNet (got {type(net).__name__})")
    out: list[Any] = []
    for op in net.ops:
        if isinstance(op, SpikingLayer):
            out.append(op.to_layer(net.weight_clip))
        elif isinstance(op, SpikePool):
            out.append(MaxPool2d(op.kernel, op.stride, op.name))
        else:
            out.append(Flatten(cast(SpikeFlatten, op).name))
    return Sequential(*out, name=net.name)


# ---------------------------------------------------------------------------- inputs
def encode_inputs(X: Any, steps: int, coding: str = "rate",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Input spikes (steps, batch) + input shape, float32, entries in {-1, 0, 1}.

    Parameters
    ----------
    X : Tensor or array_like
        ``"rate"`` and ``"regular"``: values (batch, ...), |x| in [0, 1] (clipped; the sign of x
        is the sign of its spikes). ``"spikes"``: spike trains (batch, steps, ...).
    steps : int
        Time steps (for ``"spikes"`` it must equal X.shape[1]).
    coding : {"rate", "regular", "spikes"}
        ``"rate"``: in each step an input spikes with probability |x| (Bernoulli, drawn from
        ``generator``); ``"regular"``: :func:`snn_neurram.physics.encoding.regular`
        (round(steps |x|) evenly spread spikes, deterministic, as the chip's encoder);
        ``"spikes"``: X as given, moved to time-first.
    generator : torch.Generator, optional
        Source of the ``"rate"`` draws (default: a fresh one seeded with 0).
    """
    check_choice(coding, "coding", CODINGS)
    steps = check_int(steps, "steps", 1, 10**6)
    x = torch.as_tensor(X, dtype=torch.float32)
    if coding == "spikes":
        if x.ndim < 2 or x.shape[1] != steps:
            raise ValueError(f"spike trains must be (batch, steps={steps}, ...) (got shape "
                             f"{tuple(x.shape)})")
        return x.transpose(0, 1)
    if coding == "regular":
        arr = X.detach().numpy() if isinstance(X, torch.Tensor) else np.asarray(X, float)
        return torch.from_numpy(regular(arr, steps)).to(torch.float32)
    gen = torch.Generator().manual_seed(0) if generator is None else generator
    p = x.abs().clamp(0.0, 1.0)
    draw = torch.rand((steps,) + tuple(p.shape), generator=gen) < p
    return draw.to(torch.float32) * torch.sign(x)


def _inputs(X: Any, y: Any, coding: str, steps: int, name: str = "X",
            yname: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) as float32 / int64 tensors, checked against each other and the code."""
    Xt, yt = labelled_data(X, y, name, yname)
    if coding == "spikes":
        if Xt.ndim < 3 or Xt.shape[1] != steps:
            raise ValueError(f"with coding='spikes', {name} must be spike trains (N, steps={steps}"
                             f", ...) (got shape {tuple(Xt.shape)})")
        if not bool(torch.isin(Xt, torch.tensor([-1.0, 0.0, 1.0])).all()):
            raise ValueError(f"spike trains {name} must hold -1, 0 and 1 only")
    elif Xt.numel() and (float(Xt.min()) < -1.0 or float(Xt.max()) > 1.0):
        raise ValueError(f"{name} must hold values in [-1, 1] (spike probabilities; got "
                         f"[{float(Xt.min()):g}, {float(Xt.max()):g}]): scale the inputs first")
    return Xt, yt


def _pre_encode(X: Any, Xt: torch.Tensor, steps: int, coding: str) -> tuple[torch.Tensor, str]:
    """A deterministic code encoded once, from the float64 inputs as the chip's encoder gets
    them: (spike trains (N, steps, ...), "spikes"); other codes unchanged."""
    if coding != "regular":
        return Xt, coding
    spikes = torch.from_numpy(regular(as_finite_array(X, "X"), steps))
    return spikes.transpose(0, 1).contiguous(), "spikes"


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_snn(net: SpikingNet, X: ArrayLike, y: ArrayLike, *, steps: int = 16,
                 coding: str = "rate", seed: int = 0, batch_size: int = 512,
                 noise: str | None = None, eta: float = 0.15, draws: int = 1,
                 threads: int | None = 1) -> float:
    """Float accuracy (fraction) of the net, run as :meth:`SpikingNet.run` (mean over draws).

    Parameters
    ----------
    net : SpikingNet
    X, y : array_like
        Inputs (values, or spike trains for ``coding="spikes"``) and integer labels.
    steps : int
        Time steps per sample.
    coding : {"rate", "regular", "spikes"}
        See :func:`encode_inputs`.
    seed : int
        Seeds the rate code's draws and the weight noise (the net is not touched).
    batch_size : int
    noise : {"device", "relative", None}
        Weight noise: each of ``draws`` draws is one programmed chip, kept for the whole data set.
        None: the noise-free float network.
    eta : float
        Relative noise of ``noise="relative"``.
    draws : int
        Noise draws, in [1, 100000] (only the first counts without noise and with a
        deterministic code).
    threads : int, optional
        PyTorch's intra-op threads during the call (as :func:`train_snn`).
    """
    if not isinstance(net, SpikingNet):
        raise ValueError(f"net must be a SpikingNet (got {type(net).__name__})")
    steps = check_int(steps, "steps", 1, 10**6)
    check_choice(coding, "coding", CODINGS)
    check_choice(noise, "noise", SNN_NOISE_MODES)
    batch_size = check_int(batch_size, "batch_size", 1, None)
    draws = check_int(draws, "draws", 1, 100000)
    code_seed, noise_seed = (int(s) for s in np.random.SeedSequence(
        check_int(seed, "seed", 0, None)).generate_state(2))
    Xt, yt = _inputs(X, y, coding, steps)
    Xt, coding_run = _pre_encode(X, Xt, steps, coding)
    code_gen = torch.Generator().manual_seed(code_seed)
    noise_gen = torch.Generator().manual_seed(noise_seed)
    was_training = net.training
    net.eval()
    accs: list[float] = []
    try:
        with torch_threads(threads):
            for d in range(draws):
                if d > 0 and noise is None and coding_run != "rate":
                    accs.append(accs[0])
                    continue
                delta = None if noise is None else net.draw_noise(noise, eta, noise_gen)
                correct = 0
                for i in range(0, len(Xt), batch_size):
                    s = encode_inputs(Xt[i:i + batch_size], steps, coding_run, code_gen)
                    out = net(s, delta)
                    correct += int((out.argmax(1) == yt[i:i + batch_size]).sum())
                accs.append(correct / len(Xt))
    finally:
        net.train(was_training)
    return float(np.mean(accs))


# ---------------------------------------------------------------------------- training
def train_snn(net: SpikingNet, X: ArrayLike, y: ArrayLike, *, steps: int = 16,
              coding: str = "rate", epochs: int = 20, lr: float = 2e-3, batch_size: int = 64,
              noise: str | None = "device", eta: float = 0.15, weight_decay: float = 0.0,
              lr_schedule: str | None = "cosine", X_val: ArrayLike | None = None,
              y_val: ArrayLike | None = None, checkpoint: str | os.PathLike[str] | None = None,
              resume: bool = True, progress: bool | None = None, seed: int = 0,
              threads: int | None = 1) -> dict[str, Any]:
    """Train ``net`` with Adam on the cross-entropy of its readout, by backpropagation through
    time with surrogate gradients, the chip's weight noise on in every forward pass.

    Parameters
    ----------
    net : SpikingNet
        Trained in place; left in evaluation mode.
    X : array_like (N, ...)
        Inputs: values in [0, 1] (``"rate"``, ``"regular"``) or spike trains (N, steps, ...)
        (``"spikes"``).
    y : array_like (N,) of int
        Class labels, < the net's outputs.
    steps : int
        Time steps per sample, in [1, 10**6].
    coding : {"rate", "regular", "spikes"}
        Input code (:func:`encode_inputs`); rate-coded spikes are drawn afresh every epoch.
    epochs : int
        Passes over the data, in [1, 100000].
    lr : float
        Adam learning rate, > 0.
    batch_size : int
        Samples per step (the last step of an epoch takes the rest).
    noise : {"device", "relative", None}
        Weight noise of every forward pass (one draw per batch, constant over its time steps):
        the conductance spread of the net's device model, relative noise of ``eta``, or none.
    eta : float
        Relative weight noise of ``noise="relative"``, >= 0.
    weight_decay : float
        Adam's L2 coefficient, >= 0.
    lr_schedule : {"cosine", None}
        Cosine decay of the learning rate to 0 over all steps, or a constant rate.
    X_val, y_val : array_like, optional
        Validation data, scored after every epoch without weight noise (seeded, the same
        spikes every epoch).
    checkpoint : str or path, optional
        File written atomically after every epoch.
    resume : bool
        Continue from ``checkpoint`` when it exists; its settings must equal this call's, else
        ValueError. The result equals that of an uninterrupted run.
    progress : bool, optional
        A progress bar per epoch and a summary line after it; None: when stderr is a terminal.
    seed : int
        Seeds the shuffling, the input spikes and the weight noise.
    threads : int, optional
        PyTorch's intra-op threads during the call (restored after). Default 1: the per-step
        operations are small, and more threads mostly wait on each other (8x slower on a busy
        2-core machine). None leaves PyTorch's setting.

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy of each epoch), ``train_accuracy`` (on the noisy training
        passes), ``val_accuracy`` (None entries without validation data), ``seconds`` (wall time
        of each epoch) and ``epochs_done``.
    """
    if not isinstance(net, SpikingNet):
        raise ValueError(f"net must be a SpikingNet (got {type(net).__name__})")
    steps = check_int(steps, "steps", 1, 10**6)
    coding = check_choice(coding, "coding", CODINGS)
    epochs, lr, batch_size, weight_decay, lr_schedule, seed = check_schedule(
        epochs, lr, batch_size, weight_decay, lr_schedule, seed)
    noise = check_choice(noise, "noise", SNN_NOISE_MODES)
    eta = check_range(eta, "eta", 0.0, None)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    Xt, yt = _inputs(X, y, coding, steps)
    if int(yt.max()) >= net.n_out:
        raise ValueError(f"y holds label {int(yt.max())} but the net has {net.n_out} outputs")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None:
        _inputs(X_val, y_val, coding, steps, "X_val", "y_val")
    n = len(Xt)
    n_batches = math.ceil(n / batch_size)
    config = {"steps": steps, "coding": coding, "epochs": epochs, "lr": lr,
              "batch_size": batch_size, "noise": noise, "eta": eta if noise == "relative" else None,
              "weight_decay": weight_decay, "lr_schedule": lr_schedule, "seed": seed,
              "n_train": n, **net.config()}
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = lr_scheduler(opt, lr_schedule, epochs * n_batches)
    shuffle_seed, code_seed, noise_seed = (int(s) for s in
                                           np.random.SeedSequence(seed).generate_state(3))
    gens = {"shuffle_rng": torch.Generator().manual_seed(shuffle_seed),
            "code_rng": torch.Generator().manual_seed(code_seed),
            "noise_rng": torch.Generator().manual_seed(noise_seed)}
    history = resume_training(checkpoint, resume, config, net, opt, sched, gens) or new_history()
    Xt, coding_run = _pre_encode(X, Xt, steps, coding)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = encode_inputs(Xt[idx], steps, coding_run, gens["code_rng"])
        delta = None if noise is None else net.draw_noise(noise, eta, gens["noise_rng"])
        out = net(s, delta)
        return F.cross_entropy(out, yt[idx]), out

    def validate() -> float | None:
        return None if X_val is None or y_val is None else evaluate_snn(
            net, X_val, y_val, steps=steps, coding=coding, seed=seed, threads=None)

    try:
        with torch_threads(threads):
            run_epochs(net, yt, batch_size, epochs, history, opt, sched, gens, batch_loss,
                       validate, checkpoint=checkpoint, config=config, progress=show,
                       extra={"kind": "SpikingNet"})
    finally:
        net.eval()
    return history
