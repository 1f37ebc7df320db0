"""Backup files on disk: gzip-compressed when the name ends in ``.gz``; written atomically."""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _open(path: Path, mode: str, *, gz: bool) -> IO[bytes]:
    if gz:
        return gzip.open(path, mode)  # type: ignore[return-value]  # a GzipFile is IO[bytes]
    return open(path, mode)


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines, read one at a time."""
    with _open(path, "rb", gz=path.suffix == ".gz") as lines:
        yield from lines


@contextlib.contextmanager
def writing(path: Path) -> Iterator[IO[bytes]]:
    """A file that appears at ``path`` only once it is complete (written beside it, then
    renamed), so a backup that failed midway never looks like one that succeeded."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with _open(partial, "wb", gz=path.suffix == ".gz") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
