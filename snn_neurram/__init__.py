"""snn_neurram: spiking, Boltzmann and conventional networks on a simulated NeuRRAM chip.

The layers, bottom up: :mod:`~snn_neurram.device` (RRAM cells), :mod:`~snn_neurram.mapping`
(weights <-> conductance pairs), :mod:`~snn_neurram.neuron` (the voltage-mode neuron and its ADC),
:mod:`~snn_neurram.core` (one 256 x 256 transposable array with its neurons).
"""

__version__ = "0.1.0"

from .core import Core
from .device import RRAMDevice
from .errors import CapacityError
from .mapping import from_conductances, to_conductances
from .neuron import NeuronConfig

__all__ = ["Core", "RRAMDevice", "NeuronConfig", "CapacityError", "to_conductances",
           "from_conductances", "__version__"]
