"""The Brian2 engine: NeuRRAM neurons and RRAM synapses as Brian2 objects.

``NeuRRAMNeurons`` (a ``NeuronGroup``), ``RRAMSynapses`` and ``TransposableSynapses`` (``Synapses``)
drop into any Brian2 ``Network`` with monitors, ``PoissonGroup``, ``SpikeGeneratorGroup`` and
``TimedArray`` inputs. ``from_core`` turns a programmed :class:`snn_neurram.Core` into these
objects. ``run_snn_brian`` runs a compiled spiking program (``build_snn_brian``: builds it as an
``SNNCircuit``). Importing this module imports Brian2.

One Brian2 step is one chip cycle, ``CYCLE_TIME`` (a Brian2 time, 0.2816 us): set
``brian2.defaultclock.dt = CYCLE_TIME`` (NeuRRAMNeurons warn otherwise). A line
holds at most ``MAX_ROW_PAIRS`` synapses. See ``docs/brian2.md``.
"""

from .builder import CoreCircuit, bit_serial_pulses, from_core
from .neurons import (CYCLE_TIME, DT_RTOL, MAX_COLUMNS, MAX_ROW_PAIRS, MODES, CycleTimeWarning,
                      NeuRRAMNeurons, leak_fraction, refractory_cycles)
from .snn_builder import SNNCircuit, build_snn_brian, run_snn_brian
from .synapses import RRAMSynapses, TransposableSynapses, program_pairs

__all__ = ["NeuRRAMNeurons", "RRAMSynapses", "TransposableSynapses", "from_core", "CoreCircuit",
           "bit_serial_pulses", "program_pairs", "MODES", "run_snn_brian", "build_snn_brian",
           "SNNCircuit", "CYCLE_TIME", "DT_RTOL", "MAX_ROW_PAIRS", "MAX_COLUMNS",
           "CycleTimeWarning", "refractory_cycles", "leak_fraction"]
