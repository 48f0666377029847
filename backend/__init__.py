"""hlog's backend: the ClickHouse store, OTLP ingest, the HTTP API and the `hlog` CLI."""

from __future__ import annotations

__version__ = "0.1.0"
