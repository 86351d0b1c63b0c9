"""safetensors files whose bytes depend only on their content.

The safetensors library stores the metadata in a hash map and writes its keys in an order
that changes from one process to the next, so the same tensors and metadata give
different bytes. `save_file_sorted` writes the metadata keys sorted instead.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_LENGTH_BYTES = 8


def save_file_sorted(tensors: dict, path: Path, metadata: dict[str, str]) -> None:
    """Write `tensors` and string `metadata` to `path` like safetensors' save_file, with
    the metadata keys in sorted order."""
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    (length,) = struct.unpack("<Q", data[:_LENGTH_BYTES])
    header = json.loads(data[_LENGTH_BYTES : _LENGTH_BYTES + length])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    sorted_header = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    # Only the order changes, so the compact header keeps its length. The library pads it
    # with spaces to align the tensor data; the same padding keeps that alignment.
    if len(sorted_header) <= length:
        data = data[:_LENGTH_BYTES] + sorted_header.ljust(length, b" ") + data[_LENGTH_BYTES + length :]
    Path(path).write_bytes(data)
