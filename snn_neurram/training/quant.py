"""Straight-through quantisers: the inputs' DAC levels and the neurons' clipped-ReLU levels.

Both round in the forward pass and let the gradient through unchanged in the backward pass
(straight-through estimator), except where the value was clipped.
"""

from __future__ import annotations

import torch

__all__ = ["levels", "straight_through", "quantize_input", "clipped_relu"]

#: Smallest clip value a clipped ReLU uses (output units); keeps the step alpha / L positive.
MIN_CLIP = 1e-3


def levels(bits: int) -> int:
    """Number of steps L = 2**bits - 1 of a ``bits``-bit unsigned code."""
    return 2 ** int(bits) - 1


def straight_through(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` in the forward pass, the gradient of ``x`` in the backward pass."""
    return x + (q - x).detach()


def quantize_input(x: torch.Tensor, x_range: float, bits: int) -> torch.Tensor:
    """Inputs clipped to [0, x_range] and rounded to ``bits`` bits.

    Output k * x_range / L, k = round(x / x_range * L), L = 2**bits - 1. Gradient 1 inside
    [0, x_range], 0 outside.
    """
    L = levels(bits)
    xc = x.clamp(0.0, x_range)
    return straight_through(xc, torch.round(xc * (L / x_range)) * (x_range / L))


def clipped_relu(x: torch.Tensor, alpha: torch.Tensor, bits: int | None = None) -> torch.Tensor:
    """Clipped ReLU min(max(x, 0), alpha), rounded to ``bits`` bits when given (PACT).

    Parameters
    ----------
    x : Tensor
        Pre-activations (output units).
    alpha : Tensor, 0-d
        Clip value (output units), trainable; used as at least :data:`MIN_CLIP`.
    bits : int, optional
        Output levels k * alpha / L, L = 2**bits - 1.

    Notes
    -----
    Gradients: to x, 1 where 0 < x < alpha and 0 elsewhere; to alpha, 1 for every element with
    x > alpha (the rounding passes gradients straight through and gives alpha none).
    """
    alpha = alpha.clamp_min(MIN_CLIP)
    y = torch.minimum(torch.relu(x), alpha)
    if bits is None:
        return y
    step = alpha.detach() / levels(bits)
    return straight_through(y, torch.round(y.detach() / step) * step)
