"""Repair a protobuf body whose string fields hold invalid UTF-8, so one bad string loses no record.

protobuf refuses a whole message when one `string` field is not valid UTF-8 (a client that
cut a string in the middle of a character, a log line in Latin-1). OTLP clients then drop
the whole batch on the 400. Walking the wire format with the message's descriptor, such a
string is re-encoded with U+FFFD for the bad bytes and everything else is copied as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor

MAX_NESTING = 64  # deeper than any OTLP message of ours needs (AnyValue inside KeyValueList ...)


class WireError(ValueError):
    """The body is not protobuf at all."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def repair_utf8(descriptor: Descriptor, data: bytes, depth: int = 0) -> tuple[bytes, int]:
    """`data` (a serialized message of `descriptor`) with every string field made valid UTF-8;
    and how many strings were repaired. Raises WireError for what is not protobuf."""
    if depth > MAX_NESTING:
        raise WireError("nested too deeply")
    out = bytearray()
    repaired = 0
    pos = 0
    while pos < len(data):
        key, value_at = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, end = _varint(data, value_at)
        elif wire_type == 1:
            end = value_at + 8
        elif wire_type == 5:
            end = value_at + 4
        elif wire_type == 2:
            length, start = _varint(data, value_at)
            end = start + length
            field = descriptor.fields_by_number.get(number)
            payload = data[start:end]
            if (
                end <= len(data)
                and field is not None
                and field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE)
            ):
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError:
                        payload = payload.decode("utf-8", errors="replace").encode("utf-8")
                        repaired += 1
                else:
                    payload, inner = repair_utf8(field.message_type, payload, depth + 1)
                    repaired += inner
                out += data[pos:value_at] + _encode_varint(len(payload)) + payload
                pos = end
                continue
        else:
            raise WireError(f"wire type {wire_type}")
        if end > len(data):
            raise WireError("truncated field")
        out += data[pos:end]
        pos = end
    return bytes(out), repaired


def _length_delimited(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of the message in data[pos:end]."""
    while pos < end:
        key, at = _varint(data, pos)
        wire_type = key & 7
        if wire_type == 2:
            length, start = _varint(data, at)
            pos = start + length
            if pos > end:
                raise WireError("truncated field")
            yield key >> 3, start, pos
        elif wire_type == 0:
            pos = _varint(data, at)[1]
        elif wire_type in (1, 5):
            pos = at + (8 if wire_type == 1 else 4)
        else:
            raise WireError(f"wire type {wire_type}")


def count_records(data: bytes, stop_after: int) -> int:
    """How many records (log records or spans) an OTLP export request holds, read from the wire
    without decoding it or copying it: resource_* (field 1) > scope_* (field 2) > records
    (field 2). Stops counting past `stop_after`. Raises WireError for what is not protobuf."""
    total = 0
    for number, start, end in _length_delimited(data, 0, len(data)):
        if number != 1:
            continue
        for inner, scope_start, scope_end in _length_delimited(data, start, end):
            if inner != 2:
                continue
            for field_number, _, _ in _length_delimited(data, scope_start, scope_end):
                total += field_number == 2
                if total > stop_after:
                    return total
    return total
