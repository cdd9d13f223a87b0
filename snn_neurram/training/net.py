"""QuantNet: a :class:`~snn_neurram.layers.Sequential` rebuilt in PyTorch for training as the chip
will run it, and :func:`export` back to layers.

The network is cut into stages, one per weighted layer: stage k holds the k-th Dense or Conv2d
layer, its activation and the digital layers (pooling, flatten) that follow it up to the next
weighted layer. The cut matches the chip: a stage's output is what its neurons give, so a forward
pass can also start at any stage from activations measured on a chip.

What the chip does to a stage, and the training models:

- inputs: the input DAC has ``in_bits`` bits over [0, input_range];
- weights: stored on RRAM, read with a spread; in training mode each forward pass adds fresh
  Gaussian noise to the weights (``noise="relative"``: sigma = eta max|W| per layer;
  ``noise="device"``: sigma per weight from :func:`~snn_neurram.training.weight_noise_sigma`);
- ReLU neurons: a clipped ReLU with a trainable clip alpha_k whose output is rounded to
  ``act_bits`` bits (k alpha_k / L levels); linear neurons output the pre-activation as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import ArrayLike
import torch.nn.functional as F
from torch import nn

from .._checks import as_finite_array, check_choice, check_int, check_range
from ..physics.device import RRAMDevice
from ..nn.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Sequential, layer_from_dict
from .quant import MIN_CLIP, clipped_relu, quantize_input
from .spread import weight_noise_sigma

__all__ = ["QuantNet", "Stage", "export", "NOISE_MODES"]

NOISE_MODES = ("relative", "device", None)
_DIGITAL = ("MaxPool2d", "AvgPool2d", "Flatten")
_SUPPORTED = "Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten"
#: Starting clip of a ReLU stage until its first data calibration (output units).
INITIAL_CLIP = 6.0


def _digital_module(spec):
    if spec["type"] == "MaxPool2d":
        return nn.MaxPool2d(spec["kernel"], spec["stride"])
    if spec["type"] == "AvgPool2d":
        return nn.AvgPool2d(spec["kernel"], spec["stride"])
    return nn.Flatten()


def _flat_layers(model):
    out = []
    for layer in model.layers:
        out += _flat_layers(layer) if isinstance(layer, Sequential) else [layer]
    return out


class Stage(nn.Module):
    """One weighted layer with its activation and the digital layers after it.

    Parameters are held in PyTorch layout: ``weight`` (out, in) for a dense layer, (out_c, in_c,
    kh, kw) for a convolution; ``clip`` is the ReLU's clip alpha (None for a linear stage);
    the buffer ``calibrated`` says whether alpha has been set from data or by the user.
    """

    calibrated: torch.Tensor

    def __init__(self, layer: Dense | Conv2d, digital: list[MaxPool2d | AvgPool2d | Flatten],
                 act_bits: int, clip: float | None, weight_clip: float | None = None):
        super().__init__()
        self.weight_clip = weight_clip
        W = torch.tensor(np.asarray(layer.W), dtype=torch.float32)
        self.is_conv = isinstance(layer, Conv2d)
        self.stride = layer.stride if isinstance(layer, Conv2d) else 1
        self.padding = layer.padding if isinstance(layer, Conv2d) else 0
        self.weight = nn.Parameter(W if self.is_conv else W.T.contiguous())
        self.bias = None if layer.b is None else \
            nn.Parameter(torch.tensor(np.asarray(layer.b), dtype=torch.float32))
        self.relu = layer.activation == "relu"
        self.act_bits = act_bits
        if self.relu:
            start = INITIAL_CLIP if clip is None else float(clip)
            self.clip = nn.Parameter(torch.tensor(start, dtype=torch.float32))
        else:
            self.register_parameter("clip", None)
        self.register_buffer("calibrated", torch.tensor(not self.relu or clip is not None))
        self.name = layer.name
        self.digital_specs = [d.to_dict() for d in digital]
        self.digital = nn.Sequential(*[_digital_module(s) for s in self.digital_specs])

    def effective_weight(self) -> torch.Tensor:
        """The weight as the chip stores it: limited to +-(``weight_clip``-th percentile of
        |W|) when set, as the mapping's w_max limits it (no gradient flows beyond)."""
        if self.weight_clip is None:
            return self.weight
        w_max = torch.quantile(self.weight.detach().abs().flatten(), self.weight_clip / 100.0)
        return torch.clamp(self.weight, -w_max, w_max)

    def preactivation(self, x: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        """x W + b with the weight noise ``delta`` (a tensor like ``weight``) added when given."""
        W = self.effective_weight() if delta is None else self.effective_weight() + delta
        if self.is_conv:
            return F.conv2d(x, W, self.bias, self.stride, self.padding)
        return F.linear(x, W, self.bias)

    def forward(self, x: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        y = self.preactivation(x, delta)
        if self.relu:
            y = clipped_relu(y, self.clip, self.act_bits)
        return self.digital(y)

    def to_layers(self, x_max: float | None) -> list[Any]:
        """This stage as float64 layers: the weighted layer, then its digital layers."""
        W = self.effective_weight().detach().double().numpy().copy()
        b = None if self.bias is None else self.bias.detach().double().numpy().copy()
        act = "relu" if self.relu else "linear"
        clip = max(self.clip.item(), MIN_CLIP) if self.relu else None
        layer: Dense | Conv2d
        if self.is_conv:
            layer = Conv2d(W, b, self.stride, self.padding, act, clip, self.name, x_max)
        else:
            layer = Dense(W.T.copy(), b, act, clip, self.name, x_max)
        return [layer] + [layer_from_dict(s) for s in self.digital_specs]


class QuantNet(nn.Module):
    """Quantisation- and noise-aware PyTorch twin of a layers model (build with :meth:`from_model`).

    A new net is in evaluation mode (no weight noise); ``net.train()`` switches the noise on.

    Attributes
    ----------
    stages : nn.ModuleList of Stage
        One per weighted layer.
    n_stages : int
    test_eta : float or None
        When set, evaluation-mode forward passes add relative weight noise of this eta (fresh
        at every pass). Default None: no noise in evaluation mode.
    generator : torch.Generator
        Source of the weight-noise draws (seeded from ``seed``; :func:`train` reseeds it).
    """

    def __init__(self, model: Sequential, *, in_bits: int = 3, act_bits: int = 3,
                 eta: float = 0.15, noise: str | None = "relative",
                 device: RRAMDevice | None = None, read_time: float = 86400.0,
                 input_range: float = 1.0, clip_init: float | None = None,
                 weight_clip: float | None = None, seed: int = 0):
        super().__init__()
        if not isinstance(model, Sequential):
            raise ValueError(f"model must be a snn_neurram.layers.Sequential "
                             f"(got {type(model).__name__})")
        self.in_bits = check_int(in_bits, "in_bits", 1, 16)
        self.act_bits = check_int(act_bits, "act_bits", 1, 16)
        self.eta = check_range(eta, "eta", 0.0, None)
        self.noise = check_choice(noise, "noise", NOISE_MODES)
        self.device = RRAMDevice() if device is None else device
        if not isinstance(self.device, RRAMDevice):
            raise ValueError(f"device must be an RRAMDevice (got {type(self.device).__name__})")
        self.read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True)
        self.input_range = check_range(input_range, "input_range", 0.0, None, lo_open=True)
        if clip_init is not None:
            clip_init = check_range(clip_init, "clip_init", 0.0, None, lo_open=True)
        self.weight_clip = None if weight_clip is None else check_range(
            weight_clip, "weight_clip", 0.0, 100.0, lo_open=True)
        self.seed = check_int(seed, "seed", 0, None)
        self.name = model.name
        self.test_eta = None
        self.generator = torch.Generator().manual_seed(self.seed)
        self.frozen_noise: list[torch.Tensor] | None = None

        pre: list[Any]
        groups: list[tuple[Any, list[Any]]]
        pre, groups = [], []
        for layer in _flat_layers(model):
            kind = type(layer).__name__
            if kind in ("Dense", "Conv2d"):
                if layer.activation not in ("relu", "linear"):
                    raise ValueError(f"layer {layer.name!r} has activation {layer.activation!r}; "
                                     "QuantNet supports 'relu' and 'linear'")
                groups.append((layer, []))
            elif kind in _DIGITAL:
                (groups[-1][1] if groups else pre).append(layer)
            else:
                raise ValueError(f"layer {getattr(layer, 'name', '?')!r} of type {kind} is not "
                                 f"supported by QuantNet (supported: {_SUPPORTED})")
        if not groups:
            raise ValueError("model has no Dense or Conv2d layer")
        self.pre_specs = [d.to_dict() for d in pre]
        self.pre = nn.Sequential(*[_digital_module(s) for s in self.pre_specs])
        self.stages: Sequence[Stage] = cast("Sequence[Stage]", nn.ModuleList(
            Stage(layer, digital, self.act_bits, clip_init if clip_init is not None else
                  layer.clip, self.weight_clip) for layer, digital in groups))
        self.eval()

    @classmethod
    def from_model(cls, model: Sequential, *, in_bits: int = 3, act_bits: int = 3,
                   eta: float = 0.15, noise: str | None = "relative",
                   device: RRAMDevice | None = None, read_time: float = 86400.0,
                   input_range: float = 1.0, clip_init: float | None = None,
                   weight_clip: float | None = None, seed: int = 0) -> QuantNet:
        """Build the trainable twin of ``model``.

        Parameters
        ----------
        model : Sequential
            Dense, Conv2d (activation "relu" or "linear"), MaxPool2d, AvgPool2d and Flatten
            layers; nested Sequentials are flattened. Weights and biases are copied (float32).
        in_bits : int
            Bits of the input quantiser, in [1, 16].
        act_bits : int
            Bits of every ReLU stage's output, in [1, 16].
        eta : float
            Relative weight noise of training (``noise="relative"``): sigma = eta max|W|.
        noise : {"relative", "device", None}
            Weight-noise model in training mode (None: quantisation-aware training only).
        device : RRAMDevice, optional
            Cell model for ``noise="device"``; default ``RRAMDevice()``.
        read_time : float
            Time between programming and reading (s) for ``noise="device"``; default one day.
        input_range : float
            Inputs are clipped to [0, input_range] (input units) before quantisation.
        clip_init : float, optional
            Initial clip alpha of every ReLU stage (output units). By default a layer's own
            ``clip`` when it has one, and otherwise alpha is calibrated at the first
            :func:`train` call: the 99.9th percentile of the stage's unclipped ReLU outputs on up
            to 1024 training inputs, stage after stage (see :meth:`calibrate`).
        weight_clip : float, optional
            Limit every layer's weights to +-(this percentile of its |W|) in every forward pass,
            as the chip's mapping does (``Chip(percentile=...)``, 95 by default); exported
            weights are the limited ones, so the compiler's w_max clips nothing more.
        seed : int
            Seed of the weight-noise generator.

        Returns
        -------
        QuantNet
            In evaluation mode (no weight noise) until ``net.train()``; :func:`train` switches
            the mode itself.
        """
        return cls(model, in_bits=in_bits, act_bits=act_bits, eta=eta, noise=noise,
                   device=device, read_time=read_time, input_range=input_range,
                   clip_init=clip_init, weight_clip=weight_clip, seed=seed)

    @property
    def test_eta(self) -> float | None:
        return self._test_eta

    @test_eta.setter
    def test_eta(self, eta: float | None) -> None:
        self._test_eta = None if eta is None else check_range(eta, "test_eta", 0.0, None)

    @property
    def n_stages(self) -> int:
        return len(self.stages)

    def clips(self) -> list[float | None]:
        """Current clip alpha_k of every stage (output units); None for a linear stage."""
        return [s.clip.item() if s.relu else None for s in self.stages]

    def config(self) -> dict[str, Any]:
        """The quantisation and noise settings, as a plain dict."""
        return {"in_bits": self.in_bits, "act_bits": self.act_bits, "eta": self.eta,
                "noise": self.noise, "read_time": self.read_time,
                "input_range": self.input_range, "weight_clip": self.weight_clip,
                "device": self.device.to_dict()}

    # ------------------------------------------------------------------ weight noise
    def draw_noise(self, k: int, mode: str = "relative", eta: float | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of the weight noise of stage k (a tensor like its weight).

        ``mode`` "relative": N(0, (eta max|W|)^2) with ``eta`` (default the net's eta);
        "device": N(0, weight_noise_sigma(W)^2) with the net's device and read time.
        """
        check_choice(mode, "mode", ("relative", "device"))
        W = self.stages[k].effective_weight().detach()
        gen = self.generator if generator is None else generator
        if mode == "relative":
            eta = self.eta if eta is None else eta
            sigma = eta * W.abs().max()
        else:
            sigma = torch.from_numpy(weight_noise_sigma(W.numpy(), self.device,
                                                        self.read_time)).to(W.dtype)
        return sigma * torch.randn(W.shape, generator=gen, dtype=W.dtype)

    def _noise(self, k):
        if self.frozen_noise is not None:
            return self.frozen_noise[k]
        if self.training:
            return None if self.noise is None else self.draw_noise(k, self.noise)
        if self.test_eta is not None:
            return self.draw_noise(k, "relative", self.test_eta)
        return None

    # ------------------------------------------------------------------ forward
    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs clipped to [0, input_range] and rounded to ``in_bits`` bits."""
        return quantize_input(x, self.input_range, self.in_bits)

    def forward(self, x: Any, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run stages[start:stop] and return the last one's output (logits by default).

        Parameters
        ----------
        x : Tensor or array_like
            With ``start`` 0 the network input (quantised here, then the digital layers before
            the first weighted layer); otherwise the output of stage ``start - 1`` (e.g.
            measured on a chip), used as is.
        start : int
            First stage, in [0, n_stages - 1].
        stop : int, optional
            One past the last stage, in [start + 1, n_stages]; default n_stages.
        """
        x = torch.as_tensor(x, dtype=torch.float32)
        start = check_int(start, "start", 0, self.n_stages - 1)
        stop = self.n_stages if stop is None else check_int(stop, "stop", start + 1,
                                                            self.n_stages)
        if start == 0:
            x = self.pre(self.quantize_input(x))
        for k in range(start, stop):
            x = self.stages[k](x, self._noise(k))
        return x

    # ------------------------------------------------------------------ clip calibration
    @torch.no_grad()
    def calibrate(self, X: ArrayLike, start: int = 0, percentile: float = 99.9,
                  max_samples: int = 1024, seed: int = 0, force: bool = False) -> None:
        """Set the clip alpha of uncalibrated ReLU stages from data, stage after stage.

        alpha_k is the ``percentile``-th percentile of stage k's unclipped ReLU outputs
        max(x W + b, 0) (zeros included), computed without weight noise on inputs that went
        through the already calibrated, quantised stages before it.

        Parameters
        ----------
        X : array_like (N, ...)
            Inputs of stage ``start`` (network inputs when ``start`` is 0).
        start : int
            First stage to calibrate.
        percentile : float
            In (0, 100].
        max_samples : int
            At most this many rows of X, drawn without replacement with ``seed``.
        force : bool
            Recalibrate stages that are calibrated already.
        """
        start = check_int(start, "start", 0, self.n_stages - 1)
        percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
        max_samples = check_int(max_samples, "max_samples", 1, None)
        X = as_finite_array(X, "X", dtype=np.float32)
        if len(X) > max_samples:
            X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_samples, replace=False))]
        x = torch.from_numpy(np.ascontiguousarray(X))
        if start == 0:
            x = self.pre(self.quantize_input(x))
        for stage in self.stages[start:]:
            if stage.relu and (force or not bool(stage.calibrated)):
                pre = torch.relu(stage.preactivation(x)).numpy()
                alpha = float(np.percentile(pre, percentile))
                if alpha <= MIN_CLIP:
                    alpha = max(float(pre.max()), 1.0)
                stage.clip.fill_(alpha)
                stage.calibrated.fill_(True)
            x = stage(x)

    def is_calibrated(self, start: int = 0) -> bool:
        """True when every ReLU stage from ``start`` on has its clip set."""
        return all(bool(s.calibrated) for s in self.stages[start:])


def export(net: QuantNet) -> Sequential:
    """The trained net as a :class:`~snn_neurram.layers.Sequential` with float64 weights.

    Dense weights come out as (in, out), Conv2d weights as (out_c, in_c, kh, kw), with the
    source model's layer names, strides, paddings and digital layers. A ReLU stage becomes a
    ``relu`` layer with ``clip`` = alpha_k; a linear stage a ``linear`` layer. Each weighted
    layer's ``x_max`` is its input range: ``input_range`` for the first, alpha of the previous
    ReLU stage for the others (None after a linear stage in the middle).
    """
    if not isinstance(net, QuantNet):
        raise ValueError(f"net must be a QuantNet (got {type(net).__name__})")
    layers = [layer_from_dict(s) for s in net.pre_specs]
    x_max: float | None = net.input_range
    for stage in net.stages:
        layers += stage.to_layers(x_max)
        x_max = max(stage.clip.item(), MIN_CLIP) if stage.relu else None
    return Sequential(*layers, name=net.name)
