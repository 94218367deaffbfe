"""Export a model as one standalone PyTorch file: a readable ``nn.Module`` class and a factory function.

The file imports only torch. Submodules are nested under the node names (stages and blocks are plain
``nn.Module`` containers), so its ``state_dict`` keys equal SkipLab's (``stage1.block0.conv1.weight``)
and a SkipLab checkpoint loads into it unchanged. ``forward`` has one line per node with a shape comment;
skips read as Python (``x = out + shortcut``, see `engine.export.forward`). Every op is written by its emitter
(`engine.export.emitters`).
"""

from __future__ import annotations

import ast
import heapq
import inspect
import keyword
import re

from engine.analysis import analyze
from engine.arch import SpecLike, expand, load_spec
from engine.build import INIT_SCHEMES, build, class_name
from engine.core.text import fmt_shape
from engine.export.codecheck import GeneratedCodeError, attr_path, check_module, comment, literal
from engine.export.emitters import NO_EMITTER, Emitter, ExportError, all_emitters, emitter_for, resolve_helper
from engine.export.forward import TAKEN, forward_lines
from engine.ir.graph import INPUT, Graph, Node, infer_shapes
from engine.ir.ops import Shape, get_op
from engine.spec import dumps


def export_python(spec: SpecLike | Graph) -> str:
    """The source of one standalone .py file defining the model of `spec` (a preset, file, dict, spec or Graph)."""
    if isinstance(spec, Graph):
        return _Writer(spec, None).write()
    parsed = load_spec(spec)
    return _Writer(expand(parsed), dumps(parsed, "yaml")).write()


def factory_name(graph: Graph) -> str:
    """``build_<name>``: the exported file's factory function."""
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", graph.name or graph.family or "model").strip("_").lower() or "model"
    return f"build_{stem}"


def model_class_name(graph: Graph) -> str:
    name = class_name(graph)
    if not name.isidentifier() or keyword.iskeyword(name):
        name = "Net" + re.sub(r"\W", "", name)
    helpers = {h.rpartition(":")[2] if isinstance(h, str) else getattr(h, "__name__", "")
               for e in all_emitters() for h in e.helpers}
    if name in TAKEN or name in helpers:
        name += "Model"
    return name


def reading_order(graph: Graph) -> list[Node]:
    """A topological order that keeps the graph's insertion order wherever it can (a block's branch, then
    its shortcut), for `forward`. Modules are still created in `Graph.topo_order`, as `engine.build` does,
    so parameters are created (and drawn from the RNG) in the same order and state_dict keys line up."""
    index = {name: i for i, name in enumerate(graph.nodes)}
    indegree = {name: len(node.inputs) for name, node in graph.nodes.items()}
    users: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for src in node.inputs:
            users[src].append(node.name)
    ready = [(index[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        _, name = heapq.heappop(ready)
        if name != INPUT:
            order.append(graph.nodes[name])
        for user in users[name]:
            indegree[user] -= 1
            if indegree[user] == 0:
                heapq.heappush(ready, (index[user], user))
    return order


class _Writer:
    def __init__(self, graph: Graph, spec_yaml: str | None) -> None:
        self.g = graph
        self.spec_yaml = spec_yaml
        self.shapes = infer_shapes(graph)
        self.nodes = graph.compute_nodes()
        self.emitters = self._emitters()
        self.cls = model_class_name(graph)

    def _emitters(self) -> dict[str, Emitter]:
        found: dict[str, Emitter] = {}
        missing: dict[str, str] = {}
        for node in self.nodes:
            op = get_op(node.op)
            try:
                found[node.name] = emitter_for(node.name, op, self._ins(node), node.args)
            except ExportError:
                missing.setdefault(node.op, node.name)
        if missing:
            listed = ", ".join(f"op {op!r} (node {node!r})" for op, node in missing.items())
            raise ExportError(f"cannot write this model as PyTorch source: no code emitter for {listed}; " + NO_EMITTER)
        return found

    def _ins(self, node: Node) -> list[Shape]:
        return [self.shapes[s] for s in node.inputs]

    def _shape(self, name: str) -> str:
        return "[N, " + fmt_shape(self.shapes[name])[1:]

    # ---- the file ------------------------------------------------------------------------------------------

    def write(self) -> str:
        helpers = self._helpers()
        try:
            body = [inspect.getsource(h).rstrip() + "\n" for h in helpers]  # type: ignore[arg-type]
            body += [self._class(), self._factory(), self._main()]
            parts = [self._header(), self._imports(body) + "\n\n" + self._constants(), *body]
            source = "\n\n\n".join(p.rstrip("\n") for p in parts if p) + "\n"
            # Only what the exporter means to write: an allow-list walk over the parsed module (codecheck).
            check_module(source, helpers, self.cls, factory_name(self.g))
        except SyntaxError as exc:  # an emitter wrote bad text: say which line
            raise ExportError(f"the generated source does not compile (an emitter bug): {exc}") from exc
        except GeneratedCodeError as exc:
            raise ExportError(f"cannot write this model as PyTorch source: {exc}") from exc
        return source

    def _header(self) -> str:
        a = analyze(self.g)
        kind = "token ids" if self.g.input_kind == "tokens" else "float"
        lines = [
            f'"""{self.cls}: exported by SkipLab as plain PyTorch (this file needs only torch).',  # cls: an identifier
            "",
            f"Input {fmt_shape(self.g.input_shape)} ({kind}, batch dimension N first) -> output "
            f"{fmt_shape(a.output_shape)}; {a.params:,} parameters.",
            f"Parameter names equal SkipLab's (e.g. {self._example_key()}), so a SkipLab state_dict loads as is:",
            f"    model = {factory_name(self.g)}(); model.load_state_dict(torch.load(path, weights_only=True))",
            '"""',
        ]
        if self.spec_yaml:
            lines += ["", "# The SkipLab spec this file was generated from:"]
            lines += [f"#   {comment(line)}".rstrip() for line in self.spec_yaml.rstrip().splitlines()]
        return "\n".join(lines)

    @staticmethod
    def _imports(body: list[str]) -> str:
        """torch and nn always; math, typing and F (torch.nn.functional) when the code uses them."""
        used = {n.id for n in ast.walk(ast.parse("\n\n".join(body))) if isinstance(n, ast.Name)}
        lines = [f"import {m}" for m in ("math", "typing") if m in used]
        lines += [""] if lines else []
        lines += ["import torch", "from torch import nn"]
        if "F" in used:
            lines.append("from torch.nn import functional as F")
        return "\n".join(lines)

    def _example_key(self) -> str:
        keys = [k for k, _ in build(self.g, "meta").named_parameters()]
        return next((k for k in keys if k.count(".") >= 3), keys[0] if keys else "no parameters")

    def _constants(self) -> str:
        text = f"INPUT_SHAPE = {tuple(self.g.input_shape)!r}  # without the batch dimension"
        if self.g.input_kind == "tokens":
            text += f"\nVOCAB = {int(self.g.nodes[INPUT].meta.get('vocab', 2))}  # token ids are in [0, VOCAB)"
        return text

    def _helpers(self) -> list[object]:
        seen: dict[object, None] = {}
        for node in self.nodes:
            for helper in self.emitters[node.name].helpers:
                seen.setdefault(resolve_helper(helper), None)
        init = INIT_SCHEMES.get(self.g.init)
        if init is not None:
            seen.setdefault(init, None)
        return list(seen)

    def _class(self) -> str:
        a = analyze(self.g)
        lines = [
            f"class {self.cls}(nn.Module):",
            "    " + literal(f"{self.g.name or self.g.family or 'model'}: {a.depth} weighted layers, "
                        f"{a.params:,} parameters."),
            "",
            "    def __init__(self) -> None:",
            "        super().__init__()",
            "        # Stages and blocks are plain nn.Module containers: they only name their layers.",
            *self._init_body(),
        ]
        reset = self._reset_body()
        if reset:
            lines += ["        self.reset_parameters()", "", "    def reset_parameters(self) -> None:",
                      f'        """SkipLab\'s {self.g.init!r} initialisation."""', *reset]
        lines += ["", f"    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: {self._shape(INPUT)}",
                  *forward_lines(self.g, reading_order(self.g), self.emitters, self._shape)]
        return "\n".join(lines)

    def _init_body(self) -> list[str]:
        lines: list[str] = []
        made: set[str] = set()
        for node in self.nodes:
            emitter = self.emitters[node.name]
            if emitter.module is None:
                continue
            parts = node.name.split(".")
            for depth in range(1, len(parts)):
                prefix = ".".join(parts[:depth])
                if prefix not in made:
                    made.add(prefix)
                    lines.append(f"        self.{attr_path(prefix)} = nn.Module()")
            lines.append(f"        self.{attr_path(node.name)} = {emitter.module(self._ins(node), node.args)}")
        return lines

    def _reset_body(self) -> list[str]:
        lines: list[str] = []
        init = INIT_SCHEMES.get(self.g.init)
        if init is not None:
            lines.append(f"        self.apply({init.__name__})")
        zeroed = [n.name for n in self.nodes if n.meta.get("zero_init")]
        if zeroed:
            # zero_init_residual (Goyal et al. 2017): each residual branch starts as the identity.
            lines.append("        with torch.no_grad():  # zero the last layer of each residual branch")
            lines += [f"            self.{attr_path(name)}.weight.zero_()" for name in zeroed]
        return lines

    def _factory(self) -> str:
        return "\n".join([
            f"def {factory_name(self.g)}() -> {self.cls}:",
            f'    """A fresh {self.cls}. Call torch.manual_seed(...) first for reproducible weights."""',
            f"    return {self.cls}()",
        ])

    def _main(self) -> str:
        if self.g.input_kind == "tokens":
            example = "torch.randint(0, VOCAB, (2, *INPUT_SHAPE))"
        else:
            example = "torch.randn(2, *INPUT_SHAPE)"
        return "\n".join([
            'if __name__ == "__main__":',
            f"    model = {factory_name(self.g)}().eval()",
            "    with torch.no_grad():",
            f"        y = model({example})",
            '    params = sum(p.numel() for p in model.parameters())',
            f'    print({literal(self.cls + ":")}, params, "parameters; output", tuple(y.shape))',
        ])
