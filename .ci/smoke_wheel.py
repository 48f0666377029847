"""Run with the python of a virtualenv that has only the hlog wheel installed: the commands
work and an OTLP round trip through `hlog serve` is found by `hlog search`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

bin_dir = Path(sys.executable).parent
home = tempfile.mkdtemp(prefix="hlog-smoke-")
env = {**os.environ, "XDG_DATA_HOME": home}


def run(*args: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


import hlog  # noqa: E402 (the installed package, not a checkout)

assert "site-packages" in hlog.__file__, hlog.__file__
version = run(str(bin_dir / "hlog"), "--version").strip()
assert version == f"hlog {hlog.__version__}", version
assert run(sys.executable, "-m", "hlog", "--version").strip() == version
assert "usage: hlog-tui" in run(str(bin_dir / "hlog-tui"), "--help")
assert run(str(bin_dir / "hlog-tui"), "--version").strip() == f"hlog-tui {hlog.__version__}"
print(version, "from", hlog.__file__)

serve = subprocess.Popen(
    [str(bin_dir / "hlog"), "serve", "--listen", "127.0.0.1:0", "--store", f"chdb://{home}/store"],
    env=env,
    stderr=subprocess.PIPE,
    text=True,
)
try:
    assert serve.stderr is not None
    url = ""
    for line in serve.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url, "hlog serve did not start"
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "smoke"}}]},
                "scopeLogs": [
                    {"logRecords": [{"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "wheel ok"}}]}
                ],
            }
        ]
    }
    request = urllib.request.Request(
        url + "/v1/logs", json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    count = run(str(bin_dir / "hlog"), "search", '"wheel ok" service_name:smoke', "--count", "--backend", url).strip()
    assert count == "1", count
    print("OTLP round trip through the installed hlog serve: found", count)
finally:
    serve.terminate()
    serve.wait(60)
