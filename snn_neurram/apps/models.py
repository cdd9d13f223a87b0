"""Reference networks: the paper's 7-layer MNIST CNN, an MLP for the 8 x 8 digits, ResNet-20.

Each builder returns a :class:`~snn_neurram.layers.Sequential` with weights drawn from a seeded
generator (He initialisation) unless weights are given; the training recipes live in ``models/``
and in :mod:`snn_neurram.training`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..nn.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Residual, Sequential

__all__ = ["mnist_cnn", "digits_mlp", "resnet20", "MODELS", "build"]


def _conv(rng, c_in, c_out, k=3, stride=1, padding=1, activation="relu", name=None):
    W = rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / (c_in * k * k))
    return Conv2d(W, np.zeros(c_out), stride=stride, padding=padding, activation=activation,
                  name=name)


def _dense(rng, n_in, n_out, activation="relu", name=None):
    W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
    return Dense(W, np.zeros(n_out), activation=activation, name=name)


def mnist_cnn(seed: int = 0, channels: Sequence[int] = (8, 8, 16, 16, 32, 32)) -> Sequential:
    """The paper's 7-layer MNIST CNN for 1 x 28 x 28 inputs.

    conv3x3(8) conv3x3(8) maxpool2 conv3x3(16) conv3x3(16) maxpool2 conv3x3(32) conv3x3(32)
    maxpool2 dense(10); padding 1, ReLU after every convolution: 28 -> 14 -> 7 -> 3, so the
    dense layer sees 32 x 3 x 3 = 288 features.
    """
    rng = np.random.default_rng(seed)
    c = (1,) + tuple(channels)
    layers = []
    for i in range(6):
        layers.append(_conv(rng, c[i], c[i + 1], name=f"conv{i + 1}"))
        if i % 2 == 1:
            layers.append(MaxPool2d(2, name=f"pool{i // 2 + 1}"))
    layers += [Flatten(), _dense(rng, c[6] * 3 * 3, 10, activation="linear", name="fc")]
    return Sequential(*layers, name="mnist_cnn")


def digits_mlp(seed: int = 0, hidden: int = 64) -> Sequential:
    """MLP for the 8 x 8 digits: 64 -> hidden (ReLU) -> 10."""
    rng = np.random.default_rng(seed)
    return Sequential(_dense(rng, 64, hidden, name="fc1"),
                      _dense(rng, hidden, 10, activation="linear", name="fc2"),
                      name="digits_mlp")


def resnet20(seed: int = 0, width: int = 16) -> Sequential:
    """ResNet-20 for 3 x 32 x 32 inputs (He et al. 2016): a 3 x 3 stem, three stages of three
    basic blocks (two 3 x 3 convolutions each) at width, 2 width, 4 width channels with stride 2
    and 1 x 1 projection shortcuts between stages, global average pooling and a dense layer.
    Batch normalisation is taken as folded into the convolutions."""
    rng = np.random.default_rng(seed)
    layers = [_conv(rng, 3, width, name="stem")]
    c_in = width
    for stage, c_out in enumerate((width, 2 * width, 4 * width)):
        for blk in range(3):
            stride = 2 if (stage > 0 and blk == 0) else 1
            body = Sequential(_conv(rng, c_in, c_out, stride=stride, name=f"s{stage + 1}b{blk + 1}a"),
                              _conv(rng, c_out, c_out, activation="linear",
                                    name=f"s{stage + 1}b{blk + 1}b"))
            short = None
            if stride != 1 or c_in != c_out:
                short = _conv(rng, c_in, c_out, k=1, stride=stride, padding=0,
                              activation="linear", name=f"s{stage + 1}b{blk + 1}sc")
            layers.append(Residual(body, short, name=f"s{stage + 1}b{blk + 1}"))
            c_in = c_out
    layers += [AvgPool2d(8, name="gap"), Flatten(), _dense(rng, 4 * width, 10, "linear", "fc")]
    return Sequential(*layers, name="resnet20")


MODELS: dict[str, tuple[Callable[..., Sequential], tuple[int, ...]]] = {
    "mnist-cnn": (mnist_cnn, (1, 28, 28)),
    "digits-mlp": (digits_mlp, (64,)),
    "resnet20": (resnet20, (3, 32, 32)),
}


def build(name: str, seed: int = 0) -> tuple[Sequential, tuple[int, ...]]:
    """(model, input shape) of a reference model by name (see :data:`MODELS`)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)} (got {name!r})")
    fn, shape = MODELS[name]
    return fn(seed=seed), shape
