"""What `pip install hlog` and `pip install hlog-sdk` put on a machine: the built wheels' contents."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("backend", "query", "alerts", "tui", "demo")  # repository folders, installed as hlog.<part>


def build_wheel(project: Path, out: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(project)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


@pytest.fixture(scope="module")
def hlog_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return build_wheel(ROOT, tmp_path_factory.mktemp("hlog-wheel"))


@pytest.fixture(scope="module")
def sdk_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return build_wheel(ROOT / "sdk", tmp_path_factory.mktemp("sdk-wheel"))


def metadata(wheel: zipfile.ZipFile, name: str) -> str:
    [path] = [n for n in wheel.namelist() if n.endswith(".dist-info/" + name)]
    return wheel.read(path).decode()


def test_the_hlog_wheel_holds_every_module_under_hlog(hlog_wheel: zipfile.ZipFile) -> None:
    names = set(hlog_wheel.namelist())
    expected = {
        f"hlog/{path.relative_to(ROOT).as_posix()}"
        for part in PARTS
        for path in (ROOT / part).rglob("*")
        if path.suffix in (".py", ".lark", ".tcss") and "__pycache__" not in path.parts
    }
    assert expected - names == set()
    assert {
        "hlog/__init__.py",
        "hlog/__main__.py",
        "hlog/py.typed",
        "hlog/query/grammar.lark",
        "hlog/tui/hlog.tcss",
    } <= names
    assert {"hlog/tui/screens/search.py", "hlog/tui/widgets/log_table.py", "hlog/demo/shop.py"} <= names
    # nothing else at the top of site-packages
    assert {name.split("/")[0] for name in names} == {
        "hlog",
        next(n.split("/")[0] for n in names if ".dist-info/" in n),
    }
    entry_points = metadata(hlog_wheel, "entry_points.txt")
    assert "hlog = hlog.backend.cli:main" in entry_points and "hlog-tui = hlog.tui.app:main" in entry_points


def test_the_sdk_wheel_is_the_sdk_alone(sdk_wheel: zipfile.ZipFile) -> None:
    names = set(sdk_wheel.namelist())
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"hlog_sdk"}
    assert {"hlog_sdk/__init__.py", "hlog_sdk/middleware.py", "hlog_sdk/py.typed"} <= names
    requires = [line for line in metadata(sdk_wheel, "METADATA").splitlines() if line.startswith("Requires-Dist:")]
    runtime = [line for line in requires if "extra ==" not in line]
    assert runtime and all("opentelemetry" in line for line in runtime), runtime
