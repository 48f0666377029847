"""Repair a protobuf body that protobuf refuses as a whole, so that one bad record loses no other.

protobuf refuses a whole message when one `string` field is not valid UTF-8 (a client that
cut a string in the middle of a character, a log line in Latin-1). OTLP clients then drop
the whole batch on the 400. Walking the wire format with the message's descriptor, such a
string is re-encoded with U+FFFD for the bad bytes and everything else is copied as it is.
protobuf (upb) also refuses a message nested more than 100 messages deep, which an attribute
map nested ~32 levels is: such a value is replaced by its JSON text, as decoding does past
the nesting limit anyway.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

MAX_NESTING = 64  # deeper than any OTLP message of ours needs once AnyValues are cut at the limit
ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"


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


@dataclass
class Repairs:
    """What repair() changed: strings that were not UTF-8, values nested too deeply."""

    strings: int = 0
    deep: int = 0


def repair(descriptor: Descriptor, data: bytes, nesting: int, deep_text: Callable[[Any], str]) -> tuple[bytes, Repairs]:
    """`data` (a serialized message of `descriptor`) with every string field made valid UTF-8,
    and every AnyValue map or array nested deeper than `nesting` AnyValues replaced by a string,
    `deep_text` of its content (protobuf refuses a message nested ~32 maps deep as a whole).
    Raises WireError for what is not protobuf."""
    repairs = Repairs()
    return _repair(descriptor, data, nesting, deep_text, repairs, 0, 0), repairs


def _repair(
    descriptor: Descriptor,
    data: bytes,
    nesting: int,
    deep_text: Callable[[Any], str],
    repairs: Repairs,
    depth: int,
    any_depth: int,
) -> bytes:
    if depth > MAX_NESTING:
        raise WireError("nested too deeply")
    if descriptor.full_name == ANY_VALUE:
        any_depth += 1
        if any_depth > nesting and any(number in (5, 6) for number, _, _ in _length_delimited(data, 0, len(data))):
            repairs.deep += 1
            text = deep_text(any_value(data)).encode("utf-8", errors="replace")
            return _encode_varint(1 << 3 | 2) + _encode_varint(len(text)) + text  # string_value
    out = bytearray()
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
                        repairs.strings += 1
                else:
                    payload = _repair(field.message_type, payload, nesting, deep_text, repairs, depth + 1, any_depth)
                out += data[pos:value_at] + _encode_varint(len(payload)) + payload
                pos = end
                continue
        else:
            raise WireError(f"wire type {wire_type}")
        if end > len(data):
            raise WireError("truncated field")
        out += data[pos:end]
        pos = end
    return bytes(out)


def any_value(data: bytes, depth: int = 0) -> Any:
    """A serialized AnyValue as plain Python data, read from the wire whatever its depth (past
    MAX_NESTING levels, None)."""
    if depth > MAX_NESTING:
        return None
    value: Any = None
    pos = 0
    while pos < len(data):
        key, at = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            raw, pos = _varint(data, at)
            value = bool(raw) if number == 2 else (raw - (1 << 64) if raw >= 1 << 63 else raw)
        elif wire_type == 1:
            pos = at + 8
            if number == 4 and pos <= len(data):
                value = struct.unpack_from("<d", data, at)[0]
        elif wire_type == 2:
            length, start = _varint(data, at)
            pos = start + length
            payload = data[start:pos]
            if number == 1:
                value = payload.decode("utf-8", errors="replace")
            elif number == 5:
                items = _length_delimited(payload, 0, len(payload))
                value = [any_value(payload[s:e], depth + 1) for n, s, e in items if n == 1]
            elif number == 6:
                items = _length_delimited(payload, 0, len(payload))
                value = dict(_key_value(payload[s:e], depth + 1) for n, s, e in items if n == 1)
            elif number == 7:
                value = payload.hex()
        elif wire_type == 5:
            pos = at + 4
        else:
            raise WireError(f"wire type {wire_type}")
        if pos > len(data):
            raise WireError("truncated field")
    return value


def _key_value(data: bytes, depth: int) -> tuple[str, Any]:
    key, value = "", None
    for number, start, end in _length_delimited(data, 0, len(data)):
        if number == 1:
            key = data[start:end].decode("utf-8", errors="replace")
        elif number == 2:
            value = any_value(data[start:end], depth)
    return key, value


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
