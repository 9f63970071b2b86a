"""Writing result files whole or not at all.

Why: a full disk, a killed process or an unwritable target must never leave a half-written
explanation or report where a later ``load`` (or a person) would take it for a whole one. Each file is
written to a temporary file in the target's directory and renamed over the target, which is atomic on
one file system; on any error the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Create ``path``'s missing parent directories, call ``write`` on a new binary file, move it to ``path``.

    Raises the ``OSError`` that stopped it (``IsADirectoryError`` when ``path`` is a directory, before any
    writing); nothing is left behind but the parent directories.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory; give a file path", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    created = False
    try:
        with _create(temporary) as handle:
            created = True
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if created:
            temporary.unlink(missing_ok=True)
        raise
    return target


def _create(path: Path) -> BinaryIO:
    """A new file, opened for writing in ``x`` mode so an existing file is never reused.

    Its own function so tests can simulate a full disk.
    """
    return path.open("xb")


__all__ = ["write_atomically"]
