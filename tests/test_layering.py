"""The core stays headless and the arrows between packages point one way."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import {imports}
bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden!r}))
print(','.join(bad))
"""


def _loaded(imports: str, forbidden: set[str]) -> str:
    code = CHECK.format(imports=imports, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_core_does_not_import_textual() -> None:
    # (rich is not checked: httpx itself imports it for its own CLI when it is installed)
    imports = (
        "hlog.query, hlog.backend, hlog.alerts, hlog_sdk, hlog.demo.run, hlog.backend.cli, "
        "hlog.backend.cli_commands, hlog.backend.app, hlog.backend.client"
    )
    assert _loaded(imports, {"textual", "hlog.tui"}) == ""


def test_query_imports_nothing_of_ours() -> None:
    assert _loaded("hlog.query, hlog.query.compiler", {"hlog.backend", "hlog.alerts", "hlog.tui"}) == ""


def test_the_sdk_imports_nothing_of_the_product() -> None:
    assert (
        _loaded("hlog_sdk, hlog_sdk.middleware, hlog_sdk.propagation", {"hlog", "chdb", "textual", "starlette"}) == ""
    )


def test_nothing_is_imported_by_its_folder_name() -> None:
    """Installed, the parts exist only as hlog.*: a bare `backend` import works in a checkout and nowhere else."""
    loaded = _loaded(
        "hlog.backend.cli, hlog.backend.app, hlog.tui.app, hlog.alerts.service, hlog.demo.run, hlog_sdk",
        {"backend", "query", "alerts", "tui", "sdk", "demo"},
    )
    assert loaded == ""
