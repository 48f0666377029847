"""The stores a bench compares side by side: options shared by bench/ingest.py and bench/search.py."""

from __future__ import annotations

import argparse


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """--server, --cluster N and --store URL: the stores to run beside the embedded one."""
    parser.add_argument(
        "--server", action="store_true", help="also on a ClickHouse server started here from the chdb-core wheel"
    )
    parser.add_argument("--cluster", type=int, default=0, metavar="N", help="also on a cluster of N such servers")
    parser.add_argument("--store", action="append", default=[], metavar="URL", help="also on this store (a DSN)")


def store_label(dsn: str) -> str:
    """A --store DSN as a column title: without its credentials, short."""
    return dsn.split("@")[-1][:20]
