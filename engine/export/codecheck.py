"""User text in generated source, and the check that a generated module holds only what the exporter writes.

User strings (spec names, node names, labels, the spec's YAML) reach an exported ``.py`` in three ways and
each has one function here: `literal` (a string constant, always ``repr``), `comment` (a comment line, every
non-printable character escaped so no line break, form feed or bidi control can end the comment) and
`attr_path` (a dotted attribute path, each part checked as a plain ASCII identifier).

`check_module` then parses the whole file and walks it against an allow-list: a docstring, imports of
torch / math / typing only, the two constants, the helper classes and functions copied from SkipLab's own
source (compared node for node with that source), exactly one model class, one factory and the ``__main__``
demo; in generated code only the names, calls and statement kinds the emitters write, and no dunder access.
A name that closes a docstring or smuggles a newline therefore cannot add a statement: the file would fail
this check (an `ExportError`) before anyone could import it.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import re
from collections.abc import Iterable

from engine.core.errors import SkipLabError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
IMPORTS = {"torch", "math", "typing", "torch.nn", "torch.nn.functional"}
MODULE_NAMES = {"torch", "nn", "F", "math", "typing"}
CONSTANTS = {"INPUT_SHAPE", "VOCAB"}
BUILTINS = {"super", "sum", "tuple", "print", "len", "range", "int", "float", "min", "max", "list", "isinstance"}
# Names and attributes that turn text into code or load code (pickles, hub, TorchScript); never written by an
# emitter. Reading any other undefined name is refused too (the ``bound`` check below).
FORBIDDEN_NAMES = {"eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals", "vars", "open",
                   "input", "breakpoint", "importlib", "os", "sys", "subprocess", "builtins", "pickle"}
FORBIDDEN_ATTRS = {"load", "hub", "jit", "package", "ops", "library", "classes", "compile", "system", "popen",
                   "import_module", "run_path", "exec", "from_file", "load_library", "utils", "serialization",
                   "cpp_extension", "load_inline", "fx", "distributed", "multiprocessing"}
# Statement and expression kinds the class, factory and demo may contain.
ALLOWED_NODES = (
    ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.Return, ast.Expr, ast.Call, ast.Attribute,
    ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.keyword, ast.List, ast.Tuple, ast.With, ast.withitem,
    ast.Starred, ast.GeneratorExp, ast.comprehension, ast.Subscript, ast.Slice, ast.Load, ast.Store,
    ast.operator, ast.unaryop,
)


class GeneratedCodeError(SkipLabError, ValueError):
    """The generated source holds something the exporter does not write (an emitter bug or injected text)."""


def literal(text: str) -> str:
    """A string constant for `text`: ``repr`` always, so quotes and newlines stay inside the literal."""
    return repr(str(text))


def comment(text: str) -> str:
    """`text` for the body of a ``#`` comment: every non-printable character (newlines, carriage returns, form
    feeds, Unicode line separators, bidi controls) written as its escape, so the comment ends where we end it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def attr_path(name: str) -> str:
    """A node name as an attribute path (``stage1.block0.conv1``); each part must be a plain ASCII identifier."""
    parts = str(name).split(".")
    for part in parts:
        if not _IDENT.fullmatch(part) or keyword.iskeyword(part) or part.startswith("__"):
            raise GeneratedCodeError(
                f"node {comment(name)[:80]!r} cannot be written as Python: each dot-separated part of a node name "
                "must be an ASCII identifier (letters, digits, _); rename the node")
    return ".".join(parts)


def check_module(source: str, helpers: Iterable[object], class_name: str, factory: str) -> None:
    """Raise GeneratedCodeError unless `source` is exactly: docstring, allowed imports, constants, `helpers`
    (SkipLab's own source, unchanged), one class `class_name`, one function `factory`, the ``__main__`` demo."""
    tree = ast.parse(source)
    helper_dumps = {_dump_source(h): getattr(h, "__name__", "") for h in helpers}
    body = list(tree.body)
    if not body or not _is_docstring(body[0]):
        raise GeneratedCodeError("the generated module must start with its docstring")
    seen_class = seen_factory = seen_main = False
    local_names = set(helper_dumps.values()) | {class_name, factory}
    for stmt in body[1:]:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            _check_import(stmt)
        elif isinstance(stmt, ast.Assign):
            _check_constant(stmt)
        elif isinstance(stmt, ast.ClassDef | ast.FunctionDef) and ast.dump(stmt) in helper_dumps:
            continue  # a helper copied from SkipLab's own source
        elif isinstance(stmt, ast.ClassDef) and stmt.name == class_name and not seen_class:
            seen_class = True
            _check_class(stmt, local_names)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == factory and not seen_factory:
            seen_factory = True
            _check_code([stmt], local_names)
        elif isinstance(stmt, ast.If) and _is_main_guard(stmt) and not seen_main:
            seen_main = True
            _check_code(stmt.body, local_names)
        else:
            raise GeneratedCodeError(f"unexpected statement at line {stmt.lineno}: {type(stmt).__name__}")
    if not (seen_class and seen_factory):
        raise GeneratedCodeError(f"the generated module must define class {class_name} and function {factory}")


def _dump_source(obj: object) -> str:
    return ast.dump(ast.parse(inspect.getsource(obj)).body[0])  # type: ignore[arg-type]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _check_import(stmt: ast.Import | ast.ImportFrom) -> None:
    if isinstance(stmt, ast.Import):
        names = [a.name for a in stmt.names]
    else:
        names = [f"{stmt.module}.{a.name}" for a in stmt.names]
    for name in names:
        if name not in IMPORTS:
            raise GeneratedCodeError(f"line {stmt.lineno}: import of {name!r}; only torch, math and typing")


def _check_constant(stmt: ast.Assign) -> None:
    targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if len(targets) != 1 or targets[0] not in CONSTANTS:
        raise GeneratedCodeError(f"line {stmt.lineno}: unexpected module-level assignment")
    try:
        ast.literal_eval(stmt.value)
    except ValueError:
        raise GeneratedCodeError(f"line {stmt.lineno}: {targets[0]} must be a literal") from None


def _is_main_guard(stmt: ast.If) -> bool:
    test = stmt.test
    return (not stmt.orelse and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _check_class(cls: ast.ClassDef, local_names: set[str]) -> None:
    base_ok = len(cls.bases) == 1 and ast.unparse(cls.bases[0]) == "nn.Module" and not cls.keywords
    if not base_ok or cls.decorator_list:
        raise GeneratedCodeError(f"class {cls.name} must derive from nn.Module only, without decorators")
    for i, stmt in enumerate(cls.body):
        if i == 0 and _is_docstring(stmt):
            continue
        if not isinstance(stmt, ast.FunctionDef):
            raise GeneratedCodeError(f"line {stmt.lineno}: class {cls.name} may hold only methods")
        _check_code([stmt], local_names)


def _check_code(roots: list[ast.stmt], local_names: set[str]) -> None:
    """The allow-list walk over generated code: statement kinds, names and attributes."""
    nodes = [node for root in roots for node in ast.walk(root)]
    bound = set(local_names) | MODULE_NAMES | CONSTANTS | BUILTINS
    for node in nodes:
        if isinstance(node, ast.arg | ast.Name) and isinstance(getattr(node, "ctx", ast.Store()), ast.Store):
            bound.add(node.arg if isinstance(node, ast.arg) else node.id)
    for node in nodes:
        where = f"line {getattr(node, 'lineno', '?')}"
        if not isinstance(node, ALLOWED_NODES):
            raise GeneratedCodeError(f"{where}: {type(node).__name__} is not something the exporter writes")
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            raise GeneratedCodeError(f"{where}: decorators are not written by the exporter")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name is None:
            continue
        dunder_init = name == "__init__" and isinstance(node, ast.Attribute)  # super().__init__()
        forbidden = FORBIDDEN_NAMES if isinstance(node, ast.Name) else FORBIDDEN_ATTRS
        private = name.startswith("_") and not dunder_init and name not in local_names  # helpers may be _private
        if name in forbidden or private:
            raise GeneratedCodeError(f"{where}: the name {name!r} is not something the exporter writes")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            raise GeneratedCodeError(f"{where}: {node.id!r} is read but never defined in the generated module")
