"""The import contract of DESIGN.md, checked from the source (no imports executed): `python tools/layers.py`.

- Layers: each package of `engine/` may import only the packages below it in `LAYERS` and itself.
- The façade: nothing inside `engine/` imports `engine.api` or the top-level `engine` package, except the CLI.
- No cycles between modules, counting imports inside functions (the ones that hide cycles), not counting
  imports under ``if TYPE_CHECKING:`` (never executed). Importing ``a.b.c`` is an edge to ``a.b.c`` only: the
  parent packages' ``__init__`` files run too, but they are containers, not dependencies.
- The engine is UI-free: no module of `engine/` imports streamlit or plotly.
- The dashboard (`dashboard/`, `pages/`) talks to the engine through its public API only: `engine` and
  `engine.api` (and `engine.<layer>` names listed in `DASHBOARD_ALLOWED`, none today).

Exit status 1 with one line per violation (``file:line: what``), 0 when the tree keeps the contract.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Bottom-up: a layer may import the layers before it (DESIGN.md "Layout").
LAYERS = ["core", "spec", "ir", "arch", "build", "analysis", "data", "store", "export", "train", "lab", "api", "cli"]
FACADE = {"engine", "engine.api"}
UI_PACKAGES = ("streamlit", "plotly")
DASHBOARD_ALLOWED: set[str] = set()


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (resolved to a module of the tree where possible)
    file: Path
    line: int
    type_only: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        guarded = type_only or (isinstance(child, ast.If) and _is_type_checking(child.test))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
            continue
        yield child, guarded
        yield from _walk(child, guarded)


def imports_of(root: Path, path: Path, modules: set[str]) -> list[Import]:
    source = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node, type_only in _walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = source if is_package else source.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            found.append(Import(source, target, path, node.lineno, type_only))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "engine":
        return None
    if len(parts) == 1:
        return "api"  # engine/__init__.py is the façade
    if parts[1] == "__main__":
        return "cli"
    return parts[1] if parts[1] in LAYERS else None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def check(root: Path) -> list[str]:
    """Every violation of the contract in the tree at `root` (a checkout holding engine/, dashboard/, pages/)."""
    files = [p for d in ("engine", "dashboard", "pages") for p in sorted((root / d).rglob("*.py"))
             if "frontend" not in p.parts and "node_modules" not in p.parts]
    modules = {module_name(root, p) for p in files}
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for path in files:
        rel = path.relative_to(root)
        for imp in imports_of(root, path, modules):
            where = f"{rel}:{imp.line}"
            src_layer, dst_layer = layer_of(imp.source), layer_of(imp.target)
            top = imp.target.split(".")[0]
            if imp.source.startswith("engine"):
                if top in UI_PACKAGES:
                    problems.append(f"{where}: engine module {imp.source} imports {imp.target}; the engine is UI-free")
                if dst_layer is not None and imp.target != imp.source:
                    if imp.target in FACADE and src_layer not in ("cli", "api"):
                        problems.append(f"{where}: {imp.source} imports the public façade {imp.target}; import the "
                                        "layer that defines the name instead")
                    elif src_layer is None:
                        problems.append(f"{where}: {imp.source} is in no layer of tools/layers.py LAYERS")
                    elif LAYERS.index(dst_layer) > LAYERS.index(src_layer):
                        problems.append(f"{where}: {imp.source} (layer {src_layer}) imports {imp.target} (layer "
                                        f"{dst_layer}), which sits above it; move the shared code down")
                if imp.target in modules and not imp.type_only and imp.target != imp.source:
                    edges.setdefault(imp.source, set()).add(imp.target)
            elif top == "engine" and imp.target not in FACADE and imp.target not in DASHBOARD_ALLOWED:
                problems.append(f"{where}: {imp.source} imports {imp.target}; the dashboard uses the public API "
                                "(`engine` / `engine.api`)")
    for cycle in _cycles(edges):
        problems.append(f"engine: import cycle between {', '.join(cycle)}; break it by moving the shared code into "
                        "the lower module")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} import-contract violation(s); see DESIGN.md 'Layout'", file=sys.stderr)
        return 1
    print("import contract: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
