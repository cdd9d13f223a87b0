"""Result types shared by the engines (plain data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SNNResult"]


@dataclass
class SNNResult:
    """Result of a spiking run.

    Attributes
    ----------
    predictions : ndarray (batch,)
        Arg-max of the output readout.
    outputs : ndarray (batch, n_out)
        Final readout: membrane in units of the output range, or spike count + residual.
    readout : ndarray (batch, steps_run, n_out)
        The readout after every step.
    spike_counts : list of ndarray
        Spikes per neuron, (batch,) + shape, for the input and every spiking layer.
    layer_names : list of str
    spikes_per_inference : float
        Mean spikes per input, all layers and the input included.
    synaptic_events_per_inference : float
        Mean row pulses times the columns they drive, per input.
    energy_per_inference_j, latency_s : float
        Chip energy (J) and time (s) of one inference (see :mod:`snn_neurram.analysis.energy`).
    steps, steps_run : int
    coding : str
    raster : list of ndarray or None
        For the first input: per spiking layer, (steps_run, n_neurons) spikes.
    """

    predictions: np.ndarray
    outputs: np.ndarray
    readout: np.ndarray
    spike_counts: list
    layer_names: list
    spikes_per_inference: float
    synaptic_events_per_inference: float
    energy_per_inference_j: float
    latency_s: float
    steps: int
    steps_run: int
    coding: str
    raster: list | None = field(default=None, repr=False)
