"""A weight matrix as the chip stores it, in PyTorch: its weight limit and one draw of its
device spread. Shared by the spiking trainer (:mod:`.snn`) and the LSTM trainer (:mod:`.lstm`).

The mapping limits a matrix to +-w_max, a percentile of its |entries| (:func:`w_max_of`),
and stores the bias on extra row pairs driven at full scale (:func:`bias_rows` of them). Once
programmed, every weight spreads with the conductance spread of its pair
(:func:`snn_neurram.training.weight_noise_sigma`): :func:`device_noise` draws that spread.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..physics.device import RRAMDevice
from ..physics.mapping import conductance_pair, weight_scale as np_weight_scale
from .spread import conductance_sigma, weight_noise_sigma

__all__ = ["CHIP_PERCENTILE", "w_max_of", "pair_sigma", "bias_rows", "device_noise"]

#: The chip's default mapping percentile (``Chip(percentile=...)``): the percentile of |W| that
#: the noise model maps to the full conductance window when the net does not limit its weights.
CHIP_PERCENTILE = 95.0


def w_max_of(M: torch.Tensor, percentile: float, interpolation: str = "lower") -> torch.Tensor:
    """w_max of :func:`snn_neurram.physics.mapping.weight_scale`, in torch (no gradient).

    With ``interpolation="lower"`` it is the order statistic at or below the percentile: the
    same percentile of the weights limited to +-w_max (what the compiler computes from the
    exported weights) is w_max again, so the chip limits nothing more than training did.
    """
    a = M.detach().abs().flatten()
    w = torch.quantile(a, percentile / 100.0, interpolation=interpolation)
    if w <= 0:
        w = a.max()
    return w if w > 0 else torch.ones((), dtype=M.dtype)


def pair_sigma(W: np.ndarray, w_max: float, device: RRAMDevice, read_time: float) -> np.ndarray:
    """Spread of weights W (|W| <= w_max) stored as sign-scheme pairs with full scale w_max."""
    g_plus, g_minus = conductance_pair(np.clip(W, -w_max, w_max), w_max, device.g_min,
                                       device.g_max, "sign")
    return w_max / device.g_range * np.sqrt(conductance_sigma(g_plus, device, read_time) ** 2
                                            + conductance_sigma(g_minus, device, read_time) ** 2)


def bias_rows(b: torch.Tensor | None, w_max: float, x_max: float = 1.0) -> int:
    """Bias row pairs the compiler gives a matrix: ceil(max|b| / (w_max x_max)), at least one
    (none without a bias)."""
    if b is None:
        return 0
    ratio = float(b.detach().abs().max()) / (w_max * x_max)
    return max(1, int(math.ceil(ratio - 1e-12)))


def device_noise(M: torch.Tensor, b: torch.Tensor | None, percentile: float, device: RRAMDevice,
                 read_time: float, generator: torch.Generator,
                 x_max: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One draw (dM, db) of the spread of matrix M (rows, out) and bias b once stored: sigma per
    weight from the conductance spread of its pair, mapped with full scale the
    ``percentile``-th percentile of |M|; the bias spread over its :func:`bias_rows` rows."""
    dt = M.dtype
    Md = M.detach().double().numpy()
    sigma = torch.from_numpy(weight_noise_sigma(Md, device, read_time, percentile)).to(dt)
    db = None
    if b is not None:       # drawn first: the order the spiking trainer's checkpoints hold
        w_max = np_weight_scale(Md, percentile)
        n = bias_rows(b, w_max, x_max)
        bd = b.detach().double().numpy()
        # b = x_max * (sum of the n rows' weights), each row b / (n x_max)
        sb = x_max * np.sqrt(n) * pair_sigma(bd / (n * x_max), w_max, device, read_time)
        db = torch.from_numpy(sb).to(dt) * torch.randn(bd.shape, generator=generator, dtype=dt)
    return sigma * torch.randn(M.shape, generator=generator, dtype=dt), db
