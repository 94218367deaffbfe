"""Cross-check SkipLab's IR counts against the libraries the field trusts, with every difference explained.

`crosscheck(spec)` builds fresh models from the spec's graph (never a user's model): fvcore
FlopCountAnalysis on a CPU copy in eval mode at batch 1 (its jit tracer cannot run meta-device convs),
FlopCounterMode (forward, and forward + backward) and torchinfo on a meta-device copy (no memory, no
arithmetic). Each tool's per-module counts are compared node by node with what `engine.analysis.toolrules`
predicts from our own per-node numbers, so a row reads like ``fvcore = MACs 4,089,184,256 + BN (eval)
2/element 22,227,968 + adaptive avgpool 1/input element 100,352``. A difference no rule explains is
reported as ``unexplained`` with the nodes where it arises, never hidden.

`measure_saved_bytes(model, x)` measures what autograd keeps for backward (to check the analysis).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from engine.analysis import Analysis, NodeRow, analyze
from engine.analysis.toolrules import MACS, Part, flop_counter_parts, fvcore_parts, torchinfo_parts
from engine.build import build, example_input
from engine.core.errors import SkipLabError, SpecError
from engine.ir.graph import INPUT, Graph
from engine.ir.ops import get_op

log = logging.getLogger(__name__)
TOOLS = ("fvcore", "flop_counter", "torchinfo")
TOP = "(top-level functions)"  # ops called outside any submodule (residual adds, concatenations)
COUNTS = {
    "fvcore": "conv/linear/matmul multiply-accumulates (1 per MAC) + BN, other norms, adaptive pooling and "
              "upsampling per element; skips max/avg pooling, adds, pads, activations",
    "flop_counter": "2 FLOPs per MAC of convolution, mm/addmm/bmm and attention only",
    "flop_counter_train": "forward + backward: 2 FLOPs per MAC of the forward and of the gradient products "
                          "(conv dX only where the input needs a gradient, dW), nothing element-wise",
    "torchinfo": "mult-adds: conv classes count every parameter (bias too) once per output position, other "
                 "layers their parameters once per sample; parameter-free ops count 0",
    "torchinfo_params": "parameters of all leaf modules",
}


@dataclass
class Term:
    label: str
    value: int
    nodes: int


@dataclass
class Mismatch:
    node: str
    tool: int
    ours: int


@dataclass
class Skipped:
    op: str  # the aten op the tool skipped or warned about
    calls: int
    nodes: list[str]
    our_flops: int  # what SkipLab counts (forward FLOPs) for those nodes


@dataclass
class ToolRow:
    tool: str  # fvcore | flop_counter | flop_counter_train | torchinfo | torchinfo_params
    total: int | None  # None when the tool failed
    counts: str  # what the tool counts, in a sentence
    predicted: int  # the sum of `terms`, from our IR
    residual: int  # total - predicted: the unexplained part (0 when explained)
    explained: bool
    reconciliation: str
    terms: list[Term] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    seconds: float = 0.0  # this tool's run; flop_counter_train's one forward + backward pass includes the forward
    error: str = ""
    ours: str = ""  # for FLOP-convention tools: our FLOPs = the tool + the element-wise work, by op


@dataclass
class CrossCheck:
    name: str
    params: int
    macs: int
    flops: int
    backward_flops: int
    rows: list[ToolRow]
    seconds: float

    @property
    def explained(self) -> bool:
        return all(r.explained for r in self.rows)

    def row(self, tool: str) -> ToolRow:
        return next(r for r in self.rows if r.tool == tool)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["explained"] = self.explained
        return out


def crosscheck(spec_or_graph: Any, tools: tuple[str, ...] = TOOLS) -> CrossCheck:
    """Run the counting libraries on fresh models built from the spec (or graph) and reconcile them with
    our batch-1 analysis. `tools` picks among fvcore, flop_counter, torchinfo."""
    from engine.arch import expand

    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise SpecError("tools", f"unknown cross-check tool {unknown[0]!r}; valid: {', '.join(TOOLS)}")
    start = time.perf_counter()
    graph = spec_or_graph if isinstance(spec_or_graph, Graph) else expand(spec_or_graph)
    a = analyze(graph)
    rows: list[ToolRow] = []
    # Eval mode: the counts do not depend on it, and BatchNorm refuses a batch of one in training mode.
    meta = build(graph, "meta").eval() if {"flop_counter", "torchinfo"} & set(tools) else None
    if "fvcore" in tools:
        rows.append(_guard("fvcore", lambda: _fvcore(graph, a)))
    if "flop_counter" in tools:
        rows.extend(_guard_many(("flop_counter", "flop_counter_train"), lambda: _flop_counter(graph, a, meta)))
    if "torchinfo" in tools:
        rows.extend(_guard_many(("torchinfo", "torchinfo_params"), lambda: _torchinfo(graph, a, meta)))
    return CrossCheck(a.name, a.params, a.macs, a.flops, a.backward_flops, rows, time.perf_counter() - start)


def measure_saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd saves for backward during one forward of `model` on `x`, each storage once
    (by data pointer); parameters and buffers are excluded (they are the model, not activations)."""
    state = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in state:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


# ---- the tools -----------------------------------------------------------------------------------------


def _counting_model(graph: Graph) -> nn.Module:
    """A CPU model for tools that must compute (fvcore traces a real forward). No value changes a count,
    so every weight is a view of one shared zero buffer (no init, ~1 layer of memory, cache-resident
    weights: resnet152 allocates 9 MB instead of 240 MB) and BN variances view a buffer of ones."""
    model = build(graph, "meta")
    tensors = [*model.parameters(), *model.buffers()]
    size = max((t.numel() for t in tensors), default=1)
    zeros, ones = torch.zeros(size), torch.ones(size)
    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None:
                module._parameters[name] = nn.Parameter(zeros[: p.numel()].view(p.shape), requires_grad=False)
        for name, b in module._buffers.items():
            if b is not None:
                source = ones if name == "running_var" else zeros
                module._buffers[name] = (source[: b.numel()].view(b.shape) if b.is_floating_point()
                                         else torch.zeros(b.shape, dtype=b.dtype))
    return model.eval()


def _fvcore(graph: Graph, a: Analysis) -> ToolRow:
    from fvcore.nn import FlopCountAnalysis

    t0 = time.perf_counter()
    model = _counting_model(graph)
    x = example_input(graph, 1)
    with _quiet(), _one_thread():
        fa = FlopCountAnalysis(model, x)
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        fa.tracer_warnings("none")
        total = int(fa.total())
        by_module = fa.by_module()
        skipped_all = Counter(fa.unsupported_ops())
        per_node_skips = {r.name: Counter(fa.unsupported_ops(r.name)) for r in a.nodes if r.name in by_module}
    modules = dict(model.named_modules())
    shapes = _shapes(graph, a)
    parts = {r.name: fvcore_parts(r, [shapes[s] for s in r.inputs], graph.nodes[r.name].args) for r in a.nodes}
    tool = {r.name: int(by_module[r.name]) for r in a.nodes if r.name in modules}
    skipped = _fvcore_skips(a, per_node_skips, skipped_all)
    return _reconcile("fvcore", total, a, parts, tool, skipped, time.perf_counter() - t0)


def _fvcore_skips(a: Analysis, per_node: dict[str, Counter], all_ops: Counter) -> list[Skipped]:
    """fvcore's skipped ops, each with the nodes it happened in and the element-wise FLOPs we count there
    (a node's FLOPs beyond 2 per MAC, once per node)."""
    out: dict[str, Skipped] = {}
    top = Counter(all_ops)
    seen: set[str] = set()

    def note(op: str, calls: int, r: NodeRow) -> None:
        s = out.setdefault(op, Skipped(op, 0, [], 0))
        s.calls += calls
        s.nodes.append(r.name)
        if r.name not in seen:
            seen.add(r.name)
            s.our_flops += r.flops - 2 * r.macs
        top[op] -= calls

    rows = {r.name: r for r in a.nodes}
    for name, ops in per_node.items():
        for op, calls in ops.items():
            note(op, calls, rows[name])
    for r in a.nodes:  # top-level skips: attribute them to our function nodes by the aten ops they emit
        for op, per in get_op(r.op).fvcore_aten.items():
            calls = min(top.get(op, 0), len(r.inputs) - 1 if per < 0 else per)
            if calls > 0:
                note(op, calls, r)
    for op, calls in top.items():
        if calls > 0:
            out.setdefault(op, Skipped(op, 0, [], 0)).calls += calls
    return list(out.values())


def _flop_counter(graph: Graph, a: Analysis, meta: nn.Module) -> list[ToolRow]:
    from torch.utils.flop_counter import FlopCounterMode

    t0 = time.perf_counter()
    x = example_input(graph, 1, device="meta")
    root = type(meta).__name__
    with FlopCounterMode(display=False, depth=None) as fc:
        y = meta(x)
        forward_total = fc.get_total_flops()
        forward = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
        t_forward = time.perf_counter() - t0
        y.float().sum().backward()
    train_total = fc.get_total_flops()
    train = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
    t_train = time.perf_counter() - t0
    modules = dict(meta.named_modules())
    shapes = _shapes(graph, a)
    rows = []
    for key, total, counts, secs, backward in (("flop_counter", forward_total, forward, t_forward, False),
                                               ("flop_counter_train", train_total, train, t_train, True)):
        parts = {r.name: flop_counter_parts(r, [shapes[s] for s in r.inputs], graph.nodes[r.name].args, backward)
                 for r in a.nodes}
        # Per module for the forward only: the module tracker attributes backward ops to whichever modules'
        # backward hooks are active (a branch conv's dW lands on the shortcut), so the train row is
        # reconciled on its total.
        tool = {} if backward else {r.name: int(counts.get(f"{root}.{r.name}", 0))
                                    for r in a.nodes if r.name in modules}
        rows.append(_reconcile(key, int(total), a, parts, tool, [], secs))
    return rows


def _torchinfo(graph: Graph, a: Analysis, meta: nn.Module) -> list[ToolRow]:
    import torchinfo

    t0 = time.perf_counter()
    x = example_input(graph, 1, device="meta")
    with _quiet():
        s = torchinfo.summary(meta, input_data=[x], device="meta", verbose=0)
    names = {id(m): n for n, m in meta.named_modules()}
    macs: dict[str, int] = {}
    params: dict[str, int] = {}
    for layer in s.summary_list:
        name = names.get(id(layer.module))
        if name in graph.nodes:
            macs[name] = macs.get(name, 0) + int(layer.macs)
            params[name] = int(layer.num_params)
    secs = time.perf_counter() - t0
    shapes = _shapes(graph, a)
    parts = {r.name: torchinfo_parts(r, [shapes[s] for s in r.inputs], graph.nodes[r.name].args) for r in a.nodes}
    param_parts = {r.name: [Part("parameters", r.params)] if r.params else [] for r in a.nodes}
    return [_reconcile("torchinfo", int(s.total_mult_adds), a, parts, macs, [], secs),
            _reconcile("torchinfo_params", int(s.total_params), a, param_parts, params, [], 0.0)]


# ---- reconciliation ------------------------------------------------------------------------------------


def _reconcile(tool: str, total: int, a: Analysis, parts: dict[str, list[Part]], per_node: dict[str, int],
               skipped: list[Skipped], seconds: float) -> ToolRow:
    """Sum the predicted parts into labelled terms and compare with the tool, node by node where the tool
    reports per module, and for the top-level functions together."""
    terms: dict[str, Term] = {}
    for node_parts in parts.values():
        for p in node_parts:
            t = terms.setdefault(p.label, Term(p.label, 0, 0))
            t.value += p.value
            t.nodes += 1
    terms = dict(sorted(terms.items(), key=lambda kv: kv[0] != MACS))  # MACs first, then as they came
    predicted = sum(t.value for t in terms.values())
    mismatches = [Mismatch(n, v, sum(p.value for p in parts[n])) for n, v in per_node.items()
                  if v != sum(p.value for p in parts[n])]
    top_ours = sum(sum(p.value for p in parts[r.name]) for r in a.nodes if r.name not in per_node)
    top_tool = total - sum(per_node.values())
    if per_node and top_tool != top_ours:
        mismatches.append(Mismatch(TOP, top_tool, top_ours))
    residual = total - predicted
    text = " + ".join(f"{t.label} {t.value:,}" for t in terms.values() if t.value) or "0"
    text = f"{tool} = {text}".replace("+ -", "- ")
    if residual:
        text += f" + unexplained {residual:,}"
        where = ", ".join(m.node for m in mismatches[:5])
        log.warning("%s differs from SkipLab by %s, unexplained (at %s)", tool, f"{residual:,}", where)
    return ToolRow(tool, total, COUNTS[tool], predicted, residual, residual == 0 and not mismatches, text,
                   [t for t in terms.values() if t.value], skipped, mismatches, round(seconds, 4),
                   ours=_ours(tool, total, a))


def _ours(tool: str, total: int, a: Analysis) -> str:
    """For the FLOP-convention tools: our FLOPs = the tool + the element-wise work it leaves out, by op."""
    if tool not in ("flop_counter", "flop_counter_train"):
        return ""
    train = tool == "flop_counter_train"
    extra: dict[str, int] = {}
    for r in a.nodes:
        value = r.flops - 2 * r.macs + ((r.backward_flops - 2 * r.backward_macs) if train else 0)
        if value:
            extra[r.op] = extra.get(r.op, 0) + value
    ours = a.flops + a.backward_flops if train else a.flops
    what = "forward + backward FLOPs" if train else "forward FLOPs"
    parts = ", ".join(f"{op} {v:,}" for op, v in sorted(extra.items(), key=lambda kv: -kv[1]))
    return f"SkipLab {what} {ours:,} = {tool} {total:,} + element-wise {ours - total:,} ({parts or 'none'})"


def _guard(tool: str, fn: Any) -> ToolRow:
    return _guard_many((tool,), lambda: [fn()])[0]


def _guard_many(tools: tuple[str, ...], fn: Any) -> list[ToolRow]:
    """A tool that is missing or fails gives a row with its error, never an exception."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - any library failure is reported in the row
        log.warning("%s failed: %s", tools[0], exc)
        msg = f"{exc.__class__.__name__}: {exc}"
        return [ToolRow(t, None, COUNTS[t], 0, 0, False, f"{t}: failed ({msg})", error=msg) for t in tools]


def _in_child(spec_data: dict[str, Any], tools: tuple[str, ...]) -> tuple[CrossCheck | None, str]:
    """The child's side of `crosscheck_isolated`: a CrossCheck, or the message of the error it raised."""
    from engine.arch import parse

    try:
        return crosscheck(parse(spec_data), tools), ""
    except SkipLabError as exc:
        return None, str(exc)


def crosscheck_isolated(spec_data: dict[str, Any], tools: tuple[str, ...] = TOOLS) -> CrossCheck:
    """`crosscheck` in a child process. The libraries are run with one torch thread, their loggers and
    warnings silenced: process-wide state that a server shared by many sessions must not change (another
    session's training or page would see it). Costs a process start (about a second more)."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        result, error = pool.submit(_in_child, spec_data, tools).result()
    if result is None:
        raise SpecError("", error)
    return result


def _shapes(graph: Graph, a: Analysis) -> dict[str, list[int]]:
    shapes = {r.name: r.out_shape for r in a.nodes}
    shapes[INPUT] = list(graph.input_shape)
    return shapes


@contextlib.contextmanager
def _one_thread() -> Any:
    """fvcore's traced forward runs on one intra-op thread: the arithmetic is not the point, and on a
    shared 2-core machine a second OpenMP thread that gets descheduled stalls every op (measured: resnet152
    0.8 s on one thread vs 1.7-6.6 s on two under load; about the same when the machine is idle)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the libraries' warnings and log lines (their skips are collected and reported instead)."""
    loggers = [logging.getLogger(n) for n in ("fvcore", "fvcore.nn.jit_analysis", "torchinfo")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)

