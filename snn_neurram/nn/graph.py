"""The one walker over a model's graph: leaves in execution order, weighted layers, stages.

A model is a tree of containers (:class:`~snn_neurram.nn.layers.Sequential`,
:class:`~snn_neurram.nn.layers.Residual`, lists) whose leaves are layers. Every part of the
package that needs the layers of a model in order asks this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .layers import Conv2d, Dense, Residual, Sequential

__all__ = ["leaves", "weighted_layers", "concurrent_groups", "is_flat", "stages"]

WEIGHTED = (Dense, Conv2d)


def leaves(model: Any) -> Iterator[Any]:
    """The layers of a model in execution order, depth first (a residual block: its body,
    then its shortcut; parallel LSTM cells in order), containers left out."""
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
    elif isinstance(getattr(model, "cells", None), list):
        for cell in model.cells:               # ParallelLSTM: its cells, in order
            yield from leaves(cell)
    else:
        yield model


def weighted_layers(model: Any) -> list[Any]:
    """The Dense and Conv2d layers of a model (LSTM cells are Dense layers), in execution
    order."""
    return [layer for layer in leaves(model) if isinstance(layer, WEIGHTED)]


def concurrent_groups(model: Any) -> list[list[Any]]:
    """The weighted layers in execution order, grouped by what runs at the same time: the cells
    of a :class:`~snn_neurram.nn.recurrent.ParallelLSTM` form one group (they take the same
    input), every other weighted layer a group of its own."""
    if isinstance(getattr(model, "cells", None), list):
        return [list(model.cells)]
    if isinstance(model, Sequential):
        children: list[Any] = model.layers
    elif isinstance(model, Residual):
        children = [model.body] + ([model.shortcut] if model.shortcut is not None else [])
    elif isinstance(model, (list, tuple)):
        children = list(model)
    else:
        return [[model]] if isinstance(model, WEIGHTED) else []
    return [group for child in children for group in concurrent_groups(child)]


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
