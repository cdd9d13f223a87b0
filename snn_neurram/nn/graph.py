"""The one walker over a model's graph: leaves in execution order, weighted layers, stages.

A model is a tree of containers (:class:`~snn_neurram.nn.layers.Sequential`,
:class:`~snn_neurram.nn.layers.Residual`, lists) whose leaves are layers. Every part of the
package that needs the layers of a model in order asks this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .layers import Conv2d, Dense, Residual, Sequential

__all__ = ["leaves", "weighted_layers", "is_flat", "stages"]

WEIGHTED = (Dense, Conv2d)


def leaves(model: Any) -> Iterator[Any]:
    """The layers of a model in execution order, depth first (a residual block: its body,
    then its shortcut), containers left out."""
    if isinstance(model, Sequential):
        for layer in model.layers:
            yield from leaves(layer)
    elif isinstance(model, Residual):
        yield from leaves(model.body)
        if model.shortcut is not None:
            yield from leaves(model.shortcut)
    elif isinstance(model, (list, tuple)):
        for layer in model:
            yield from leaves(layer)
    else:
        yield model


def weighted_layers(model: Any) -> list[Any]:
    """The Dense and Conv2d layers of a model, in execution order."""
    return [layer for layer in leaves(model) if isinstance(layer, WEIGHTED)]


def is_flat(model: Any) -> bool:
    """True for a Sequential whose layers are all plain layers (no nested containers)."""
    return isinstance(model, Sequential) and not any(
        isinstance(layer, (Residual, Sequential)) for layer in model.layers)


def stages(model: Sequential) -> list[list[Any]]:
    """A flat Sequential's layers grouped per weighted layer: stage k holds weighted layer k and
    the pooling / flattening layers after it (stage 0 also the layers before it)."""
    groups: list[list[Any]] = []
    current: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, WEIGHTED) and any(isinstance(x, WEIGHTED) for x in current):
            groups.append(current)
            current = []
        current.append(layer)
    groups.append(current)
    return groups
