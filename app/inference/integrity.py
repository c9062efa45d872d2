"""Is an ``.onnx`` file whole? Checked when models are listed, so a half-copied file is shown disabled with its
reason instead of looking healthy until someone picks it.

Two checks, both cheap enough to run on every listing of a folder of 40 MB models:

* against the card: ``onnx.bytes`` and ``onnx.sha256`` (written into the JSON card when a model is shipped; the
  ONNX metadata cannot hold its own file's hash). The hash is streamed (~50 ms for 40 MB) and remembered per
  path, size and modification time, so an unchanged file is hashed once per process.
* the protobuf frame: an ONNX file is a ``ModelProto``; walking its top-level fields (a handful of tags and
  lengths, the graph skipped by its length) proves the file is not cut short and does contain a graph. It catches
  truncation for cards without a hash, not damage inside the graph.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, BinaryIO

_GRAPH_FIELD = 7  # ModelProto.graph
_CHUNK = 1 << 20
_hashes: dict[tuple[str, int, int], str] = {}
_hashes_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of ``path``, cached by (path, size, mtime) so an unchanged file is read once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hashes_lock:
        if key in _hashes:
            return _hashes[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    with _hashes_lock:
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def fingerprint(path: Path) -> dict[str, Any]:
    """The card fields that pin a shipped file: ``{"bytes": ..., "sha256": ...}``."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def model_file_problem(path: Path, onnx_fields: dict[str, Any]) -> str | None:
    """Why ``path`` is not the whole model its card describes (``onnx_fields`` = the card's ``onnx``), or None."""
    size = path.stat().st_size
    expected = onnx_fields.get("bytes")
    if isinstance(expected, int) and not isinstance(expected, bool) and size != expected:
        return (
            f"{path.name} is {size:,} bytes but its card says {expected:,}: the file is incomplete or damaged "
            "(copy it again)"
        )
    problem = protobuf_problem(path, size)
    if problem:
        return problem
    sha = onnx_fields.get("sha256")
    if isinstance(sha, str) and file_sha256(path) != sha.lower():
        return f"{path.name} does not match the sha256 in its card: the file is damaged or was replaced"
    return None


def protobuf_problem(path: Path, size: int | None = None) -> str | None:
    """Why ``path`` is not a complete ONNX ``ModelProto`` at the top level, or None. Reads only field headers."""
    size = path.stat().st_size if size is None else size
    if size == 0:
        return f"{path.name} is empty"
    has_graph = False
    with open(path, "rb") as f:
        while f.tell() < size:
            start = f.tell()
            tag = _varint(f)
            field, wire = (tag >> 3, tag & 7) if tag is not None else (0, 0)
            if tag is None or field == 0 or wire not in (0, 1, 2, 5):
                return f"{path.name} is not an ONNX model or is damaged (unreadable data at byte {start:,})"
            if wire == 0:
                if _varint(f) is None:
                    return _cut(path, size)
            elif wire == 2:
                length = _varint(f)
                if length is None or f.tell() + length > size:
                    return _cut(path, size)
                has_graph |= field == _GRAPH_FIELD
                f.seek(length, 1)
            else:
                f.seek(8 if wire == 1 else 4, 1)
                if f.tell() > size:
                    return _cut(path, size)
    if not has_graph:
        return f"{path.name} is not an ONNX model or is damaged: it contains no graph"
    return None


def _cut(path: Path, size: int) -> str:
    return f"{path.name} is cut short ({size:,} bytes): the file is incomplete (copy it again)"


def _varint(f: BinaryIO) -> int | None:
    """A protobuf base-128 varint, or None when the file ends inside it (or it runs past 10 bytes)."""
    value = shift = 0
    for _ in range(10):
        byte = f.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
    return None
