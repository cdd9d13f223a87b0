"""Layers, the model graph and model importers (layer 1b)."""

from . import recurrent, spiking  # noqa: F401  (register their layers with layer_from_dict)
