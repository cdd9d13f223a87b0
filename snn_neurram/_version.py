"""The package version (one place, read by setup.cfg and written into saved files)."""

__version__ = "0.1.0"
