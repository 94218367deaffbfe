"""SkipLab as a package: the wheel builds, installs into a fresh virtualenv and runs there (`skiplab summary`,
`skiplab --help`, `skiplab app`), and pyproject.toml declares what requirements*.txt install.

How the install is tested without a network (and without downloading torch again): the wheel is built from a copy
of the sources with this interpreter's setuptools (`pip wheel --no-build-isolation --no-index`); the fresh venv has
no packages of its own, only a `.pth` line naming this environment's site-packages, where the dependencies are
already installed; pip then installs the wheel with every configuration file off and `--no-index`, resolving
each declared dependency against what it finds (it fails if one is missing or of the wrong version). The commands
run from an empty working directory, and the test checks that `engine` and `dashboard` came from the fresh venv,
not the source tree. What it does not test: downloading the dependencies from PyPI (`make setup` does that).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from dashboard.pages_index import PAGES, page_dir
from engine.cli.main import make_parser
from tests.browser_support import free_port

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCES = ("pyproject.toml", "setup.py", "README.md", "engine", "dashboard", "pages")  # all a build may read


def requirement_lines(name: str) -> list[str]:
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-r")]


def test_pyproject_declares_the_requirements_files():
    project = PYPROJECT["project"]
    assert project["dependencies"] == requirement_lines("requirements.txt")
    assert "torch==2.13.0" in project["dependencies"]  # an unpinned torch pulls GBs of CUDA wheels
    assert project["optional-dependencies"]["export"] == requirement_lines("requirements-extras.txt")
    assert project["optional-dependencies"]["dev"] == requirement_lines("requirements-dev.txt")
    assert project["scripts"]["skiplab"] == "engine.cli:main"


def test_help_names_the_dashboard_command(capsys):
    with pytest.raises(SystemExit) as exc:
        make_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+app \(dashboard\)", out, re.M), out


def test_pages_come_from_the_source_tree_here():
    assert page_dir() == ROOT / "pages"
    assert all((page_dir() / f"{p.file}.py").is_file() for p in PAGES)


def _env() -> dict[str, str]:
    """No pip configuration (find-links, extra indexes, constraints), no index: nothing can be downloaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
          str(src)], cwd=tmp)
    (found,) = (tmp / "dist").glob("skiplab-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; its dependencies are this environment's (see the module doc)."""
    home = tmp_path_factory.mktemp("venv")
    env_dir = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=home)
    python = env_dir / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=home)
    import site

    parents = [p for p in dict.fromkeys([*site.getsitepackages(), site.getusersitepackages()]) if Path(p).is_dir()]
    (Path(purelib.stdout.strip()) / "_skiplab_test_deps.pth").write_text("\n".join(parents) + "\n")
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], cwd=home)
    return env_dir


@pytest.mark.slow
def test_wheel_carries_the_dashboard(wheel: Path):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"dashboard/page_scripts/{p.file}.py" for p in PAGES} <= names
    assert {"dashboard/app.py", "dashboard/.streamlit/config.toml", "engine/cli/commands/app.py"} <= names
    assert not any(n.startswith(("tests/", "bench/", "pages/")) for n in names)


@pytest.mark.slow
def test_installed_cli_runs_from_anywhere(venv: Path, tmp_path: Path):
    skiplab = str(venv / "bin" / "skiplab")
    summary = json.loads(_run([skiplab, "summary", "resnet50", "--json"], cwd=tmp_path).stdout)
    assert summary["params"] == 25_557_032 and summary["macs"] == 4_089_184_256  # REFERENCE.md
    help_text = _run([skiplab, "--help"], cwd=tmp_path).stdout
    assert help_text.startswith("usage: skiplab") and "app (dashboard)" in help_text
    bad = subprocess.run([skiplab, "summary", "no_such_net"], cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no_such_net" in bad.stderr
    where = _run([str(venv / "bin" / "python"), "-c", "import engine, dashboard; print(engine.__file__); "
                  "print(dashboard.__file__)"], cwd=tmp_path).stdout.split()
    assert all(Path(w).is_relative_to(venv) for w in where), where


_FIRST_PAGE = """
import json, pathlib, dashboard
from dashboard.pages_index import page_dir
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(str(pathlib.Path(dashboard.__file__).parent / "app.py"), default_timeout=240).run()
print(json.dumps({"exception": [e.value for e in at.exception], "page_dir": str(page_dir()),
                  "metrics": {m.label: m.value for m in at.metric}}))
"""


@pytest.mark.slow
def test_installed_app_serves_its_pages(venv: Path, tmp_path: Path):
    # The first page renders from the installed page scripts, with its numbers ...
    first = json.loads(_run([str(venv / "bin" / "python"), "-c", _FIRST_PAGE], cwd=tmp_path).stdout.splitlines()[-1])
    assert first["exception"] == [] and Path(first["page_dir"]).is_relative_to(venv)
    assert first["metrics"]["Parameters"] == "269,722"  # resnet20, the default (He et al. 2016: 0.27 M)
    # ... and `skiplab app` serves it.
    port = free_port()
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(venv / "bin" / "skiplab"), "app", "--port", str(port), "--store",
                             str(tmp_path / "runs.sqlite")], cwd=tmp_path, env=_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, healthy = time.monotonic() + 120, False
        while time.monotonic() < deadline and proc.poll() is None and not healthy:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
                    healthy = r.status == 200
            except OSError:
                time.sleep(0.3)
        assert healthy, (tmp_path / "app.log").read_text()[-3000:]
        with urllib.request.urlopen(f"http://localhost:{port}/", timeout=10) as r:
            assert r.status == 200 and b"<div id=\"root\">" in r.read()
    finally:
        os.killpg(proc.pid, 15)  # the console script and the Streamlit server it started
        proc.wait(30)
        log.close()


def test_every_bench_runs_from_a_fresh_clone():
    """`python bench/NAME.py` needs no install: each bench puts the repo root on sys.path before it imports the
    project (a top-level import of engine, dashboard or tests after `sys.path.insert(0, str(ROOT))`)."""
    import ast

    for path in sorted((ROOT / "bench").glob("*.py")):
        inserted = False
        for stmt in ast.parse(path.read_text()).body:
            text = ast.unparse(stmt)
            if text.startswith("sys.path.insert(0, str(ROOT))"):
                inserted = True
            names = ([a.name for a in stmt.names] if isinstance(stmt, ast.Import) else
                     [stmt.module or ""] if isinstance(stmt, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("engine", "dashboard", "tests") for n in names):
                assert inserted, f"{path.name}: `{text}` comes before the repo root is on sys.path"


def test_app_command_without_the_dashboard_is_a_clear_error(monkeypatch, capsys):
    import importlib.util

    from engine.cli import main
    from engine.cli.commands import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dashboard" else real(name, *a))
    assert main(["app", "--port", "8599"]) == 2
    err = capsys.readouterr().err
    assert "dashboard package is not installed" in err and "Traceback" not in err
    monkeypatch.undo()
    cmd = app.streamlit_command(app.dashboard_script(), 8599, "localhost")
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == ROOT / "dashboard" / "app.py"
    assert cmd[5:] == ["--server.port", "8599", "--server.address", "localhost"]
