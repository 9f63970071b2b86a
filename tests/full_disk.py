"""A disk that fills up mid-write, for tests of what a failed save leaves behind."""

from __future__ import annotations

import errno
import io

import pytest

from core import atomic_files as files


class FullDisk(io.FileIO):
    """A new file on a disk that fills up after ``ROOM`` bytes: the rest of a write fails with ENOSPC."""

    ROOM = 64

    def write(self, data: bytes) -> int:
        written = self.tell()
        if written + len(data) > self.ROOM:
            super().write(bytes(data)[: self.ROOM - written])
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``core.atomic_files.write_atomically`` fail with ENOSPC after a partial write."""
    monkeypatch.setattr(files, "_create", lambda path: FullDisk(path, "x"))
