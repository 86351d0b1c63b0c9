"""culturectl: a command-line toolkit for interpretability research on the culture models."""

__version__ = "0.1.0"

__all__ = ["load_hooked", "__version__"]


def __getattr__(name: str):
    # Imported on first use: transformer_lens takes seconds to import, and
    # `culturectl --help` must not pay for it.
    if name == "load_hooked":
        from .hooked import load_hooked

        return load_hooked
    raise AttributeError(f"module 'culturectl' has no attribute {name!r}")
