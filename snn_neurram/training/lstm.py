"""Noise-aware, quantisation-aware training of parallel LSTM cells for the chip, with PyTorch.

:class:`LSTMNet` is the network the chip runs as
``Sequential(ParallelLSTM(cells), Dense(head, activation="linear", x_max=1))``
(:mod:`snn_neurram.nn.recurrent`): ``cells`` LSTM cells of ``hidden`` units on the same input
sequences, their last outputs concatenated into a linear classifier. Its forward pass does what
the chip does (each switchable):

- the rows of every MVM -- a cell's [x_t, h_{t-1}], the head's concatenated h -- are clipped to
  [-1, 1] and rounded to ``in_bits`` magnitude bits (the input drivers);
- the gates are read out by the neurons' ADC on ``out_bits`` bits: sigmoid gates on 2**out_bits -
  1 steps, round to nearest; the tanh gate on sign and 2**(out_bits - 1) magnitude levels
  (:func:`snn_neurram.physics.neuron.activate`); the gradient passes the rounding straight through;
- each matrix is limited to +-w_max, the ``weight_clip``-th percentile of its |entries|, as the
  mapping limits it (:mod:`.stored`);
- weight noise, one draw per batch (constant over the steps of a sequence: one programmed
  chip): ``noise="device"`` the conductance spread of the weights' RRAM pairs after
  ``read_time`` (:func:`snn_neurram.training.weight_noise_sigma`, bias rows likewise),
  ``noise="relative"`` N(0, (eta max|W|)^2), or none.

The cell update c_t = f c_{t-1} + i g, h_t = o tanh(c_t) is float, as on the chip (digital).
Without noise the forward pass is the quantised software model the chip is compared with.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn

from .._checks import check_choice, check_int, check_range
from ..compiler.tiling import PAIRS
from ..nn.layers import Dense, Sequential
from ..nn.recurrent import LSTM, ParallelLSTM
from ..physics.device import RRAMDevice
from .loop import (check_schedule, labelled_data, lr_scheduler, new_history, resume_training,
                   run_epochs, torch_threads)
from .quant import straight_through
from .stored import CHIP_PERCENTILE, device_noise, w_max_of

__all__ = ["LSTMNet", "train_lstm", "evaluate_lstm", "export_lstm", "LSTM_NOISE_MODES",
           "quantized_rows", "sigmoid_readout", "tanh_readout"]

#: Weight-noise models of training.
LSTM_NOISE_MODES = ("device", "relative", None)

# one (dW, db) per matrix: the cells', then the head's
_Noise = list[tuple[torch.Tensor, torch.Tensor | None]]


def quantized_rows(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Row inputs clipped to [-1, 1] and rounded to ``bits`` magnitude bits (straight through
    inside the range)."""
    L = 2 ** bits - 1
    zc = z.clamp(-1.0, 1.0)
    return straight_through(zc, torch.round(zc * L) / L)


def sigmoid_readout(y: torch.Tensor, bits: int) -> torch.Tensor:
    """A sigmoid gate as the neurons read it: floor(sigmoid(y) L + 1/2) / L, L = 2**bits - 1
    (gradient of the sigmoid, straight through the rounding)."""
    L = 2 ** bits - 1
    s = torch.sigmoid(y)
    return straight_through(s, torch.floor(s.detach() * L + 0.5) / L)


def tanh_readout(y: torch.Tensor, bits: int) -> torch.Tensor:
    """A tanh gate as the neurons read it: sign and magnitude (k - 1/2) / L, L = 2**(bits - 1),
    k = min(floor(|tanh y| L) + 1, L) (gradient of tanh, straight through the rounding)."""
    L = 2 ** (bits - 1)
    t = torch.tanh(y)
    k = torch.clamp(torch.floor(t.detach().abs() * L) + 1.0, max=float(L))
    sign = torch.where(t.detach() >= 0, 1.0, -1.0).to(t.dtype)
    return straight_through(t, sign * (k - 0.5) / L)


class LSTMNet(nn.Module):
    """Parallel LSTM cells and a linear head, as the chip runs them.

    Parameters
    ----------
    n_features : int
        Features per step (rows x_t; scale them to about [-1, 1]).
    hidden : int
        Units per cell.
    n_classes : int
        Outputs of the head.
    cells : int
        Parallel cells (the paper's keyword spotter had 4).
    in_bits, out_bits : int
        Row input bits and gate readout bits of the chip runs the net is trained for (1-8).
    weight_clip : float or None
        Percentile of |W| at which each matrix is limited (the chip's mapping percentile,
        default 95); None for no limit.
    device : RRAMDevice, optional
        Device model of ``noise="device"``.
    read_time : float
        Seconds between programming and reading, for ``noise="device"`` (default one day).
    seed : int
        Seeds the initial weights (PyTorch's LSTM initialisation, uniform in +-1/sqrt(hidden),
        the forget gates' bias at 1).
    """

    def __init__(self, n_features: int, hidden: int, n_classes: int, cells: int = 4, *,
                 in_bits: int = 4, out_bits: int = 4, weight_clip: float | None = CHIP_PERCENTILE,
                 device: RRAMDevice | None = None, read_time: float = 86400.0,
                 seed: int = 0) -> None:
        super().__init__()
        self.n_features = check_int(n_features, "n_features", 1, PAIRS)
        self.hidden = check_int(hidden, "hidden", 1, 4096)
        self.n_classes = check_int(n_classes, "n_classes", 2, 4096)
        self.n_cells = check_int(cells, "cells", 1, 48)
        self.in_bits = check_int(in_bits, "in_bits", 1, 8)
        self.out_bits = check_int(out_bits, "out_bits", 2, 8)
        self.weight_clip = None if weight_clip is None else check_range(
            weight_clip, "weight_clip", 0.0, 100.0, lo_open=True)
        self.device = RRAMDevice() if device is None else device
        if not isinstance(self.device, RRAMDevice):
            raise ValueError(f"device must be an RRAMDevice (got {type(self.device).__name__})")
        self.read_time = check_range(read_time, "read_time", 0.0, None, lo_open=True)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", 0, None))
        H, n = self.hidden, self.n_features
        k = 1.0 / math.sqrt(H)

        def uniform(*shape: int, scale: float) -> nn.Parameter:
            return nn.Parameter((torch.rand(*shape, generator=gen) * 2 - 1) * scale)

        self.weights = nn.ParameterList([uniform(n + H, 4 * H, scale=k)
                                         for _ in range(self.n_cells)])
        self.biases = nn.ParameterList()
        for _ in range(self.n_cells):
            b = uniform(4 * H, scale=k)
            with torch.no_grad():
                b[H:2 * H] += 1.0
            self.biases.append(b)
        k_head = 1.0 / math.sqrt(self.n_cells * H)
        self.head_weight = uniform(self.n_cells * H, self.n_classes, scale=k_head)
        self.head_bias = uniform(self.n_classes, scale=k_head)

    def matrices(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(matrix, bias) of every cell, then of the head, limited as the chip stores them
        (gradient 1 inside +-w_max, 0 beyond)."""
        out = []
        for W, b in [*zip(self.weights, self.biases), (self.head_weight, self.head_bias)]:
            if self.weight_clip is not None:
                w_max = w_max_of(W, self.weight_clip)
                W = torch.clamp(W, -w_max, w_max)
            out.append((W, b))
        return out

    def config(self) -> dict[str, Any]:
        """The settings a checkpoint must match."""
        return {"kind": "LSTMNet", "n_features": self.n_features, "hidden": self.hidden,
                "n_classes": self.n_classes, "cells": self.n_cells, "in_bits": self.in_bits,
                "out_bits": self.out_bits, "weight_clip": self.weight_clip,
                "read_time": self.read_time}

    def draw_noise(self, mode: str, eta: float, generator: torch.Generator) -> _Noise:
        """One draw of the weight noise of every matrix (see the module documentation)."""
        out: _Noise = []
        for W, b in self.matrices():
            W = W.detach()
            if mode == "relative":
                out.append(((eta * W.abs().max()) * torch.randn(W.shape, generator=generator),
                            None))
            else:
                pct = CHIP_PERCENTILE if self.weight_clip is None else self.weight_clip
                out.append(device_noise(W, b, pct, self.device, self.read_time, generator))
        return out

    def forward(self, x: torch.Tensor, delta: _Noise | None = None) -> torch.Tensor:
        """Logits (batch, n_classes) of sequences x (batch, steps, n_features)."""
        mats = self.matrices()
        if delta is not None:
            mats = [(W + dW, b if db is None else b + db) for (W, b), (dW, db) in zip(mats, delta)]
        H, bits = self.hidden, self.out_bits
        n, T = x.shape[0], x.shape[1]
        outs = []
        for W, b in mats[:-1]:
            h = x.new_zeros(n, H)
            c = x.new_zeros(n, H)
            for t in range(T):
                pre = quantized_rows(torch.cat([x[:, t], h], dim=1), self.in_bits) @ W + b
                i = sigmoid_readout(pre[:, :H], bits)
                f = sigmoid_readout(pre[:, H:2 * H], bits)
                g = tanh_readout(pre[:, 2 * H:3 * H], bits)
                o = sigmoid_readout(pre[:, 3 * H:], bits)
                c = f * c + i * g
                h = o * torch.tanh(c)
            outs.append(h)
        W, b = mats[-1]
        return quantized_rows(torch.cat(outs, dim=1), self.in_bits) @ W + b


def export_lstm(net: LSTMNet) -> Sequential:
    """The trained net as layers for :func:`snn_neurram.compile`, float64, with the weights
    limited as the chip stores them."""
    if not isinstance(net, LSTMNet):
        raise ValueError(f"net must be an LSTMNet (got {type(net).__name__})")
    mats = [(W.detach().double().numpy(), b.detach().double().numpy())
            for W, b in net.matrices()]
    n = net.n_features
    cells = [LSTM(W[:n], W[n:], b, name=f"lstm{k}") for k, (W, b) in enumerate(mats[:-1])]
    W, b = mats[-1]
    return Sequential(ParallelLSTM(*cells), Dense(W, b, activation="linear", x_max=1.0,
                                                  name="head"))


def _sequences(X: ArrayLike, y: ArrayLike, net: LSTMNet, name: str = "X",
               y_name: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    Xt, yt = labelled_data(X, y, name, y_name)
    if Xt.ndim != 3 or Xt.shape[2] != net.n_features:
        raise ValueError(f"{name} must hold sequences (N, steps, {net.n_features}) (got shape "
                         f"{tuple(Xt.shape)})")
    if int(yt.max()) >= net.n_classes:
        raise ValueError(f"{y_name} holds label {int(yt.max())} but the net has "
                         f"{net.n_classes} outputs")
    return Xt, yt


def evaluate_lstm(net: LSTMNet, X: ArrayLike, y: ArrayLike, *, noise: str | None = None,
                  eta: float = 0.1, seed: int = 0, batch_size: int = 256) -> float:
    """Accuracy of ``net`` on sequences X (N, steps, n_features): the quantised software model
    (``noise=None``), or with one draw of weight noise (``"device"``, ``"relative"``)."""
    noise = check_choice(noise, "noise", LSTM_NOISE_MODES)
    Xt, yt = _sequences(X, y, net)
    net.eval()
    gen = torch.Generator().manual_seed(check_int(seed, "seed", 0, None))
    with torch.no_grad():
        delta = None if noise is None else net.draw_noise(noise, eta, gen)
        pred = torch.cat([net(Xt[i:i + batch_size], delta).argmax(1)
                          for i in range(0, len(Xt), batch_size)])
    return float((pred == yt).float().mean())


def train_lstm(net: LSTMNet, X: ArrayLike, y: ArrayLike, *, epochs: int = 30,
               lr: float = 5e-3, batch_size: int = 64, noise: str | None = "device",
               eta: float = 0.1, weight_decay: float = 0.0, lr_schedule: str | None = "cosine",
               X_val: ArrayLike | None = None, y_val: ArrayLike | None = None,
               checkpoint: str | os.PathLike[str] | None = None, resume: bool = True,
               progress: bool | None = None, seed: int = 0,
               threads: int | None = 1) -> dict[str, Any]:
    """Train ``net`` with Adam on the cross-entropy of its logits, through time, the chip's
    quantisation and weight noise in every forward pass.

    Parameters
    ----------
    net : LSTMNet
        Trained in place; left in evaluation mode.
    X : array_like (N, steps, n_features)
        Input sequences, scaled to about [-1, 1].
    y : array_like (N,) of int
    epochs : int
        Passes over the data, in [1, 100000].
    lr : float
        Adam learning rate, > 0 (gradients are clipped to norm 1).
    batch_size : int
    noise : {"device", "relative", None}
        Weight noise of every forward pass (one draw per batch).
    eta : float
        Relative noise of ``noise="relative"``, >= 0.
    weight_decay : float
        Adam's L2 coefficient, >= 0.
    lr_schedule : {"cosine", None}
    X_val, y_val : array_like, optional
        Validation data, scored without noise after every epoch.
    checkpoint : path, optional
        Saved atomically after every epoch; with ``resume`` an existing one (of the same
        settings) is continued, bit for bit as an uninterrupted run.
    progress : bool, optional
        Progress bars and a line per epoch (default: when stderr is a terminal).
    seed : int
        Seeds shuffling and noise draws.
    threads : int or None
        PyTorch threads while training (default 1: the same seed gives the same weights bit
        for bit; the order of a multi-threaded sum changes its rounding, and training
        amplifies that). None keeps PyTorch's setting.

    Returns
    -------
    dict
        ``loss``, ``train_accuracy``, ``val_accuracy`` per epoch, ``seconds``, ``epochs_done``.
    """
    if not isinstance(net, LSTMNet):
        raise ValueError(f"net must be an LSTMNet (got {type(net).__name__})")
    epochs, lr, batch_size, weight_decay, lr_schedule, seed = check_schedule(
        epochs, lr, batch_size, weight_decay, lr_schedule, seed)
    noise = check_choice(noise, "noise", LSTM_NOISE_MODES)
    eta = check_range(eta, "eta", 0.0, None)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    Xt, yt = _sequences(X, y, net)
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None and y_val is not None:
        _sequences(X_val, y_val, net, "X_val", "y_val")
    n_batches = math.ceil(len(Xt) / batch_size)
    config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "noise": noise,
              "eta": eta if noise == "relative" else None, "weight_decay": weight_decay,
              "lr_schedule": lr_schedule, "seed": seed, "n_train": len(Xt), **net.config()}
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = lr_scheduler(opt, lr_schedule, epochs * n_batches)
    shuffle_seed, noise_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    gens = {"shuffle_rng": torch.Generator().manual_seed(shuffle_seed),
            "noise_rng": torch.Generator().manual_seed(noise_seed)}
    history = resume_training(checkpoint, resume, config, net, opt, sched, gens) or new_history()

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        delta = None if noise is None else net.draw_noise(noise, eta, gens["noise_rng"])
        out = net(Xt[idx], delta)
        return F.cross_entropy(out, yt[idx]), out

    def validate() -> float | None:
        return None if X_val is None or y_val is None else evaluate_lstm(net, X_val, y_val)

    try:
        with torch_threads(threads):
            run_epochs(net, yt, batch_size, epochs, history, opt, sched, gens, batch_loss,
                       validate, checkpoint=checkpoint, config=config, progress=show,
                       extra={"kind": "LSTMNet"}, max_grad_norm=1.0)
    finally:
        net.eval()
    return history
