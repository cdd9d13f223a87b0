"""Network layers that the compiler maps onto the chip, with their float reference forward pass.

Weighted layers (``Dense``, ``Conv2d``) become weight matrices on cores; a convolution runs as
its unrolled matrix (one MVM per output pixel, im2col), the way the chip runs convolutions. Their
activation is executed by the neurons: ``relu`` (optionally clipped), ``linear``, ``sigmoid``,
``tanh``. Pooling, flattening and residual additions are digital, between cores.

Tensors are NCHW (batch, channels, height, width), as in PyTorch; ``Conv2d`` weights are
(out_channels, in_channels, kh, kw) and ``Dense`` weights (in_features, out_features).

The layer protocol (what the compiler, the engines and persistence rely on):

``output_shape(shape) -> shape``
    Shape of one output for one input of ``shape`` (no batch axis); raises ValueError for a
    shape the layer cannot take. The compiler calls it to check a model before mapping it.
``forward_float(x) -> y``
    The float reference on a batch (the software model the chip is compared with).
``to_dict() -> dict``
    Plain-data description (arrays included) that :func:`layer_from_dict` turns back into the
    layer; saved program files store models this way.
``name``
    A label for reports.

Weighted layers add ``matrix() -> (M, b)`` (the (n_in, n_out) matrix the cores hold, and the
bias or None), ``preactivation(x)``, ``activation``, ``clip`` (a clipped ReLU's range, which the
compiler takes as the layer's output range) and ``x_max`` (the input range, when the layer
states it; otherwise calibration data set it). ``Conv2d`` adds ``patches(x) -> (rows, (H, W))``,
the im2col rows the cores see, and ``fold(y, n, hw)``, their outputs back to NCHW. Containers
(``Sequential``, ``Residual``) hold layers; :mod:`snn_neurram.nn.graph` walks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_choice, check_int, check_range

__all__ = ["Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Residual", "Sequential",
           "ACTIVATIONS", "activation_fn", "im2col", "layer_from_dict", "check_layer",
           "LAYER_TYPES"]

ACTIVATIONS = ("relu", "linear", "sigmoid", "tanh")


def activation_fn(name: str, x: np.ndarray, clip: float | None = None) -> np.ndarray:
    """Float activation ``name`` of x (relu clipped at ``clip`` when given)."""
    if name == "relu":
        y = np.maximum(x, 0.0)
        return y if clip is None else np.minimum(y, clip)
    if name == "linear":
        return x
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    return np.tanh(x)


def im2col(x: ArrayLike, kh: int, kw: int, stride: int = 1,
           padding: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Unrolled patches of NCHW ``x``: (N * H_out * W_out, C * kh * kw), patch order (c, i, j).

    Returns the patch matrix and the output size (H_out, W_out).
    """
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(x, (kh, kw),  # type: ignore[call-overload]  # stub: int axis
                              axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    return cols, (ho, wo)


class _Weighted:
    """Common part of the layers that hold a weight matrix."""

    kind = "weighted"

    def _init_common(self, b: ArrayLike | None, n_out: int, activation: str, clip: float | None,
                     x_max: float | None) -> None:
        self.b = None if b is None else as_finite_array(b, "b", ndim=1, shape=(n_out,))
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.clip = None if clip is None else check_range(clip, "clip", 0.0, None, lo_open=True)
        self.x_max = None if x_max is None else check_range(x_max, "x_max", 0.0, None,
                                                            lo_open=True)

    def matrix(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(n_in, n_out) weight matrix and bias as the cores hold them."""
        raise NotImplementedError

    @property
    def n_in(self) -> int:
        return self.matrix()[0].shape[0]

    @property
    def n_out(self) -> int:
        return self.matrix()[0].shape[1]


def _extras(layer: Any) -> str:
    """The optional settings of a weighted layer, for its repr."""
    out = "" if layer.b is None else ", bias"
    if layer.clip is not None:
        out += f", clip={layer.clip:g}"
    if layer.x_max is not None:
        out += f", x_max={layer.x_max:g}"
    return out


class Dense(_Weighted):
    """Fully connected layer: y = act(x @ W + b).

    Parameters
    ----------
    W : array_like (in_features, out_features)
    b : array_like (out_features,), optional
    activation : {"relu", "linear", "sigmoid", "tanh"}
    clip : float, optional
        Upper clip of a clipped ReLU, in output units.
    x_max : float, optional
        Input range: the compiler maps [-x_max, x_max] onto the input codes (inputs beyond are
        clipped). Default: a percentile of the calibration data's inputs. Networks trained with
        quantised activations (:mod:`snn_neurram.training`) set it to the previous layer's clip.
    """

    def __init__(self, W: ArrayLike, b: ArrayLike | None = None, activation: str = "relu",
                 clip: float | None = None, name: str | None = None,
                 x_max: float | None = None) -> None:
        self.W = as_finite_array(W, "W", ndim=2, shape=(None, None))
        if 0 in self.W.shape:
            raise ValueError(f"W must have at least one input and one output (got shape "
                             f"{self.W.shape})")
        self._init_common(b, self.W.shape[1], activation, clip, x_max)
        self.name = name or "dense"

    def matrix(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.W, self.b

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.W.shape[0]} -> {self.W.shape[1]}, "
                f"{self.activation}{_extras(self)}, name={self.name!r})")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if shape != (self.W.shape[0],):
            raise ValueError(f"{self.name}: input of shape {shape}, expected ({self.W.shape[0]},)")
        return (self.W.shape[1],)

    def preactivation(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.W
        return y if self.b is None else y + self.b

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        return activation_fn(self.activation, self.preactivation(x), self.clip)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Dense", "W": self.W, "b": self.b, "activation": self.activation,
                "clip": self.clip, "name": self.name, "x_max": self.x_max}


class Conv2d(_Weighted):
    """2-D convolution (cross-correlation, as in PyTorch) run as its unrolled matrix.

    Parameters
    ----------
    W : array_like (out_channels, in_channels, kh, kw)
    b : array_like (out_channels,), optional
    stride, padding : int
    activation, clip, x_max
        As for :class:`Dense`.
    """

    def __init__(self, W: ArrayLike, b: ArrayLike | None = None, stride: int = 1, padding: int = 0,
                 activation: str = "relu", clip: float | None = None, name: str | None = None,
                 x_max: float | None = None) -> None:
        self.W = as_finite_array(W, "W", ndim=4, shape=(None, None, None, None))
        if 0 in self.W.shape:
            raise ValueError(f"W must have no empty axis (got shape {self.W.shape})")
        self.stride = check_int(stride, "stride", 1, 64)
        self.padding = check_int(padding, "padding", 0, 64)
        self._init_common(b, self.W.shape[0], activation, clip, x_max)
        self.name = name or "conv"

    def matrix(self) -> tuple[np.ndarray, np.ndarray | None]:
        oc = self.W.shape[0]
        return self.W.reshape(oc, -1).T, self.b

    def __repr__(self) -> str:
        oc, ic, kh, kw = self.W.shape
        return (f"{type(self).__name__}({ic} -> {oc}, {kh}x{kw}, stride {self.stride}, "
                f"padding {self.padding}, {self.activation}{_extras(self)}, name={self.name!r})")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        oc, ic, kh, kw = self.W.shape
        if len(shape) != 3 or shape[0] != ic:
            raise ValueError(f"{self.name}: input of shape {shape}, expected ({ic}, H, W)")
        h = (shape[1] + 2 * self.padding - kh) // self.stride + 1
        w = (shape[2] + 2 * self.padding - kw) // self.stride + 1
        if h < 1 or w < 1:
            raise ValueError(f"{self.name}: input {shape[1]}x{shape[2]} is smaller than the "
                             f"{kh}x{kw} kernel")
        return (oc, h, w)

    def patches(self, x: ArrayLike) -> tuple[np.ndarray, tuple[int, int]]:
        """im2col of NCHW x: (N * H_out * W_out, C * kh * kw) and (H_out, W_out)."""
        kh, kw = self.W.shape[2:]
        return im2col(x, kh, kw, self.stride, self.padding)

    def fold(self, y: np.ndarray, n: int, hw: Any) -> np.ndarray:
        """(N * H_out * W_out, out_channels) -> NCHW."""
        return y.reshape(n, hw[0], hw[1], -1).transpose(0, 3, 1, 2)

    def preactivation(self, x: np.ndarray) -> np.ndarray:
        cols, hw = self.patches(x)
        Wm, b = self.matrix()
        y = cols @ Wm
        if b is not None:
            y = y + b
        return self.fold(y, x.shape[0], hw)

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        return activation_fn(self.activation, self.preactivation(x), self.clip)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Conv2d", "W": self.W, "b": self.b, "stride": self.stride,
                "padding": self.padding, "activation": self.activation, "clip": self.clip,
                "x_max": self.x_max,
                "name": self.name}


class _Pool:
    kind = "digital"
    _reduce: Callable[..., Any]

    def __init__(self, kernel: int, stride: int | None = None, name: str | None = None) -> None:
        self.kernel = check_int(kernel, "kernel", 1, 64)
        self.stride = self.kernel if stride is None else check_int(stride, "stride", 1, 64)
        self.name = name or type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel}, stride {self.stride})"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 3:
            raise ValueError(f"{self.name}: input of shape {shape}, expected (C, H, W)")
        c, h, w = shape
        if h < self.kernel or w < self.kernel:
            raise ValueError(f"{self.name}: input {h}x{w} is smaller than the "
                             f"{self.kernel}x{self.kernel} pooling window")
        return (c, (h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1)

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        win = sliding_window_view(x, (self.kernel, self.kernel),  # type: ignore[call-overload]
                                  axis=(2, 3))
        win = win[:, :, ::self.stride, ::self.stride]
        return self._reduce(win, axis=(-2, -1))

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "kernel": self.kernel, "stride": self.stride,
                "name": self.name}


class MaxPool2d(_Pool):
    """Max pooling (digital)."""

    _reduce = staticmethod(np.max)


class AvgPool2d(_Pool):
    """Average pooling (digital)."""

    _reduce = staticmethod(np.mean)


class Flatten:
    """Flatten (C, H, W) to C * H * W features, in C-major order (as PyTorch)."""

    kind = "digital"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "flatten"

    def __repr__(self) -> str:
        return "Flatten()"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(shape)),)

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Flatten", "name": self.name}


class Sequential:
    """Layers applied in order."""

    kind = "container"

    def __init__(self, *layers: Any, name: str | None = None) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for k, layer in enumerate(layers):
            check_layer(layer, f"layers[{k}]")
        self.layers = list(layers)
        self.name = name or "sequential"

    def __repr__(self) -> str:
        inner = "".join(f"\n  {line}" for layer in self.layers for line in repr(layer).split("\n"))
        return f"Sequential({inner}\n)"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward_float(x)
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequential", "layers": [l.to_dict() for l in self.layers],
                "name": self.name}


class Residual:
    """y = act(body(x) + shortcut(x)): the addition and its activation are digital.

    Parameters
    ----------
    body : Sequential or list of layers
        Its last weighted layer usually has ``activation="linear"``.
    shortcut : layer or Sequential, optional
        Identity when omitted (a 1 x 1 convolution where the shape changes).
    activation : {"relu", "linear"}
    """

    kind = "container"

    def __init__(self, body: Sequential | list[Any] | tuple[Any, ...], shortcut: Any = None,
                 activation: str = "relu", clip: float | None = None,
                 name: str | None = None) -> None:
        if not isinstance(body, (Sequential, list, tuple)):
            raise ValueError(f"body must be a Sequential or a list of layers (got "
                             f"{type(body).__name__})")
        self.body = body if isinstance(body, Sequential) else Sequential(*body)
        self.shortcut = None if shortcut is None else check_layer(shortcut, "shortcut")
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.clip = None if clip is None else check_range(clip, "clip", 0.0, None, lo_open=True)
        self.name = name or "residual"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        out = self.body.output_shape(shape)
        short = shape if self.shortcut is None else self.shortcut.output_shape(shape)
        if tuple(out) != tuple(short):
            raise ValueError(f"{self.name}: body gives {out} but the shortcut gives {short}")
        return out

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        s = x if self.shortcut is None else self.shortcut.forward_float(x)
        return activation_fn(self.activation, self.body.forward_float(x) + s, self.clip)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Residual", "body": self.body.to_dict(),
                "shortcut": None if self.shortcut is None else self.shortcut.to_dict(),
                "activation": self.activation, "clip": self.clip, "name": self.name}


def check_layer(layer: Any, name: str = "layer") -> Any:
    """``layer`` if it follows the layer protocol (see the module documentation), else a
    ValueError naming ``name``."""
    if not all(callable(getattr(layer, m, None)) for m in ("output_shape", "forward_float",
                                                            "to_dict")):
        raise ValueError(f"{name} must be a layer (Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, "
                         f"Residual or Sequential; got {type(layer).__name__}: {layer!r:.60})")
    return layer


#: Builders of :func:`layer_from_dict` for layer types defined in other modules, by type name
#: (:mod:`snn_neurram.nn.spiking` adds its layers).
LAYER_TYPES: dict[str, Callable[[dict[str, Any]], Any]] = {}


def layer_from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a layer (or container) from :meth:`to_dict` output."""
    kind = d["type"]
    if kind in LAYER_TYPES:
        return LAYER_TYPES[kind](d)
    if kind == "Dense":
        return Dense(d["W"], d["b"], d["activation"], d["clip"], d["name"], d.get("x_max"))
    if kind == "Conv2d":
        return Conv2d(d["W"], d["b"], d["stride"], d["padding"], d["activation"], d["clip"],
                      d["name"], d.get("x_max"))
    if kind in ("MaxPool2d", "AvgPool2d"):
        return {"MaxPool2d": MaxPool2d, "AvgPool2d": AvgPool2d}[kind](d["kernel"], d["stride"],
                                                                      d["name"])
    if kind == "Flatten":
        return Flatten(d["name"])
    if kind == "Sequential":
        return Sequential(*[layer_from_dict(l) for l in d["layers"]], name=d["name"])
    if kind == "Residual":
        return Residual(layer_from_dict(d["body"]),
                        None if d["shortcut"] is None else layer_from_dict(d["shortcut"]),
                        d["activation"], d["clip"], d["name"])
    raise ValueError(f"unknown layer type {kind!r}")
