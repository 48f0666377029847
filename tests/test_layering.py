"""The core stays headless and the arrows between packages point one way."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import {imports}
bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})
print(','.join(bad))
"""


def _loaded(imports: str, forbidden: set[str]) -> str:
    code = CHECK.format(imports=imports, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_core_does_not_import_textual() -> None:
    # (rich is not checked: httpx itself imports it for its own CLI when it is installed)
    imports = (
        "query, backend, alerts, sdk, sdk.demo.run, backend.cli, backend.cli_commands, backend.app, backend.client"
    )
    assert _loaded(imports, {"textual", "tui"}) == ""


def test_query_imports_nothing_of_ours() -> None:
    assert _loaded("query, query.compiler", {"backend", "alerts", "tui"}) == ""
