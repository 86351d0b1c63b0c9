"""Torch device selection with a clear message when a device is not available."""

from __future__ import annotations

import torch

from .errors import CulturectlError


def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CulturectlError(f"invalid device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CulturectlError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CulturectlError(f"device {name!r} requested but MPS is not available; use --device cpu")
    return device
