"""Data-parallel training: `torchrun -m engine train` (gloo on the CPU) records one run that equals the
single-process run with the same global batch and seed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.core.errors import SpecError
from engine.store import RunStore
from engine.train import distributed

ROOT = Path(__file__).resolve().parents[1]
# lr 0.01 and 3 steps: at lr 0.1 resnet20's first updates are chaotic enough that a single process on
# 1 vs 2 threads already differs by 1e-3 at step 2 (measured): a ReLU input within float noise of zero
# flips its mask. Here both runs agree to about 1e-6.
TINY = ["resnet20", "--dataset", "shapes", "--data", "train_size=32", "--data", "val_size=16", "--steps", "3",
        "--batch-size", "8", "--lr", "0.01", "--log-every", "1", "--val-every", "0", "--device", "cpu",
        "--set", "act_every=1", "--quiet"]
STATS = ("grad_norm", "grad_mean_abs", "grad_max_abs", "weight_norm", "update_ratio")
RTOL = 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))


@pytest.mark.slow
def test_torchrun_two_cpu_processes_equal_one(tmp_path, capsys) -> None:
    store_path = str(tmp_path / "runs.sqlite")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what torchrun gives each worker (OMP_NUM_THREADS=1)
    try:
        assert main(["train", *TINY, "--store", store_path, "--name", "single"]) == 0, capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SKIPLAB_STORE": store_path, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "engine", "train", *TINY, "--store", store_path, "--name", "ddp"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("run 2: done after 3 steps") == 1  # rank 0 alone prints

    store = RunStore(store_path)
    runs = {r["name"]: r for r in store.list_runs()}
    assert sorted(runs) == ["ddp", "single"]  # one run for the two processes
    single, ddp = runs["single"], runs["ddp"]
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["status"] == "done" and ddp["config"]["batch_size"] == 8 and ddp["config"]["lr"] == 0.01

    for stat in STATS:
        s_steps, s_mat = store.get_layer_matrix(single["id"], stat)
        d_steps, d_mat = store.get_layer_matrix(ddp["id"], stat)
        assert s_steps.tolist() == d_steps.tolist() == [1, 2, 3]
        assert s_mat.shape == d_mat.shape and s_mat.shape[0] == 39  # resnet20's parametrised layers
        assert _rel(s_mat, d_mat) < RTOL, (stat, _rel(s_mat, d_mat))
    # activation moments are merged over the two halves of each batch (E[x], E[x^2] of the global batch)
    _, s_std = store.get_layer_matrix(single["id"], "act_std")
    _, d_std = store.get_layer_matrix(ddp["id"], "act_std")
    assert _rel(s_std, d_std) < RTOL
    s_m, d_m = store.get_metrics(single["id"]), store.get_metrics(ddp["id"])
    for key in ("loss", "acc", "grad_norm", "val_loss", "val_acc"):
        assert s_m[key][0].tolist() == d_m[key][0].tolist(), key
        assert _rel(s_m[key][1], d_m[key][1]) < RTOL, (key, s_m[key][1], d_m[key][1])
    assert Path(ddp["summary"]["weights_path"]).is_file()


def test_a_batch_that_does_not_divide_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(SpecError, match=r"config.batch_size.*102 does not divide evenly over 4.*100 or 104"):
        distributed.init_from_env("cpu", 102)
    assert distributed.current() is None


def test_single_process_without_torchrun(monkeypatch) -> None:
    for key in distributed.ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    assert distributed.init_from_env("cpu", 7) is None
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.init_from_env("cpu", 7) is None  # --nproc_per_node=1: a plain run


def test_shards_and_spans() -> None:
    ctx = distributed.DistContext(1, 2, 1, torch.device("cpu"), "gloo")
    assert ctx.shard(torch.arange(8)).tolist() == [4, 5, 6, 7]
    assert ctx.span(5) == (3, 5)
    assert distributed.DistContext(2, 3, 0, torch.device("cpu"), "gloo").span(5) == (4, 5)


@pytest.mark.slow
def test_interrupting_torchrun_cancels_every_rank_at_the_same_step(tmp_path) -> None:
    """torchrun passes SIGINT on as SIGTERM; each rank's stop flag is agreed on by all ranks before they stop
    (a rank stopping alone would leave the other blocked in a collective)."""
    import signal
    import time

    store_path = str(tmp_path / "runs.sqlite")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "engine", "train", "resnet8", "--dataset", "shapes", "--data",
           "train_size=32", "--data", "val_size=8", "--steps", "100000", "--batch-size", "8", "--device", "cpu",
           "--log-every", "1", "--store", store_path, "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        step = None
        while time.monotonic() < deadline and proc.poll() is None:
            runs = RunStore(store_path).list_runs() if Path(store_path).exists() else []
            step = RunStore(store_path).latest_step(runs[0]["id"]) if runs else None
            if step is not None and step >= 3:
                break
            time.sleep(0.3)
        assert step is not None and step >= 3, proc.stdout.read() if proc.poll() is not None else "no progress"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    [run] = RunStore(store_path).list_runs()
    assert run["status"] == "cancelled" and run["world_size"] == 2
    assert RunStore(store_path).latest_step(run["id"]) >= step
