"""The 48-core chip: a grid of cores sharing one device model, neuron design and seed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_range
from .._seeds import check_seed, derive_rng
from .core import Core
from ..physics.device import RRAMDevice
from ..physics.mapping import SCHEMES
from ..physics.neuron import NeuronConfig

__all__ = ["Chip"]


class Chip:
    """A NeuRRAM chip: ``n_cores`` cores of 256 x 256 cells on an 8 x 6 grid.

    Parameters
    ----------
    n_cores : int
        Number of cores, 1-48 (the chip has 48).
    device : RRAMDevice, optional
        Device physics of every core.
    neuron : NeuronConfig, optional
        Neuron design; the compiler sets each block's operating point from it.
    seed : int or numpy.random.SeedSequence, optional
        Seeds every core (each core gets its own child stream: its own faults, variation,
        programming, relaxation and read noise) and every run's streams (:meth:`rng`). None
        draws fresh entropy, kept in ``seed_sequence`` (saved programs keep it).
    read_time : float
        Time between programming and use (s).
    scheme, percentile, precision
        As for :class:`~snn_neurram.Core`.
    """

    GRID = (8, 6)
    MAX_CORES = 48

    def __repr__(self) -> str:
        used = sum(core.programmed for core in self.cores)
        return (f"Chip({self.n_cores} cores, {used} programmed, seed={self.seed!r}, "
                f"read_time={self.read_time:g} s, scheme={self.scheme!r}, "
                f"percentile={self.percentile:g})")

    def __init__(self, n_cores: int = 48, device: RRAMDevice | None = None,
                 neuron: NeuronConfig | None = None,
                 seed: int | np.random.SeedSequence | None = None, *,
                 read_time: float = 86400.0, scheme: str = "sign", percentile: float = 95.0,
                 precision: str = "single") -> None:
        self.n_cores = check_int(n_cores, "n_cores", 1, self.MAX_CORES)
        self.device = RRAMDevice() if device is None else device
        self.neuron = NeuronConfig() if neuron is None else neuron
        if not isinstance(self.device, RRAMDevice):
            raise ValueError(f"device must be an RRAMDevice (got {type(self.device).__name__})")
        if not isinstance(self.neuron, NeuronConfig):
            raise ValueError(f"neuron must be a NeuronConfig (got {type(self.neuron).__name__})")
        self.read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True,
                                     unit="second")
        self.scheme = check_choice(scheme, "scheme", SCHEMES)
        self.percentile = check_range(percentile, "percentile", 0.0, 100.0, lo_open=True)
        self.precision = check_choice(precision, "precision", ("single", "double"))
        if isinstance(seed, np.random.SeedSequence):
            self.seed_sequence = seed
            self.seed = None
        else:
            self.seed_sequence = np.random.SeedSequence(check_seed(seed))
            self.seed = seed
        self.cores = [Core(self.device, self.neuron, s, read_time=self.read_time,
                           scheme=self.scheme, percentile=self.percentile,
                           precision=self.precision)
                      for s in self.seed_sequence.spawn(self.n_cores)]

    def rng(self, seed: int | None, purpose: str) -> np.random.Generator:
        """Generator of one random stream of a run on this chip (see
        :func:`snn_neurram._seeds.derive_rng`): a function of the chip's seed, the run's
        ``seed`` (None: fresh entropy) and ``purpose``."""
        return derive_rng(self.seed_sequence, seed, purpose)

    def grid_position(self, core: int) -> tuple[int, int]:
        """(column, row) of a core on the 8 x 6 grid."""
        return core % self.GRID[0], core // self.GRID[0]

    def config(self) -> dict[str, Any]:
        """Plain-dict description (for reports and saved files)."""
        return {"n_cores": self.n_cores, "device": self.device.to_dict(),
                "neuron": self.neuron.to_dict(), "seed": self.seed,
                "read_time": self.read_time, "scheme": self.scheme,
                "percentile": self.percentile, "precision": self.precision}
