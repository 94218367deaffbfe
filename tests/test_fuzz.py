"""Fuzzing (hypothesis): every input to the spec loader, the Build page's compute function and the CLI
yields a model / analysis or a SpecError / ShapeError naming the field or node: never another exception,
never a hang. Small example counts here; bench/hardening.py runs the same properties at a larger scale."""

from __future__ import annotations

import contextlib
import io
import math
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.build_state import evaluate, skip_endpoints
from engine.arch import loads, parse
from engine.build import build, example_input, param_count
from engine.cli import main
from engine.core.errors import SpecError
from engine.spec import SpecBase
from tests.fuzz_strategies import (
    FAMILY_NAMES,
    NASTY_YAML,
    bounded,
    edits_for,
    family_spec,
    graph_nodes,
    mutated_preset,
    spec_text,
)

# bench/hardening.py raises SKIPLAB_FUZZ_SCALE for a long, random (not derandomized) campaign.
SCALE = int(os.environ.get("SKIPLAB_FUZZ_SCALE", "1"))
FUZZ = settings(deadline=None, database=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOUND_S = 20.0  # per example; the slowest legitimate input (a 512 KB paste) takes a few seconds


def check_evaluation(spec: dict, batch: int = 1) -> None:
    """The Build page contract: never raises; an error says where; a valid spec builds what it counted."""
    with bounded(BOUND_S, spec):
        ev = evaluate(spec, batch=batch)
    if not ev.ok:
        assert ev.error and len(ev.error) < 2000, ev.error
        assert "Traceback" not in ev.error
        return
    a = ev.analysis
    small = a.params < 200_000 and a.macs < 20_000_000 and a.memory["activations_bytes"] < 50_000_000
    if small:  # the model we would train matches the counts the page shows
        with bounded(BOUND_S, spec), torch.no_grad():
            model = build(ev.graph, "cpu", seed=0).eval()
            out = model(example_input(ev.graph, batch=2))
        assert param_count(model) == a.params, spec
        assert list(out.shape) == [2, *a.output_shape], spec


@settings(FUZZ, max_examples=120 * SCALE)
@given(spec_text())
def test_spec_text_is_a_spec_or_a_spec_error(text_fmt: tuple[str, str]) -> None:
    text, fmt = text_fmt
    try:
        with bounded(BOUND_S, text[:200]):
            spec = loads(text, fmt)
    except SpecError as exc:
        assert isinstance(exc.path, str) and exc.message and len(str(exc)) < 2000
    else:
        assert isinstance(spec, SpecBase)


@pytest.mark.parametrize("text", NASTY_YAML, ids=range(len(NASTY_YAML)))
def test_each_nasty_yaml_is_refused_or_parsed_quickly(text: str) -> None:
    with bounded(8.0, text[:80]):
        try:
            loads(text)
        except SpecError as exc:
            assert len(str(exc)) < 1000


@settings(FUZZ, max_examples=150 * SCALE)
@given(family_spec(), st.sampled_from([1, 2, 64]))
def test_family_specs_evaluate_or_name_the_problem(spec: dict, batch: int) -> None:
    check_evaluation(spec, batch)


@settings(FUZZ, max_examples=80 * SCALE)
@given(mutated_preset())
def test_mutated_presets_evaluate_or_name_the_problem(spec: dict) -> None:
    check_evaluation(spec)


@settings(FUZZ, max_examples=80 * SCALE)
@given(st.sampled_from(FAMILY_NAMES).flatmap(lambda f: family_spec(f)), st.data())
def test_edits_on_valid_specs(spec: dict, data: st.DataObject) -> None:
    base = evaluate(spec)
    if not base.ok:
        return
    nodes = [n.name for n in base.graph.compute_nodes()][:60]
    edits = data.draw(edits_for(nodes, skip_endpoints(base.graph)[:20]))
    check_evaluation({**spec, "edits": edits})


@settings(FUZZ, max_examples=80 * SCALE)
@given(st.integers(1, 40).flatmap(lambda n: st.lists(st.integers(1, n), min_size=1, max_size=3)), graph_nodes())
def test_graph_specs_over_the_op_registry(shape: list[int], nodes: list[dict]) -> None:
    check_evaluation({"family": "graph", "input": shape, "nodes": nodes})


CLI_FLAGS = st.lists(st.sampled_from(["--json", "--batch", "0", "7", "--input", "3,8,8", "1,x", "--level", "node",
                                      "--dtype", "float16", "--nope", "-v", "--crosscheck"]), max_size=4)


@settings(FUZZ, max_examples=40 * SCALE)
@given(spec_text(), st.sampled_from(["summary", "compare", "export"]), CLI_FLAGS)
def test_cli_exits_0_or_2_with_a_message(tmp_path_factory, text_fmt: tuple[str, str], command: str,
                                         flags: list[str]) -> None:
    text, fmt = text_fmt
    path = tmp_path_factory.mktemp("cli") / f"spec.{fmt}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    argv = [command, str(path), *(["resnet8"] if command == "compare" else []), *flags]
    if command == "export":
        argv = [a for a in argv if a not in ("--crosscheck", "--batch", "--level", "--dtype")]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), bounded(BOUND_S, argv):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: a bad flag
            code = exc.code
    assert code in (0, 2), (argv, err.getvalue()[-2000:])
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert "error" in err.getvalue()


def test_errors_name_a_field_or_a_node() -> None:
    """The classes the fuzzers accept carry where the problem is."""
    with pytest.raises(SpecError) as info:
        parse({"family": "resnet", "stages": [{"blocks": 1, "width": 10**100}], "name": ["x"] * 10**5})
    assert info.value.path  # the first bad field
    ev = evaluate({"family": "resnet", "input": [3, 2, 2], "stem": "imagenet"})
    assert not ev.ok and (ev.error_node or ev.error_field)


# Beginnings of real formats gone wrong: a torch zip, pickles, text, a safetensors header that lies.
ODD_WEIGHT_FILES = [b"PK\x03\x04" + bytes(40), b"\x80\x02}q\x00.", b"hello\n", b"\x80\x04\x95" + bytes(20), b"",
                    (2).to_bytes(8, "little") + b"{}", (5).to_bytes(8, "little") + b"{bad}" + b"x" * 10,
                    (30).to_bytes(8, "little") + b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}']


@settings(FUZZ, max_examples=40 * SCALE)
@given(st.binary(max_size=600) | st.sampled_from(ODD_WEIGHT_FILES))
def test_weights_files_of_any_bytes_load_or_are_refused(tmp_path_factory, data: bytes) -> None:
    from engine.export.weights import WeightsError, read_state_dict

    path = tmp_path_factory.mktemp("weights") / "w.pt"
    path.write_bytes(data)
    with bounded(BOUND_S, data[:80]):
        try:
            state, _fmt, _nested = read_state_dict(path)
        except WeightsError as exc:
            assert str(path) in str(exc) and len(str(exc)) < 1000
        else:
            assert all(isinstance(v, torch.Tensor) for v in state.values())


@st.composite
def npz_arrays(draw: st.DrawFn) -> dict:
    """What a user's .npz might hold: odd shapes, dtypes, NaNs, negative or float labels, missing arrays."""
    from hypothesis.extra import numpy as hnp

    n = draw(st.integers(0, 6))
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "<U1"]))
    x_shape = (n, *draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    out = {"x": draw(hnp.arrays(dtype, x_shape))}
    y_shape = draw(st.sampled_from([(n,), (max(0, n - 1),), (n, 1, *x_shape[-2:]) if len(x_shape) > 2 else (n, 1)]))
    labels = [0, 1, 2, -1, 9]
    y_float = draw(st.booleans())
    out["y"] = draw(hnp.arrays("float32" if y_float else "int64", y_shape,
                               elements=st.sampled_from(labels + [0.5, math.nan] if y_float else labels)))
    if draw(st.booleans()):
        out.pop(draw(st.sampled_from(["x", "y"])))
    return out


@settings(FUZZ, max_examples=60 * SCALE)
@given(npz_arrays())
def test_npz_files_of_any_content_load_or_say_what_is_wrong(tmp_path_factory, arrays: dict) -> None:
    import numpy as np

    from engine.data import load_dataset
    from engine.data.core import DataError

    path = tmp_path_factory.mktemp("npz") / "data.npz"
    np.savez(path, **arrays)
    with bounded(BOUND_S, {k: (v.dtype, v.shape) for k, v in arrays.items()}):
        try:
            ds = load_dataset("npz", path=str(path))
        except DataError as exc:
            assert "npz" in str(exc) and len(str(exc)) < 1000
        else:
            assert ds.info.train_size > 0 and ds.info.val_size > 0
            assert torch.isfinite(ds.x_train.float()).all()
