"""Argument checking shared by every layer: clear errors that name the argument and its allowed range."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["as_si", "check_range", "check_int", "check_choice", "as_finite_array",
           "check_real_array", "MAX_ABS"]

_T = TypeVar("_T")


def _is_quantity(value):
    return type(value).__module__.startswith("brian2")


def as_si(value: Any, name: str, unit: str | None = None) -> float:
    """Return ``value`` as a plain float in SI units.

    Parameters
    ----------
    value : float or brian2.Quantity
        A plain number (taken to be in SI units already) or a Brian2 quantity.
    name : str
        Argument name, used in error messages.
    unit : str, optional
        Name of the Brian2 unit the quantity must be compatible with (``"siemens"``,
        ``"volt"``, ``"second"``); checked only when ``value`` is a Brian2 quantity.
    """
    if _is_quantity(value):
        import brian2

        if unit is not None and not brian2.have_same_dimensions(value, getattr(brian2, unit)):
            raise ValueError(f"{name} must be in {unit} (got {value!r})")
        value = float(np.asarray(value))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return value


def check_range(value: Any, name: str, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False, unit: str | None = None) -> float:
    """Convert with :func:`as_si` and check ``lo <= value <= hi`` (open ends where asked)."""
    value = as_si(value, name, unit)
    bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
    bad_hi = hi is not None and (value >= hi if hi_open else value > hi)
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name} must be in {left}{lo_s}, {hi_s}{right} (got {value:g})")
    return value


def check_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[lo, hi]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer (got {value!r})")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else str(lo)
        hi_s = "inf" if hi is None else str(hi)
        raise ValueError(f"{name} must be an integer in [{lo_s}, {hi_s}] (got {value})")
    return value


def check_choice(value: _T, name: str, choices: Collection[Any]) -> _T:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))} (got {value!r})")
    return value


#: Largest magnitude accepted in data arrays: far beyond any physical value, far enough below the
#: float limit that sums and products of the engines cannot overflow to inf.
MAX_ABS = 1e100


def check_real_array(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as an array of real numbers (bool, integer or float), or a ValueError that names
    ``name`` and says what it got: complex numbers, strings, objects and ragged nesting are
    refused (numpy would silently drop an imaginary part or parse a numeric string)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{name} must be real: complex values are not accepted "
                         f"(got dtype {arr.dtype})")
    if kind in "USa":
        raise ValueError(f"{name} must be a numeric array, not strings (got dtype {arr.dtype})")
    if kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array of real numbers (got dtype "
                         f"{arr.dtype}: objects, ragged lists or mixed types are not accepted)")
    return arr


def as_finite_array(x: ArrayLike, name: str, ndim: int | None = None,
                    shape: Sequence[int | None] | None = None,
                    dtype: DTypeLike = np.float64, max_abs: float = MAX_ABS) -> np.ndarray:
    """Return ``x`` as a finite float array, checking its number of dimensions and shape.

    ``x`` must hold real numbers (see :func:`check_real_array`); ``shape`` may contain
    ``None`` for a free axis; every value must be finite and at most ``max_abs`` in magnitude.
    """
    arr = check_real_array(x, name).astype(dtype, copy=False)
    if ndim is not None and arr.ndim != ndim:
        axes = " x ".join("n" if s is None else str(s) for s in shape) if shape else f"{ndim}-D"
        raise ValueError(f"{name} must be a {ndim}-D array of shape ({axes}) "
                         f"(got shape {arr.shape})")
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, arr.shape)):
            if want is not None and want != got:
                raise ValueError(
                    f"{name} has shape {arr.shape}; axis {axis} must have length {want}")
    if arr.size:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
        largest = float(np.abs(arr).max())
        if largest > max_abs:
            raise ValueError(f"{name} must be at most {max_abs:g} in magnitude (got "
                             f"{largest:g})")
    return arr
