"""Resource guards and file safety: what would not fit is refused before anything is allocated, with the
numbers and a fix; huge specs are refused fast; uploads are capped; local paths stay inside the data root;
checkpoints load with weights_only=True."""

from __future__ import annotations

import os
import re
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.api import build_model, expand, summarize
from engine.arch import loads
from engine.core import limits as guards
from engine.core.errors import ResourceError, SpecError
from engine.core.limits import memory_budget
from engine.core.paths import PathError
from engine.data import load_dataset
from engine.export.weights import WeightsError, load_weights, read_state_dict
from engine.store import RunStore
from engine.train.record import create_run
from engine.train.trainer import train
from tests.fuzz_strategies import bounded

ROOT = Path(__file__).resolve().parents[1]
WIDE = {"family": "resnet", "stages": [{"blocks": 1, "width": 10**9}]}


def test_a_5000_block_resnet_analyses_and_1e9_blocks_are_refused_fast() -> None:
    with bounded(60.0, "5,000 blocks"):  # about 1 s on an idle core; a bound, not a benchmark
        a = summarize({"family": "resnet", "stages": [{"blocks": 5000, "width": 16}]})
    assert a.depth == 2 * 5000 + 2 and a.params > 23_000_000
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=r"more than 50,000 nodes .*SKIPLAB_MAX_NODES"):
        expand({"family": "resnet", "stages": [{"blocks": 10**9, "width": 16}]})
    assert time.perf_counter() - t0 < 30


def test_node_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLAB_MAX_NODES", "100")
    with pytest.raises(SpecError, match=r"more than 100 nodes \(stopped at node 'stage\d\.block\d+\.\w+'\)"):
        expand("resnet56")
    expand("resnet20")  # about 70 nodes


def test_a_width_of_1e9_is_counted_but_never_allocated(store_path: Path) -> None:
    a = summarize(WIDE)  # the Build page can still show what it would cost
    assert a.params > 10**18
    with bounded(5.0, "build"), pytest.raises(ResourceError, match="parameters"):
        build_model(WIDE)
    store = RunStore(store_path)
    with pytest.raises(ResourceError, match=r"weights and optimizer state alone do not fit"):
        create_run(store, WIDE, {"device": "cpu"})
    assert store.list_runs() == []


def test_training_memory_limit_shows_the_numbers_and_a_batch_that_fits(monkeypatch: pytest.MonkeyPatch,
                                                                       store_path: Path) -> None:
    monkeypatch.setenv("SKIPLAB_MAX_MEMORY", "300M")
    store = RunStore(store_path)
    cfg = {"device": "cpu", "batch_size": 4096, "dataset_options": {"train_size": 256, "val_size": 64}}
    with pytest.raises(ResourceError) as info:
        create_run(store, "resnet20", cfg)
    msg = str(info.value)
    assert "needs about" in msg and "300.0 MiB allowed (SKIPLAB_MAX_MEMORY)" in msg
    assert "saved activations at batch 4,096" in msg and "data set 'shapes'" in msg
    fits = int(re.search(r"use batch_size ([\d,]+) or less", msg).group(1).replace(",", ""))
    assert 16 < fits < 4096
    assert create_run(store, "resnet20", {**cfg, "batch_size": fits, "val_batch_size": fits}) == 1  # it does fit
    assert len(store.list_runs()) == 1


def test_params_limit(monkeypatch: pytest.MonkeyPatch, store_path: Path) -> None:
    monkeypatch.setenv("SKIPLAB_MAX_PARAMS", "1000")
    with pytest.raises(ResourceError, match=r"resnet8 has 75,290 parameters, more than the 1,000 allowed"):
        build_model("resnet8")
    with pytest.raises(ResourceError, match="SKIPLAB_MAX_PARAMS"):
        create_run(RunStore(store_path), "resnet8", {"device": "cpu"})
    with pytest.raises(ResourceError, match="SKIPLAB_MAX_PARAMS"):  # the count limit holds for every build
        build_model("resnet8", device="meta")


def test_a_data_set_that_would_not_fit_is_refused_before_loading(store_path: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ResourceError, match=r"data set 'shapes' [\d.,]+ TiB.*take fewer samples"):
        create_run(RunStore(store_path), "resnet8", {"device": "cpu", "dataset_options": {"train_size": 10**9}})
    assert time.perf_counter() - t0 < 5  # nothing was generated


def test_the_trainer_checks_the_loaded_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_dataset("digits")  # 1,797 samples of 8x8
    monkeypatch.setenv("SKIPLAB_MAX_MEMORY", "1M")
    with pytest.raises(ResourceError, match=r"data set 'digits'"):
        next(train("plain_mlp50", {"device": "cpu", "steps": 1}, dataset=_flat(data)))


def _flat(data):  # noqa: ANN001, ANN202 - an engine.data.Dataset with flattened inputs
    data.x_train, data.x_val = data.x_train.reshape(len(data.x_train), -1), data.x_val.reshape(len(data.x_val), -1)
    data.info.input_shape = (64,)
    return data


def test_default_limit_is_free_ram_or_vram_with_a_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKIPLAB_MAX_MEMORY", raising=False)
    free = guards.free_ram()
    assert free is not None and free > 0
    monkeypatch.setattr(guards, "free_ram", lambda: 2**30)
    b = memory_budget("cpu")
    assert b.bytes == int(0.8 * 2**30) and b.source == "80% of the 1.0 GiB of free RAM"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * 2**30, 80 * 2**30))
    b = memory_budget("cuda:0")
    assert b.bytes == int(0.8 * 4 * 2**30) and "GPU memory on cuda:0" in b.source


@pytest.mark.parametrize("value", ["bogus", "12 parsecs", "-1G"])
def test_bad_limit_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SKIPLAB_MAX_MEMORY", value)
    with pytest.raises(ResourceError, match="SKIPLAB_MAX_MEMORY="):
        memory_budget()
    assert guards.parse_bytes("1.5G") == int(1.5 * 2**30) and guards.parse_bytes("2000") == 2000


def test_spec_text_and_uploads_are_capped() -> None:
    with pytest.raises(SpecError, match=r"at most 524,288"):
        loads("name: " + "x" * 600_000)
    config = tomllib.loads((ROOT / "dashboard" / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] <= 1  # MB: Streamlit refuses larger uploads itself
    from dashboard.train_form import MAX_UPLOAD
    from engine.spec.loader import MAX_SPEC_BYTES

    assert MAX_UPLOAD == MAX_SPEC_BYTES  # the Train page refuses what the loader would, and says so


# ---- paths ----------------------------------------------------------------------------------------------------


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    (root / "sets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for where in (root / "sets" / "ok.npz", tmp_path / "secret.npz"):
        np.savez(where, x=rng.normal(size=(20, 3, 4, 4)).astype(np.float32), y=np.arange(20) % 2)
    (root / "sets" / "link.npz").symlink_to(tmp_path / "secret.npz")
    torch.save(build_model("resnet8").state_dict(), root / "w.pt")
    torch.save(build_model("resnet8").state_dict(), tmp_path / "outside.pt")
    monkeypatch.setenv("SKIPLAB_DATA_ROOT", str(root))
    return root


def test_data_paths_stay_inside_the_data_root(data_root: Path) -> None:
    assert load_dataset("npz", path="sets/ok.npz").info.train_size == 16  # relative to the root
    assert load_dataset("npz", path=str(data_root / "sets" / "ok.npz")).info.train_size == 16
    for bad in ("../secret.npz", "sets/../../secret.npz", str(data_root.parent / "secret.npz"), "sets/link.npz",
                "/etc/passwd"):
        with pytest.raises(PathError, match=r"outside the data root .*SKIPLAB_DATA_ROOT"):
            load_dataset("npz", path=bad)


def test_weights_stay_inside_the_data_root(data_root: Path) -> None:
    assert load_weights("resnet8", "w.pt").ok
    with pytest.raises(PathError, match="outside the data root"):
        load_weights("resnet8", data_root.parent / "outside.pt")
    with pytest.raises(PathError, match="outside the data root"):
        read_state_dict("../outside.pt")


def test_a_missing_data_root_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLAB_DATA_ROOT", str(tmp_path / "nope"))
    with pytest.raises(PathError, match="is not a directory"):
        load_dataset("npz", path="x.npz")


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_checkpoints_load_with_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    real = torch.load

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    torch.save(build_model("resnet8").state_dict(), tmp_path / "ok.pt")
    assert load_weights("resnet8", tmp_path / "ok.pt").ok
    torch.save({"state_dict": build_model("resnet8").state_dict(), "hook": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match=r"refused to load.*weights_only=True"):
        load_weights("resnet8", tmp_path / "evil.pt")
    assert calls and all(c.get("weights_only") is True for c in calls)
