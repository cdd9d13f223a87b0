"""Noise-aware, quantisation-aware training for the chip, with PyTorch (optional dependency).

::

    from snn_neurram.training import QuantNet, train, evaluate, export

    net = QuantNet.from_model(model, in_bits=3, act_bits=3, eta=0.15)   # noise="relative"
    history = train(net, X_train, y_train, epochs=10, checkpoint="run.pt")
    acc = evaluate(net, X_test, y_test, eta=0.15, draws=5)              # weight-noise sweep
    trained = export(net)        # layers.Sequential, clips and input ranges set for the compiler

Native spiking networks (:mod:`snn_neurram.nn.spiking`) train with surrogate gradients::

    from snn_neurram.training import SpikingNet, train_snn, evaluate_snn, export_snn

    net = SpikingNet.mlp([64, 128, 10], beta=0.9, threshold=1.0, reset="subtract")
    train_snn(net, X_train, y_train, steps=16, coding="rate", epochs=30, checkpoint="snn.pt")
    acc = evaluate_snn(net, X_test, y_test, steps=16, coding="rate")
    model = export_snn(net)      # SpikingDense / SpikingConv2d layers for snn_neurram.compile

Modules: :mod:`~.spread` (numpy: the weight spread that RRAM storage causes), :mod:`~.quant`
(straight-through quantisers), :mod:`~.net` (:class:`QuantNet`, :func:`export`), :mod:`~.loop`
(:func:`train`, :func:`evaluate`, :func:`evaluate_draws`), :mod:`~.snn` (:class:`SpikingNet`,
:func:`train_snn`, :func:`evaluate_snn`, :func:`export_snn`, :func:`encode_inputs`),
:mod:`~.lstm` (:class:`LSTMNet`, :func:`train_lstm`, :func:`evaluate_lstm`, :func:`export_lstm`:
parallel LSTM cells), :mod:`~.stored` (a matrix as the chip stores it: limit and spread).

Importing this package does not import PyTorch: :func:`weight_noise_sigma` works without it; the
other names import their modules (and PyTorch) on first use, and raise ImportError with the
install hint when PyTorch is missing.
"""

import importlib

from .spread import conductance_sigma, weight_noise_sigma

__all__ = ["QuantNet", "train", "evaluate", "evaluate_draws", "export", "load_checkpoint",
           "weight_noise_sigma", "conductance_sigma", "SpikingNet", "train_snn", "evaluate_snn",
           "export_snn", "encode_inputs", "LSTMNet", "train_lstm", "evaluate_lstm", "export_lstm"]

TORCH_HINT = ("snn_neurram.training needs PyTorch: pip install 'snn_neurram[train]' "
              "(torch==2.13.0, CPU build)")
_LAZY = {"QuantNet": "net", "export": "net", "train": "loop", "evaluate": "loop",
         "evaluate_draws": "loop", "load_checkpoint": "loop", "SpikingNet": "snn",
         "train_snn": "snn", "evaluate_snn": "snn", "export_snn": "snn", "encode_inputs": "snn",
         "LSTMNet": "lstm", "train_lstm": "lstm", "evaluate_lstm": "lstm", "export_lstm": "lstm"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "torch":
            raise ImportError(TORCH_HINT) from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
