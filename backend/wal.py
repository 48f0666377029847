"""The ingest write-ahead log: acknowledged rows live here until they are in the store.

A request is answered 200 once its rows are appended to the current segment and
fdatasync'ed; the committer then moves many requests' rows into the store in one
large insert, seals the segment and removes it. Segments left behind by a crash are
replayed when the next backend starts on the store.

A segment is a sequence of frames: magic, kind (logs or spans), payload length and
CRC-32, then the rows as an Arrow IPC stream. A frame cut short by a crash (it was
never acknowledged: the answer waits for fdatasync) ends the segment.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time
import zlib
from pathlib import Path

import pyarrow as pa

from backend.store import StoreError

MAGIC = b"HLW1"
_HEADER = struct.Struct("<4sBII")  # magic, kind, payload bytes, crc32 of the payload
KINDS = ("logs", "spans")
SUFFIX = ".wal"

Frame = tuple[str, pa.Table]


class LogBusy(StoreError):
    """Another backend holds the log (possible with a ClickHouse server: the store itself is shared)."""


def encode(kind: str, table: pa.Table) -> bytes:
    """One frame: header and the rows as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    return _HEADER.pack(MAGIC, KINDS.index(kind), len(payload), zlib.crc32(payload)) + payload


def decode_frame(frame: bytes) -> Frame:
    """The rows of one whole frame made by encode()."""
    _, kind, size, _ = _HEADER.unpack_from(frame)
    return KINDS[kind], pa.ipc.open_stream(memoryview(frame)[_HEADER.size : _HEADER.size + size]).read_all()


def read_segment(path: Path) -> tuple[list[Frame], int]:
    """The frames of a segment, and how many bytes at its end were not a whole frame."""
    data = path.read_bytes()
    frames: list[Frame] = []
    at = 0
    while at + _HEADER.size <= len(data):
        magic, kind, size, crc = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + size
        if magic != MAGIC or kind >= len(KINDS) or end > len(data) or zlib.crc32(data[at + _HEADER.size : end]) != crc:
            break
        frames.append(decode_frame(data[at:end]))
        at = end
    return frames, len(data) - at


class WriteAheadLog:
    """The segments of one directory, held by one process (an exclusive lock)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = os.open(directory / "lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as err:
            raise StoreError(f"cannot open the write-ahead log in {directory}: {err.strerror}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            message = f"the write-ahead log in {directory} is in use by another hlog backend on this store"
            raise LogBusy(message) from None
        existing = self.segments()
        self._last = int(existing[-1].stem) if existing else 0
        self._active: Path | None = None
        self._fd: int | None = None
        self._broken = False

    def segments(self) -> list[Path]:
        """Every segment on disk, oldest first."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    def append(self, frames: list[bytes]) -> Path:
        """Append encoded frames to the active segment and make them durable; returns the segment."""
        if self._fd is None:
            # names grow with time and never repeat: they are the store's deduplication tokens
            self._last = max(time.time_ns(), self._last + 1)
            self._active = self.directory / f"{self._last:020d}{SUFFIX}"
            self._fd = os.open(self._active, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        assert self._active is not None
        if self._broken:
            raise OSError(errno.EIO, "a failed write could not be undone; waiting for the next flush")
        data = b"".join(frames)
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fdatasync(self._fd)
        except OSError:
            # a frame cut short would end the segment for replay: cut it off, or take no
            # more frames into this segment until it is flushed and sealed
            try:
                os.ftruncate(self._fd, end)
            except OSError:
                self._broken = True
            raise
        return self._active

    def seal(self) -> Path | None:
        """Close the active segment (the next append starts a new one) and return it."""
        sealed = self._active
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._active, self._broken = None, None, False
        return sealed

    def close(self) -> None:
        """Close the active segment and release the directory."""
        self.seal()
        os.close(self._lock)
