"""Random streams derived from explicit seeds.

Every random draw of a run comes from a stream that is a pure function of the hardware's seed
(a chip's or a core's :class:`numpy.random.SeedSequence`), the run's own ``seed`` and the
purpose of the stream ("read noise", "encoder", ...): the same three give the same numbers,
whatever ran before, in any process. ``seed=None`` draws fresh entropy.
"""

from __future__ import annotations

import zlib

import numpy as np

from ._checks import check_int

__all__ = ["derive_rng", "check_seed"]

_RUN_TAG = 0x52554E          # marks run streams apart from the hardware's own children


def check_seed(seed: object, name: str = "seed") -> int | None:
    """A run seed: None or an integer in [0, 2**63 - 1]."""
    if seed is None:
        return None
    return check_int(seed, name, 0, 2 ** 63 - 1)


def derive_rng(base: np.random.SeedSequence, seed: int | None, purpose: str) -> np.random.Generator:
    """The generator of one stream of a run.

    Parameters
    ----------
    base : numpy.random.SeedSequence
        The hardware's seed sequence (its entropy and spawn key identify the chip or core).
    seed : int or None
        The run's seed; None draws fresh entropy (a non-reproducible run).
    purpose : str
        Which stream of the run ("read noise", "encoder", ...): streams of one run are
        independent.
    """
    seed = check_seed(seed)
    if seed is None:
        return np.random.default_rng()
    tag = zlib.crc32(purpose.encode())
    seq = np.random.SeedSequence(entropy=base.entropy,
                                 spawn_key=tuple(base.spawn_key) + (_RUN_TAG, seed, tag))
    return np.random.default_rng(seq)
