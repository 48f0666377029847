"""hlog: self-hosted, terminal-first logging. The parts: hlog.backend (store, ingest, API, the
`hlog` command), hlog.query (the search language), hlog.alerts, hlog.tui (`hlog-tui`), hlog.demo."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hlog")  # one source: pyproject.toml
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
