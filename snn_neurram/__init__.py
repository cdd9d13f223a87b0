"""snn_neurram: spiking, Boltzmann and conventional networks on a simulated NeuRRAM chip.

The layers, bottom up: :mod:`~snn_neurram.device` (RRAM cells), :mod:`~snn_neurram.mapping`
(weights <-> conductance pairs), :mod:`~snn_neurram.neuron` (the voltage-mode neuron and its ADC),
:mod:`~snn_neurram.core` (one 256 x 256 transposable array with its neurons), and the chip:
:class:`Chip`, :func:`compile` (layers -> blocks -> cores) and the batch engine
(:class:`ChipProgram`). Sampling models: :class:`RBM` and :class:`BoltzmannMachine`.
"""

__version__ = "0.1.0"

from .chip import Chip
from .compiler import compile
from .core import Core
from .device import RRAMDevice
from .errors import CapacityError, ProgramFileError
from .layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Residual, Sequential
from .mapping import from_conductances, to_conductances
from .neuron import NeuronConfig
from .persist import load
from .program import ChipProgram
from .rbm import RBM, BoltzmannMachine
from .torch_import import from_torch

__all__ = ["Core", "RRAMDevice", "NeuronConfig", "Chip", "compile", "load", "ChipProgram",
           "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Residual", "Sequential",
           "from_torch", "CapacityError", "ProgramFileError", "to_conductances",
           "from_conductances", "RBM", "BoltzmannMachine", "__version__"]
