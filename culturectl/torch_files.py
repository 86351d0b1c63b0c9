"""Safe reading of files written by `torch.save`: tensors and plain containers only.

`torch.load(weights_only=True)` refuses to unpickle code, but a damaged or foreign file
can still fail inside it with almost any exception type. Every failure becomes one
CulturectlError that names the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from .errors import CulturectlError

# torch.save writes a zip archive; files from torch < 1.6 start with a pickle protocol byte.
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"


def load_torch_file(path: Path, kind: str):
    """Return the content of the torch file `path`, described as `kind` in errors
    (for example "checkpoint" or "quiz file")."""
    import torch

    with open(path, "rb") as handle:
        head = handle.read(4)
    if not (head.startswith(_ZIP_MAGIC) or head[:1] == _PICKLE_PROTOCOL):
        raise CulturectlError(f"{path}: not a torch {kind}, the file is corrupt or of another format")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CulturectlError(
            f"{path}: rejected, the file contains objects other than tensors and plain "
            "containers, and unpickling them could run arbitrary code"
        ) from None
    except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways
        raise CulturectlError(
            f"{path}: cannot read the {kind}, the file is corrupt or truncated ({type(error).__name__})"
        ) from None
