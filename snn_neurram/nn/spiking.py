"""Native spiking layers: weighted layers whose neurons are leaky integrate-and-fire neurons.

A native spiking network is a :class:`~snn_neurram.nn.layers.Sequential` of
:class:`SpikingDense` and :class:`SpikingConv2d` layers (with ``MaxPool2d`` and ``Flatten``
between them); unlike a converted network, its thresholds, leaks and resets are part of the
model, in the units of its weights. It runs in discrete time, one step per neuron cycle of the
chip. In step t, layer k of a network of spiking layers computes

    v_k[t] = beta * v_k[t-1] + W_k s_{k-1}[t] + R_k s_k[t-1] + b_k
    s_k[t] = v_k[t] >= threshold

and then resets the neurons that spiked: to zero (``reset="zero"``) or by subtracting the
threshold (``"subtract"``), after which they rest for ``refractory`` steps (a resting neuron
keeps v and neither integrates nor fires). ``s_0`` is the input spike train and ``R_k`` the
optional recurrent weights (the layer's own spikes of the previous step). The output layer of a
run is read by its membrane (it does not fire) or by its spike counts.

These are the same steps as the chip's neuron in LIF mode
(:func:`snn_neurram.physics.neuron.lif_step`): ``leak = 1 - beta``. On the chip, layer k
computes step t in neuron cycle t + k (a pipeline), and a recurrent layer's own spikes drive
extra rows of its own array (the transposable array's recurrent mode): its matrix is the
feed-forward weights stacked on the recurrent ones.

``forward_float`` of a spiking layer is one step from rest (``s = x W + b >= threshold``); the
time-stepped float reference of a whole network is
:func:`snn_neurram.compiler.native.simulate_float`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_choice, check_int, check_range
from .layers import LAYER_TYPES, Conv2d, Dense

__all__ = ["LIF", "SpikingDense", "SpikingConv2d", "RESETS", "SPIKING", "is_spiking"]

#: Reset modes of the LIF neuron.
RESETS = ("subtract", "zero")


@dataclass(frozen=True, eq=False)
class LIF:
    """Parameters of the leaky integrate-and-fire neurons of a spiking layer.

    Parameters
    ----------
    threshold : float or array_like (n_out,)
        Firing threshold, in the units of the layer's weights (a spike carries 1); > 0.
    beta : float
        Fraction of the membrane kept from one step to the next, in [0, 1]: 1 is a
        non-leaky integrate-and-fire neuron, 0 a neuron without memory (a threshold unit).
        The chip's neuron leaks ``1 - beta`` per cycle.
    reset : {"subtract", "zero"}
        After a spike the membrane loses the threshold, or is set to zero.
    refractory : int
        Steps a neuron rests after a spike (0-255).
    """

    threshold: Any = 1.0
    beta: float = 1.0
    reset: str = "subtract"
    refractory: int = 0

    def __post_init__(self) -> None:
        th = as_finite_array(self.threshold, "threshold")
        if th.ndim > 1:
            raise ValueError(f"threshold must be a number or one value per neuron (got shape "
                             f"{th.shape})")
        if np.any(th <= 0):
            raise ValueError(f"threshold must be > 0 (got minimum {float(th.min())})")
        object.__setattr__(self, "threshold", float(th) if th.ndim == 0 else th)
        object.__setattr__(self, "beta", check_range(self.beta, "beta", 0.0, 1.0))
        check_choice(self.reset, "reset", RESETS)
        object.__setattr__(self, "refractory", check_int(self.refractory, "refractory", 0, 255))

    def __repr__(self) -> str:
        th = self.threshold
        text = (f"{th:g}" if np.ndim(th) == 0 else
                f"per neuron {float(np.min(th)):g}..{float(np.max(th)):g}")
        return (f"LIF(threshold={text}, beta={self.beta:g}, reset={self.reset!r}, "
                f"refractory={self.refractory})")

    def thresholds(self, n: int) -> np.ndarray:
        """The threshold of each of ``n`` neurons."""
        th = np.broadcast_to(np.asarray(self.threshold, float), (n,)) if np.ndim(
            self.threshold) == 0 else np.asarray(self.threshold, float)
        if th.shape != (n,):
            raise ValueError(f"threshold has {th.size} values for a layer of {n} neurons")
        return np.array(th, float)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "beta": self.beta, "reset": self.reset,
                "refractory": self.refractory}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LIF:
        th = d["threshold"]
        return cls(th if np.ndim(th) else float(th), float(d["beta"]), str(d["reset"]),
                   int(d["refractory"]))


def _step_from_rest(pre: np.ndarray, neuron: LIF, n_out: int, channel_axis: int) -> np.ndarray:
    th = neuron.thresholds(n_out)
    shape = [1] * pre.ndim
    shape[channel_axis] = n_out
    return (pre >= th.reshape(shape)).astype(float)


class SpikingDense(Dense):
    """Fully connected layer of LIF neurons, optionally recurrent.

    Parameters
    ----------
    W : array_like (in_features, out_features)
    b : array_like (out_features,), optional
        Added every step (the chip drives its bias rows every cycle).
    neuron : LIF, optional
        Default ``LIF()``: threshold 1, no leak, reset by subtraction.
    W_rec : array_like (out_features, out_features), optional
        Recurrent weights: ``W_rec[i, j]`` from neuron i's spike of the previous step to
        neuron j.
    name : str, optional
    """

    def __init__(self, W: ArrayLike, b: ArrayLike | None = None, neuron: LIF | None = None,
                 W_rec: ArrayLike | None = None, name: str | None = None) -> None:
        super().__init__(W, b, activation="linear", name=name or "spiking_dense", x_max=1.0)
        if neuron is not None and not isinstance(neuron, LIF):
            raise ValueError(f"neuron must be a LIF (got {type(neuron).__name__})")
        self.neuron = neuron if neuron is not None else LIF()
        n_out = self.W.shape[1]
        self.neuron.thresholds(n_out)
        self.W_rec = None if W_rec is None else as_finite_array(W_rec, "W_rec", ndim=2,
                                                                shape=(n_out, n_out))

    @property
    def recurrent(self) -> bool:
        """True when the layer has recurrent weights."""
        return self.W_rec is not None

    def __repr__(self) -> str:
        return (f"SpikingDense({self.W.shape[0]} -> {self.W.shape[1]}"
                f"{', recurrent' if self.recurrent else ''}{', bias' if self.b is not None else ''}"
                f", {self.neuron!r}, name={self.name!r})")

    def matrix(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The (in + out, out) matrix of a recurrent layer (feed-forward rows, then the rows
        its own spikes drive), else W."""
        if self.W_rec is None:
            return self.W, self.b
        return np.vstack([self.W, self.W_rec]), self.b

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        """Spikes of one step from rest (the network's time-stepped reference is
        :func:`snn_neurram.compiler.native.simulate_float`)."""
        return _step_from_rest(self.preactivation(x), self.neuron, self.W.shape[1], -1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "SpikingDense", "W": self.W, "b": self.b, "W_rec": self.W_rec,
                "neuron": self.neuron.to_dict(), "name": self.name}


class SpikingConv2d(Conv2d):
    """2-D convolution of LIF neurons (one neuron per output channel and pixel).

    Parameters
    ----------
    W : array_like (out_channels, in_channels, kh, kw)
    b : array_like (out_channels,), optional
    stride, padding : int
    neuron : LIF, optional
        Its ``threshold`` is one value, or one per output channel.
    name : str, optional
    """

    def __init__(self, W: ArrayLike, b: ArrayLike | None = None, stride: int = 1,
                 padding: int = 0, neuron: LIF | None = None, name: str | None = None) -> None:
        super().__init__(W, b, stride, padding, activation="linear",
                         name=name or "spiking_conv", x_max=1.0)
        if neuron is not None and not isinstance(neuron, LIF):
            raise ValueError(f"neuron must be a LIF (got {type(neuron).__name__})")
        self.neuron = neuron if neuron is not None else LIF()
        self.neuron.thresholds(self.W.shape[0])

    recurrent = False

    def __repr__(self) -> str:
        oc, ic, kh, kw = self.W.shape
        return (f"SpikingConv2d({ic} -> {oc}, {kh}x{kw}, stride {self.stride}, padding "
                f"{self.padding}, {self.neuron!r}, name={self.name!r})")

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        """Spikes of one step from rest."""
        return _step_from_rest(self.preactivation(x), self.neuron, self.W.shape[0], 1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "SpikingConv2d", "W": self.W, "b": self.b, "stride": self.stride,
                "padding": self.padding, "neuron": self.neuron.to_dict(), "name": self.name}


#: The native spiking layer types.
SPIKING = (SpikingDense, SpikingConv2d)


def is_spiking(layer: Any) -> bool:
    """True for a native spiking layer."""
    return isinstance(layer, SPIKING)


LAYER_TYPES["SpikingDense"] = lambda d: SpikingDense(
    d["W"], d["b"], LIF.from_dict(d["neuron"]), d.get("W_rec"), d["name"])
LAYER_TYPES["SpikingConv2d"] = lambda d: SpikingConv2d(
    d["W"], d["b"], d["stride"], d["padding"], LIF.from_dict(d["neuron"]), d["name"])
