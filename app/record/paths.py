"""Output paths checked before any work starts, so a bad path fails at once with one sentence."""

from __future__ import annotations

from pathlib import Path

from app.errors import OutputError


def prepare_output_path(path: Path, what: str) -> None:
    """Create the parent folder and prove ``path`` can be written, so a bad path fails before any work is done."""
    if path.is_dir():
        raise OutputError(f"Cannot write {what} to {path}: it is a folder.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot write {what} to {path}: cannot create folder {path.parent} ({exc.strerror})."
        ) from exc
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise OutputError(f"Cannot write {what} to {path}: {exc.strerror or exc}.") from exc
