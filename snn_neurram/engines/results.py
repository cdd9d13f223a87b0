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
        For the first input: for the input and every spiking layer, (steps_run, n_neurons)
        spikes (``record_raster``).
    membrane : list of ndarray or None
        For the first input: per spiking layer, (steps_run, n_neurons) membrane / threshold
        after every step (``record_raster``).
    spikes : list of ndarray or None
        For every input: for the input and every spiking layer, (batch, steps_run, n_neurons)
        spikes, int8 (``record_spikes``). Spiking layer k (from 0) emits the spikes of input
        step t in run step t + k + 1.
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
    membrane: list | None = field(default=None, repr=False)
    spikes: list | None = field(default=None, repr=False)

    @property
    def spikes_per_layer(self) -> dict[str, float]:
        """Mean spikes per inference of the input and of every spiking layer."""
        n = max(len(self.predictions), 1)
        return {name: float(c.sum()) / n for name, c in zip(self._keys(), self.spike_counts)}

    @property
    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron and time step (of ``steps``) of the input and of every spiking
        layer."""
        n = max(len(self.predictions), 1)
        return {name: float(c.sum()) / (n * max(int(np.prod(c.shape[1:])), 1) * self.steps)
                for name, c in zip(self._keys(), self.spike_counts)}

    def _keys(self) -> list[str]:
        """Layer names, made unique by their position where they repeat."""
        return [name if self.layer_names.count(name) == 1 else f"{name}[{k}]"
                for k, name in enumerate(self.layer_names)]
