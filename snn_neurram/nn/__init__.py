"""Layers, the model graph and model importers (layer 1b)."""

from . import spiking  # noqa: F401  (registers the spiking layers with layer_from_dict)
