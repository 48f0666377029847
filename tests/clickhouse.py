"""A real ClickHouse server (and a sharded cluster of them) run from the chdb-core wheel.

chdb-core contains ClickHouse's clickhouse-local, and its module-level `_chdb.query()` runs
clickhouse-local's main: `SYSTEM START LISTEN HTTP` and `... TCP` open the server's own
handlers, which live while that query runs, so the query ends with a statement that blocks.
clickhouse-local reads `config.xml` from its working directory. It must be the first query of
its process and `import chdb` would start an embedded engine first, so each server is a child
process that loads the extension module by its path.

    python -m tests.clickhouse DIR       start one server in DIR and print its URL (Ctrl+C stops)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_TIMEOUT_SECONDS = 90.0
READER_USER, READER_PASSWORD = "reader", "reader-pw"

# the child: load _chdb without `import chdb`, open the listeners, block until killed
_CHILD = """
import ctypes, importlib.util, sys
so = sys.argv[1]
ctypes.CDLL(so, mode=sys.getdlopenflags() | 8)  # RTLD_DEEPBIND, as chdb itself loads it
spec = importlib.util.spec_from_file_location("_chdb", so)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = module.query(
    "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
    "SELECT sleepEachRow(1) FROM system.numbers LIMIT 1000000000 SETTINGS max_block_size = 1 FORMAT Null",
    "TabSeparated",
    path=sys.argv[2],
)
print(getattr(result, "error_message", lambda: "")() or "the server's query ended", file=sys.stderr)
sys.exit(1)
"""

_CONFIG = """<clickhouse>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{data}/</path>
  <users_config>users.xml</users_config>
  <logger><level>warning</level><console>0</console><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog></logger>
  <background_distributed_schedule_pool_size>4</background_distributed_schedule_pool_size>
  <mark_cache_size>268435456</mark_cache_size>
  <query_log><database>system</database><table>query_log</table></query_log>
</clickhouse>
"""

# clickhouse-local's own defaults differ from a server's: reset them so clients see a stock server
_USERS = f"""<clickhouse>
  <profiles>
    <default>
      <implicit_select>0</implicit_select>
      <log_queries>1</log_queries>
      <allow_introspection_functions>0</allow_introspection_functions>
      <storage_file_read_method>pread</storage_file_read_method>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <access_management>1</access_management>
    </default>
    <{READER_USER}>
      <password>{READER_PASSWORD}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <grants><query>GRANT SELECT ON *.*</query></grants>
    </{READER_USER}>
  </users>
  <quotas><default></default></quotas>
</clickhouse>
"""


def extension_path() -> str:
    """The path of chdb's extension module, found without importing chdb."""
    spec = importlib.util.find_spec("chdb")
    assert spec is not None and spec.submodule_search_locations is not None, "chdb is not installed"
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "_chdb.abi3.so"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("chdb-core's _chdb.abi3.so was not found")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ClickHouseServer:
    """One ClickHouse server in a child process, its files in `directory`."""

    directory: Path
    remote_servers: str = ""  # a <remote_servers> section (a cluster this node knows)
    http_port: int = 0
    tcp_port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def dsn(self, database: str, user: str = "default", password: str = "") -> str:
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user != "default" else "")
        return f"http://{credentials}127.0.0.1:{self.http_port}/{database}"

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "config.xml").write_text(
            _CONFIG.format(
                http_port=self.http_port, tcp_port=self.tcp_port, data=self.directory / "data", dir=self.directory
            )
        )
        (self.directory / "users.xml").write_text(_USERS)
        if self.remote_servers:
            (self.directory / "config.d").mkdir(exist_ok=True)
            (self.directory / "config.d" / "cluster.xml").write_text(
                f"<clickhouse>{self.remote_servers}</clickhouse>\n"
            )

    def start(self, attempts: int = 3) -> ClickHouseServer:
        """Start it and wait until it answers; raises RuntimeError with the server's own words."""
        reason = ""
        for _ in range(attempts):
            self.http_port = self.http_port or free_port()
            self.tcp_port = self.tcp_port or free_port()
            self._write_config()
            output = (self.directory / "stderr.log").open("ab")
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, extension_path(), str(self.directory / "data")],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
            output.close()
            reason = self._wait_ready()
            if not reason:
                return self
            self.stop()
            self.http_port = self.tcp_port = 0  # a port taken meanwhile: try others
        raise RuntimeError(f"the ClickHouse server in {self.directory} did not start: {reason}")

    def _wait_ready(self) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}: {self.log_tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=2).text.strip() == "Ok.":
                    return ""
            time.sleep(0.05)
        return f"no answer on {self.url} within {READY_TIMEOUT_SECONDS:g} s: {self.log_tail()}"

    def log_tail(self, lines: int = 8) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                text += (self.directory / name).read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"

    def command(self, sql: str) -> str:
        """Run one statement as the default user; its text answer."""
        response = httpx.post(self.url, content=sql.encode(), timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"{sql[:80]}: {response.text[:500]}")
        return response.text

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill()


def cluster_section(name: str, nodes: Sequence[ClickHouseServer], secret: str = "hlog-test-cluster") -> str:
    """A <remote_servers> section: one shard per node (native TCP ports)."""
    shards = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{node.tcp_port}</port></replica></shard>" for node in nodes
    )
    return f"<remote_servers><{name}><secret>{secret}</secret>{shards}</{name}></remote_servers>"


def start_cluster(directory: Path, name: str, count: int) -> list[ClickHouseServer]:
    """`count` servers that each know the cluster `name` of all of them (one shard each)."""
    nodes = [
        ClickHouseServer(directory / f"node{i}", http_port=free_port(), tcp_port=free_port()) for i in range(count)
    ]
    section = cluster_section(name, nodes)
    started: list[ClickHouseServer] = []
    try:
        for node in nodes:
            node.remote_servers = section
            started.append(node.start(attempts=1))
    except BaseException:
        for node in started:
            node.stop()
        raise
    return nodes


@contextlib.contextmanager
def running(directory: Path) -> Iterator[ClickHouseServer]:
    server = ClickHouseServer(directory).start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    with running(Path(sys.argv[1]).resolve()) as srv:
        print(srv.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            srv.proc.wait()  # type: ignore[union-attr]
