"""`app` (alias `dashboard`): serve the SkipLab dashboard, from the installed package or a source tree.

Runs `python -m streamlit run <dashboard>/app.py` with this interpreter. The dashboard package is located, not
imported: the engine never imports the UI (DESIGN.md, Layout), and locating it costs no Streamlit start-up here.
The default address is `localhost`, as TensorBoard and Jupyter default to: a classroom server passes
`--address 0.0.0.0` on purpose.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from engine.cli.commands.summary import positive_int
from engine.core.errors import SkipLabError

ORDER = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", aliases=["dashboard"], help="serve the dashboard (http://localhost:8501)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=positive_int, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--address", default="localhost",
                   help="address to listen on (default localhost; 0.0.0.0 to serve other machines)")
    p.add_argument("--store", metavar="PATH", help="run store (default $SKIPLAB_STORE or ~/.skiplab/runs.sqlite)")
    p.set_defaults(func=run)


def dashboard_script() -> Path:
    """The dashboard's entry script, found without importing the dashboard or Streamlit."""
    if importlib.util.find_spec("streamlit") is None:
        raise SkipLabError("the dashboard needs Streamlit, which is not installed here; "
                           "install SkipLab with its dependencies: pip install skiplab")
    spec = importlib.util.find_spec("dashboard")
    origin = Path(spec.origin).parent if spec is not None and spec.origin else None
    if origin is None or not (origin / "app.py").is_file() or not (origin / "pages_index.py").is_file():
        where = f" (found an unrelated `dashboard` at {origin})" if origin else ""
        raise SkipLabError(f"the SkipLab dashboard package is not installed{where}; reinstall SkipLab "
                           "(pip install skiplab) or run from the source tree's root")
    return origin / "app.py"


def streamlit_command(script: Path, port: int, address: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
            "--server.address", address]


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.store:
        env["SKIPLAB_STORE"] = str(Path(args.store).expanduser().resolve())
    proc = subprocess.Popen(streamlit_command(dashboard_script(), args.port, args.address), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached Streamlit too (same process group): let it shut down cleanly
        try:
            return proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.terminate()
            return proc.wait()
