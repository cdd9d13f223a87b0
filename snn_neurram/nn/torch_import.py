"""Import PyTorch models made of the supported pieces (needs the optional ``train`` extra)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from .layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Residual, Sequential

__all__ = ["from_torch"]

_ACT = {"ReLU": ("relu", None), "ReLU6": ("relu", 6.0), "Sigmoid": ("sigmoid", None),
        "Tanh": ("tanh", None), "Identity": ("linear", None)}


def _np(t):
    return None if t is None else t.detach().cpu().double().numpy()


def _fold_bn(W, b, bn):
    """Fold a following BatchNorm (eval statistics) into the weights and bias."""
    scale = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    W = W * scale.reshape((-1,) + (1,) * (W.ndim - 1))
    b = (np.zeros(len(scale)) if b is None else b) * scale + _np(bn.bias) - \
        _np(bn.running_mean) * scale
    return W, b


def from_torch(module: Any) -> Sequential:
    """Convert an ``nn.Sequential`` (possibly nested, or an ``nn.Module`` whose ``children()``
    run in order) of Conv2d, Linear, BatchNorm (folded), ReLU / ReLU6 / Hardtanh(0, c) /
    Sigmoid / Tanh, MaxPool2d, AvgPool2d and Flatten into a :class:`Sequential`.

    An activation following a Conv2d or Linear becomes that layer's activation; a layer with no
    activation after it is linear.
    """
    if not type(module).__module__.startswith("torch"):
        raise ValueError(f"module must be a torch nn.Module (got {type(module).__name__})")
    try:
        import torch.nn as nn
    except ImportError as exc:          # pragma: no cover - only without torch
        raise ImportError("from_torch needs PyTorch: pip install 'snn_neurram[train]'") from exc
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch nn.Module (got {type(module).__name__})")
    flat = []

    def walk(m):
        children = list(m.children())
        if not children:
            flat.append(m)
        for c in children:
            walk(c)

    walk(module)
    layers: list[Any] = []
    i = 0
    while i < len(flat):
        m = flat[i]
        name = type(m).__name__
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            W, b = _np(m.weight), _np(m.bias)
            if isinstance(m, nn.Linear):
                W = W.T
            j = i + 1
            if j < len(flat) and isinstance(flat[j], (nn.BatchNorm1d, nn.BatchNorm2d)):
                if isinstance(m, nn.Linear):
                    Wt, b = _fold_bn(W.T, b, flat[j])
                    W = Wt.T
                else:
                    W, b = _fold_bn(W, b, flat[j])
                j += 1
            act, clip = "linear", None
            if j < len(flat):
                nxt = flat[j]
                if type(nxt).__name__ in _ACT:
                    act, clip = _ACT[type(nxt).__name__]
                    j += 1
                elif isinstance(nxt, nn.Hardtanh) and nxt.min_val == 0:
                    act, clip = "relu", float(nxt.max_val)
                    j += 1
            if isinstance(m, nn.Linear):
                layers.append(Dense(W, b, activation=act, clip=clip))
            else:
                if m.groups != 1 or m.dilation != (1, 1) or m.stride[0] != m.stride[1] or \
                        m.padding[0] != m.padding[1]:
                    raise ValueError(f"Conv2d with groups, dilation or unequal stride/padding is "
                                     f"not supported ({m})")
                # padding is a pair of ints here: "same" / "valid" failed the check above
                layers.append(Conv2d(W, b, stride=m.stride[0], padding=cast(int, m.padding[0]),
                                     activation=act, clip=clip))
            i = j
            continue
        if isinstance(m, nn.MaxPool2d):
            layers.append(MaxPool2d(m.kernel_size if isinstance(m.kernel_size, int)
                                    else m.kernel_size[0], cast(Any, m.stride)))
        elif isinstance(m, nn.AvgPool2d):
            layers.append(AvgPool2d(m.kernel_size if isinstance(m.kernel_size, int)
                                    else m.kernel_size[0], cast(Any, m.stride)))
        elif isinstance(m, nn.Flatten):
            layers.append(Flatten())
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            pass
        else:
            raise ValueError(f"from_torch: unsupported module {name} (supported: Conv2d, Linear, "
                             "BatchNorm, ReLU, ReLU6, Hardtanh(0, c), Sigmoid, Tanh, MaxPool2d, "
                             "AvgPool2d, Flatten, Dropout)")
        i += 1
    return Sequential(*layers, name=type(module).__name__)
