"""Recurrent layers run on the chip's recurrent MVM: LSTM cells, alone or in parallel.

An :class:`LSTM` cell of hidden size H on inputs of n features is one weight matrix on the
chip: the rows take the step's input and the cell's own output of the previous step,
z_t = [x_t, h_{t-1}] (n + H rows, plus the bias rows), and the columns are the four gates side by
side, 4 H columns in PyTorch's order (input i, forget f, cell candidate g, output o):

    [i f g o]_t = act(z_t @ W + b),   act = sigmoid, sigmoid, tanh, sigmoid
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

with h_0 = c_0 = 0. The array computes all four gates in one MVM per step; the neurons read
each gate out through their activation (sigmoid or tanh) with their ADC; the cell update (two
products, a sum and a tanh) is digital, as it was in the chip's experiments. Feeding h_{t-1}
back onto the rows of the array that produced it is the transposable array's recurrent mode.

Inputs are sequences, one sample of shape (steps, n). All rows of a cell share one input range:
z is quantised over [-x_max, x_max] (default 1), where h lies, so inputs should be scaled to
about [-1, 1] (standardised features divided by 3, say). :class:`ParallelLSTM` runs several
cells on the same input and concatenates their last outputs (the paper's keyword spotter ran
four such cells side by side, on different cores).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_finite_array, check_range
from .layers import LAYER_TYPES, Dense, activation_fn, check_layer

__all__ = ["LSTM", "ParallelLSTM", "GATES", "gate_spans", "lstm_cell_update"]

#: The gates of an LSTM cell in column order, with the neurons' activation of each.
GATES = (("input", "sigmoid"), ("forget", "sigmoid"), ("cell", "tanh"), ("output", "sigmoid"))


def gate_spans(hidden: int) -> list[tuple[int, int, str]]:
    """Column ranges (c0, c1) and activation of the four gates of a cell of ``hidden`` units."""
    return [(k * hidden, (k + 1) * hidden, act) for k, (_, act) in enumerate(GATES)]


def lstm_cell_update(gates: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The digital part of an LSTM step: (h_t, c_t) from the activated gates (batch, 4 H) and
    c_{t-1} (batch, H)."""
    H = c.shape[-1]
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    c = f * c + i * g
    return o * np.tanh(c), c


class LSTM(Dense):
    """One LSTM cell, compiled as one weight matrix whose columns are its four gates.

    Parameters
    ----------
    W_x : array_like (n_in, 4 H)
        Input weights; columns in gate order i, f, g, o (as ``torch.nn.LSTM``'s ``weight_ih``
        transposed).
    W_h : array_like (H, 4 H)
        Recurrent weights (``weight_hh`` transposed).
    b : array_like (4 H,), optional
        Bias (PyTorch's ``bias_ih + bias_hh``).
    return_sequences : bool
        Output h_t of every step, (steps, H), instead of the last one, (H,).
    x_max : float
        Range of the rows' inputs [x_t, h_{t-1}] (quantised over [-x_max, x_max]); default 1.
    name : str, optional
    """

    def __init__(self, W_x: ArrayLike, W_h: ArrayLike, b: ArrayLike | None = None, *,
                 return_sequences: bool = False, x_max: float = 1.0,
                 name: str | None = None) -> None:
        W_h = as_finite_array(W_h, "W_h", ndim=2, shape=(None, None))
        H = W_h.shape[0]
        if H == 0 or W_h.shape[1] != 4 * H:
            raise ValueError(f"W_h must have shape (H, 4 H) for H >= 1 hidden units (got "
                             f"{W_h.shape})")
        W_x = as_finite_array(W_x, "W_x", ndim=2, shape=(None, 4 * H))
        if W_x.shape[0] == 0:
            raise ValueError("W_x must have at least one input row")
        x_max = check_range(x_max, "x_max", 0.0, None, lo_open=True)
        super().__init__(np.vstack([W_x, W_h]), b, activation="linear", name=name or "lstm",
                         x_max=x_max)
        self.activation = "lstm"        # per gate: see GATES
        self.hidden = H
        self.n_features = W_x.shape[0]
        self.return_sequences = bool(return_sequences)

    def __repr__(self) -> str:
        return (f"LSTM({self.n_features} features, {self.hidden} hidden, "
                f"{'sequences' if self.return_sequences else 'last output'}, "
                f"x_max={self.x_max:g}, name={self.name!r})")

    @property
    def W_x(self) -> np.ndarray:
        return self.W[:self.n_features]

    @property
    def W_h(self) -> np.ndarray:
        return self.W[self.n_features:]

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[1] != self.n_features or shape[0] < 1:
            raise ValueError(f"{self.name}: input of shape {shape}, expected (steps, "
                             f"{self.n_features}) sequences")
        return (shape[0], self.hidden) if self.return_sequences else (self.hidden,)

    def gate_activations(self, pre: np.ndarray) -> np.ndarray:
        """Float gate activations of pre-activations (batch, 4 H)."""
        out = np.empty_like(pre)
        for c0, c1, act in gate_spans(self.hidden):
            out[:, c0:c1] = activation_fn(act, pre[:, c0:c1])
        return out

    def run(self, x: np.ndarray, gates_of: Any) -> np.ndarray:
        """The cell's time loop on a batch of sequences x (batch, steps, n): ``gates_of(z)``
        gives the activated gates (batch, 4 H) of the rows z = [x_t, h_{t-1}] (batch, n + H).
        The float reference and the chip's engine both run through here."""
        x = np.asarray(x)
        self.output_shape(tuple(x.shape[1:]))
        n = len(x)
        h = np.zeros((n, self.hidden), dtype=x.dtype)
        c = np.zeros((n, self.hidden), dtype=np.float64)
        seq = []
        for t in range(x.shape[1]):
            h, c = lstm_cell_update(np.asarray(gates_of(np.hstack([x[:, t], h]))), c)
            h = h.astype(x.dtype)
            seq.append(h)
        return np.stack(seq, axis=1) if self.return_sequences else h

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        return self.run(x, lambda z: self.gate_activations(self.preactivation(z)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "LSTM", "W_x": self.W_x, "W_h": self.W_h, "b": self.b,
                "return_sequences": self.return_sequences, "x_max": self.x_max,
                "name": self.name}


class ParallelLSTM:
    """LSTM cells side by side on the same input sequences; the output is their last outputs
    concatenated, (sum of H,).

    Parameters
    ----------
    *cells : LSTM
        Cells over the same number of features, each with ``return_sequences=False``.
    name : str, optional
    """

    kind = "container"

    def __init__(self, *cells: LSTM, name: str | None = None) -> None:
        if len(cells) == 1 and isinstance(cells[0], (list, tuple)):
            cells = tuple(cells[0])
        if not cells:
            raise ValueError("ParallelLSTM needs at least one cell")
        for k, cell in enumerate(cells):
            check_layer(cell, f"cells[{k}]")
            if not isinstance(cell, LSTM) or cell.return_sequences:
                raise ValueError(f"cells[{k}] must be an LSTM with return_sequences=False (got "
                                 f"{type(cell).__name__})")
        if len({cell.n_features for cell in cells}) > 1:
            raise ValueError("the cells of a ParallelLSTM must take the same number of "
                             f"features (got {[cell.n_features for cell in cells]})")
        self.cells = list(cells)
        self.name = name or "parallel_lstm"

    def __repr__(self) -> str:
        inner = "".join(f"\n  {cell!r}" for cell in self.cells)
        return f"ParallelLSTM({inner}\n)"

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (sum(cell.output_shape(shape)[0] for cell in self.cells),)

    def forward_float(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([cell.forward_float(x) for cell in self.cells], axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ParallelLSTM", "cells": [c.to_dict() for c in self.cells],
                "name": self.name}


def _lstm_from_dict(d: dict[str, Any]) -> LSTM:
    return LSTM(d["W_x"], d["W_h"], d["b"], return_sequences=bool(d["return_sequences"]),
                x_max=float(d["x_max"]), name=d["name"])


LAYER_TYPES["LSTM"] = _lstm_from_dict
LAYER_TYPES["ParallelLSTM"] = lambda d: ParallelLSTM(*[_lstm_from_dict(c) for c in d["cells"]],
                                                     name=d["name"])
