"""snn_neurram: spiking, Boltzmann and conventional networks on a simulated NeuRRAM chip.

The package in layers, bottom up (see docs/architecture.md): :mod:`~snn_neurram.physics`
(RRAM cells, weight mapping, the voltage-mode neuron and its ADC, encoders), :mod:`~snn_neurram.nn`
(layers and the model graph), :mod:`~snn_neurram.hw` (:class:`Core`, :class:`Chip`),
:mod:`~snn_neurram.compiler` (plans), :mod:`~snn_neurram.engines` (batch, spiking, RBM, Brian2),
:mod:`~snn_neurram.analysis` (energy, calibration, fine-tuning, persistence) and the facade
:class:`ChipProgram` that :func:`compile` returns. Native spiking networks:
:class:`LIF`, :class:`SpikingDense`, :class:`SpikingConv2d`, NIR import/export (:func:`from_nir`,
:func:`to_nir`). Recurrent layers on the chip's recurrent MVM: :class:`LSTM`,
:class:`ParallelLSTM`. Sampling models: :class:`RBM` and
:class:`BoltzmannMachine`.
"""

from ._version import __version__
from .engines.rbm import RBM, BoltzmannMachine
from .errors import CapacityError, ProgramFileError
from .hw.chip import Chip
from .hw.core import Core
from .nn.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Residual, Sequential
from .nn.nir_io import from_nir, to_nir
from .nn.recurrent import LSTM, ParallelLSTM
from .nn.spiking import LIF, SpikingConv2d, SpikingDense
from .nn.torch_import import from_torch
from .physics.device import RRAMDevice
from .physics.mapping import from_conductances, to_conductances
from .physics.neuron import NeuronConfig
from .program import ChipProgram, compile, load

__all__ = ["Core", "RRAMDevice", "NeuronConfig", "Chip", "compile", "load", "ChipProgram",
           "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Residual", "Sequential",
           "from_torch", "LIF", "SpikingDense", "SpikingConv2d", "from_nir", "to_nir",
           "LSTM", "ParallelLSTM",
           "CapacityError", "ProgramFileError", "to_conductances",
           "from_conductances", "RBM", "BoltzmannMachine", "__version__"]
