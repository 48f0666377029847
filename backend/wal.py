"""The ingest write-ahead log: acknowledged rows live here until they are in the store.

A request is answered 200 once its rows are appended to the current segment and
fdatasync'ed; the committer then moves many requests' rows into the store in one
large insert, seals the segment and removes it. Segments left behind by a crash are
replayed when the next backend starts on the store.

A segment is a sequence of frames: magic, kind (logs or spans), payload length and
CRC-32, then the rows as an Arrow IPC stream. A frame cut short by a crash (it was
never acknowledged: the answer waits for fdatasync) ends the segment. A frame damaged on
disk is skipped: reading resumes at the next magic that starts an intact frame.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from hlog.backend.store import StoreError

MAGIC = b"HLW1"
_HEADER = struct.Struct("<4sBII")  # magic, kind, payload bytes, crc32 of the payload
KINDS = ("logs", "spans")
SUFFIX = ".wal"
DAMAGED_SUFFIX = ".damaged"  # a segment with damage is kept aside under this name

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


@dataclass
class Segment:
    """What a segment holds: its whole frames, the bytes of a frame cut short at its end (never
    acknowledged), and what lay between good frames but could not be read (acknowledged: lost)."""

    frames: list[Frame] = field(default_factory=list)
    torn_bytes: int = 0
    damaged_bytes: int = 0
    damaged_records: int = 0  # as far as the damaged frames' own metadata still tells


def _frame_end(data: bytes, at: int) -> int | None:
    """The end of the whole, intact frame starting at `at`, or None."""
    if at + _HEADER.size > len(data):
        return None
    magic, kind, size, crc = _HEADER.unpack_from(data, at)
    end = at + _HEADER.size + size
    if magic != MAGIC or kind >= len(KINDS) or end > len(data) or zlib.crc32(data[at + _HEADER.size : end]) != crc:
        return None
    return end


def _rows_in(damaged: bytes) -> int:
    """How many rows a damaged stretch held, when its first frame's Arrow metadata still reads."""
    try:
        return int(pa.ipc.open_stream(damaged[_HEADER.size :]).read_all().num_rows)
    except Exception:  # noqa: BLE001 (damaged bytes fail in any way Arrow can)
        return 0


def read_segment(path: Path) -> Segment:
    """The frames of a segment. A damaged frame does not end it: the magic that starts every
    frame is searched for after it, and reading resumes at the next intact frame."""
    data = path.read_bytes()
    segment = Segment()
    at = 0
    while at < len(data):
        end = _frame_end(data, at)
        if end is not None:
            segment.frames.append(decode_frame(data[at:end]))
            at = end
            continue
        resume = data.find(MAGIC, at + 1)
        while resume != -1 and _frame_end(data, resume) is None:
            resume = data.find(MAGIC, resume + 1)
        if resume == -1:  # nothing intact after it: the tail of a write cut short
            segment.torn_bytes = len(data) - at
            break
        segment.damaged_bytes += resume - at
        segment.damaged_records += _rows_in(data[at:resume])
        at = resume
    return segment


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
        self.id = self._read_or_make_id()
        existing = self.segments()
        self._last = int(existing[-1].stem) if existing else 0
        self._active: Path | None = None
        self._fd: int | None = None
        self._broken = False

    def _read_or_make_id(self) -> str:
        """This log's id, made once: it names its segments' inserts (several backends share a
        database, each with its own log) and its unflushed tables in the store."""
        path = self.directory / "id"
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text().strip()
            if re.fullmatch(r"[0-9a-f]{12}", text):
                return text
        made = secrets.token_hex(6)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(made + "\n")
        os.replace(temporary, path)
        return made

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
