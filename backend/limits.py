"""What one request, and the backend's work in flight, may cost: defaults, and `hlog serve --limit NAME=VALUE`.

Memory is bounded by these numbers, not by what a request holds (docs/api.md, "Limits").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
_SIZE = re.compile(r"^(\d+)\s*(kib|mib|gib)?$", re.IGNORECASE)
_UNITS = {None: 1, "kib": KIB, "mib": MIB, "gib": 1024 * MIB}


@dataclass(frozen=True)
class Limits:
    """Every limit of ingest, with its default."""

    request_bytes: int = 64 * MIB  # a body, and its decompressed form: 413 past it
    records_per_request: int = 50_000  # counted on the wire before decoding: 413
    json_objects: int = 2_000_000  # an OTLP/JSON body's objects, counted before decoding: 413
    attributes: int = 128  # per record, resource, event or link (the SDKs' default): the rest dropped
    key_chars: int = 256  # attribute keys are cut
    value_chars: int = 64 * KIB  # attribute values are truncated
    body_chars: int = 1 * MIB  # log bodies are truncated
    nesting: int = 16  # deeper maps and arrays are kept as JSON text
    # bodies being read, decompressed, decoded or written: 503 past it (decoding a body takes
    # about 4 times its size in the workers: 128 MiB keeps the backend under 1.5 GiB)
    inflight_bytes: int = 128 * MIB
    # requests being handled at once (read, decoded, written): 503 past it, so overload waits in the
    # clients (Retry-After) rather than here, past the SDKs' 10 s timeout
    active_requests: int = 64

    def overridden(self, items: Sequence[str]) -> Limits:
        """These limits with `NAME=VALUE` overrides (sizes may say KiB, MiB or GiB); ValueError
        naming the known limits for a wrong one."""
        names = [f.name for f in dataclasses.fields(self)]
        changes = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            match = _SIZE.match(raw.strip())
            if not sep or name not in names or not match or int(match.group(1)) < 1:
                raise ValueError(
                    f"--limit {item!r}: expected NAME=VALUE (a positive number); names: {', '.join(names)}"
                )
            changes[name] = int(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None]
        return dataclasses.replace(self, **changes)


DEFAULT_LIMITS = Limits()
