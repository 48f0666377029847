"""hlog's backend: the ClickHouse store, OTLP ingest, the HTTP API and the `hlog` CLI."""

from __future__ import annotations

from hlog import __version__

__all__ = ["__version__"]
