"""Exceptions of snn_neurram. All derive from ValueError, so ``except ValueError`` catches them."""

__all__ = ["CapacityError", "ProgramFileError"]


class CapacityError(ValueError):
    """A matrix or model does not fit the hardware it is mapped to; the message says the limit."""


class ProgramFileError(ValueError):
    """A saved program file is not one, is of another format version, truncated or altered."""
