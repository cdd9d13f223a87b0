"""Exceptions of snn_neurram. All derive from ValueError, so ``except ValueError`` catches them."""

__all__ = ["CapacityError"]


class CapacityError(ValueError):
    """A matrix or model does not fit the hardware it is mapped to; the message says the limit."""
