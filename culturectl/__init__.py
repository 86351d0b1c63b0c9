"""culturectl: a command-line toolkit for interpretability research on the culture models."""

__version__ = "0.1.0"
