"""Weight spread of a layer stored on RRAM cells: the noise that device-aware training injects.

Numpy only, so it works without PyTorch. A weight w of a layer is stored with the ``sign`` scheme
of :mod:`snn_neurram.mapping` (w clipped to [-w_max, w_max]):

    G+ = g_min + max(w, 0) / w_max * Delta g,   G- = g_min + max(-w, 0) / w_max * Delta g

and read back as w = (G+ - G-) w_max / Delta g, Delta g = g_max - g_min. Each cell spreads with

    sigma_G(G)^2 = sigma_relax(G, t)^2 + (read_noise_sigma G)^2

(each term only where the device has that effect switched on), and the two cells of a pair spread
independently, so the weight spreads with

    sigma_w = w_max / Delta g * sqrt(sigma_G(G+)^2 + sigma_G(G-)^2).

Write-verify residuals are taken as part of the relaxation fits (they were measured after
write-verify); stuck-at faults and drift are not Gaussian spreads and are left out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_range
from ..physics.device import RRAMDevice
from ..physics.mapping import conductance_pair, weight_scale

__all__ = ["conductance_sigma", "weight_noise_sigma"]


def conductance_sigma(G: ArrayLike, device: RRAMDevice, read_time: float = 86400.0) -> np.ndarray:
    """Standard deviation (S) of the conductance of cells programmed to G, read at ``read_time``.

    Parameters
    ----------
    G : array_like
        Programmed conductances (S).
    device : RRAMDevice
        Its ``relaxation`` and ``read_noise`` switches say which spreads count.
    read_time : float
        Time between programming and reading (s), > 0.

    Returns
    -------
    ndarray like G, in siemens.
    """
    G = np.asarray(G, dtype=float)
    var = np.zeros_like(G)
    if device.relaxation:
        var += device.relaxation_sigma(G, read_time) ** 2
    if device.read_noise:
        var += (device.read_noise_sigma * G) ** 2
    return np.sqrt(var)


def weight_noise_sigma(W: ArrayLike, device: RRAMDevice | None = None, read_time: float = 86400.0,
                       percentile: float = 95.0) -> np.ndarray:
    """Standard deviation of every weight of ``W`` once stored on RRAM pairs and read back.

    Parameters
    ----------
    W : array_like
        Weights of one layer, any shape (the spread is elementwise; w_max is taken over all).
    device : RRAMDevice, optional
        The cell population; default ``RRAMDevice()``.
    read_time : float
        Time between programming and reading (s), > 0; default one day.
    percentile : float
        Percentile of |W| that maps to the full window (w_max), in (0, 100]; larger weights
        are clipped to w_max before mapping, as the chip's mapping does.

    Returns
    -------
    ndarray like W, in weight units.
    """
    W = as_finite_array(W, "W")
    device = RRAMDevice() if device is None else device
    if not isinstance(device, RRAMDevice):
        raise ValueError(f"device must be an RRAMDevice (got {type(device).__name__})")
    read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True, unit="second")
    w_max = weight_scale(W, percentile)
    g_plus, g_minus = conductance_pair(np.clip(W, -w_max, w_max), w_max, device.g_min,
                                       device.g_max, "sign")
    s_plus = conductance_sigma(g_plus, device, read_time)
    s_minus = conductance_sigma(g_minus, device, read_time)
    return w_max / device.g_range * np.sqrt(s_plus ** 2 + s_minus ** 2)
