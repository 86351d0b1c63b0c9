"""Writes that never leave a half-written file under the final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import CulturectlError


def default_mode(base: int = 0o666) -> int:
    """Return the permission bits a new file (base 0o666) or folder (0o777) gets under the
    process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def check_writable(path: Path) -> None:
    """Raise CulturectlError unless `path` could be written: its nearest existing folder is
    a folder and writable. Commands call it before long work that ends in a write."""
    path = Path(path)
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise CulturectlError(f"cannot write {path}: {existing} is a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CulturectlError(f"cannot write {path}: {existing} is not writable; choose another path")


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path for `path`; move it onto `path` only if the block finishes
    without an exception, and remove it otherwise.

    The temporary file sits in a private folder beside `path` and has the final file
    name. Some writers record the name inside the file (torch.save names its zip records
    after it), and the same input should give the same bytes.
    """
    path = Path(path)
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        raise CulturectlError(
            f"cannot write {path}: {error.strerror or error}; check the path and its permissions"
        ) from None
    try:
        yield folder / path.name
        # safetensors leaves its file readable by the owner only (mode 0600 here), so the
        # result gets the permissions of any new file.
        os.chmod(folder / path.name, default_mode())
        os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
