"""Small inputs that used to stall or crash (issue 14, classes 4 and 7): every text through the bounded loader
(--config, sweep files, links), duplicate keys and byte-order marks, files that are not files, sweep grids
counted before they are expanded, and data files refused by the sizes they declare before anything is
allocated."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import SpecError
from engine.data import DataError, load_dataset
from engine.data.files import MAX_IMAGE_PIXELS, read_idx
from engine.lab.sweeps import load_sweep, parse_sweep
from engine.spec import decode, read_file
from tests.fuzz_strategies import ALIAS_BOMB, bounded

# ---- the bounded loader ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fmt"), [("a: 1\nb: 2\na: 3\n", "yaml"), ('{"a": 1, "a": 2}', "json"),
                                           ("x:\n  y: 1\n  y: 1\n", "yaml")])
def test_a_key_given_twice_is_an_error(text: str, fmt: str) -> None:
    with pytest.raises(SpecError, match="given twice"):
        decode(text, fmt)


def test_merge_keys_may_still_be_overridden() -> None:
    assert decode("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n")["m"] == {"x": 3, "y": 2}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_byte_order_mark_is_accepted_in_both_formats(fmt: str) -> None:
    assert decode("\ufeff" + ('{"a": 1}' if fmt == "json" else "a: 1"), fmt) == {"a": 1}


def test_python_tags_are_named_and_refused() -> None:
    with pytest.raises(SpecError, match=r"tag '!!python/object/apply:os.system'.*not allowed"):
        decode("!!python/object/apply:os.system ['echo x']")


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/null", "fifo", "loop", "dangling", "dir"])
def test_read_file_names_what_a_path_is(tmp_path: Path, kind: str) -> None:
    path = Path(kind) if kind.startswith("/") else tmp_path / kind
    expected = {"/dev/zero": "character device", "/dev/null": "character device", "fifo": "FIFO",
                "loop": "symbolic link loop", "dangling": "link to a file that does not exist", "dir": "directory"}
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(tmp_path / "loop")
    elif kind == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    elif kind == "dir":
        path.mkdir()
    with bounded(10, kind), pytest.raises(SpecError, match=expected[kind]):  # a FIFO read would block
        read_file(path)


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # sparse: a gigabyte that was never written
    with pytest.raises(SpecError, match="is 1,073,741,824 bytes"):
        read_file(big)


# ---- --config and sweep files go through it --------------------------------------------------------------


def test_config_file_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(ALIAS_BOMB + "steps: 1\nnote: *i\n")
    with bounded(20, "alias bomb"):
        assert main(["train", "resnet8", "--config", str(cfg), "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "alias" in err and len(err) < 2000


def test_sweep_file_duplicate_key_and_tag(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("base: resnet8\ngrid: {seed: [0]}\nbase: resnet20\n")
    with pytest.raises(SpecError, match="given twice"):
        load_sweep(f)
    f.write_text("base: !!python/name:os.system\n")
    with pytest.raises(SpecError, match="not allowed"):
        load_sweep(f)


def test_a_huge_sweep_grid_is_counted_not_expanded() -> None:
    grid = {f"k{i}": list(range(10)) for i in range(12)}  # 10^12 combinations
    with bounded(5, "grid"), pytest.raises(SpecError, match=r"1,000,000,000,000 runs.*at most 10,000"):
        parse_sweep({"base": "resnet8", "grid": grid})


# ---- data files: refused by their declared sizes, before allocating --------------------------------------


def test_cifar_batch_larger_than_a_batch_is_refused_unread(tmp_path: Path) -> None:
    for name in ("data_batch_1", "test_batch"):
        with open(tmp_path / name, "wb") as f:
            f.truncate(2 << 30)  # 2 GiB, sparse: unpickling it would allocate it all
    with bounded(10, "cifar"), pytest.raises(DataError, match=r"data_batch_1 is 2\.0 GiB; a CIFAR-10 batch holds"):
        load_dataset("cifar10", path=str(tmp_path))


def _idx_gz(path: Path, dims: tuple[int, ...], body: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body)


def test_gz_idx_declaring_more_than_the_budget_is_refused_before_inflating(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPLAB_MAX_MEMORY", "300M")
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _idx_gz(path, (10**6, 28, 28), bytes(1000))  # declares 784 MB (3 GB as float32)
    with pytest.raises(DataError, match="declares .*more than the memory budget"):
        read_idx(path, "mnist", 3)


def test_gz_idx_is_read_only_up_to_its_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    _idx_gz(path, (4,), bytes(4) + bytes(50_000_000))  # a 50 MB tail of zeros behind a 4-label header
    with pytest.raises(DataError, match="truncated or padded"):
        read_idx(path, "mnist", 1)
    _idx_gz(path, (4,), bytes([1, 2, 3, 4]))
    assert read_idx(path, "mnist", 1).tolist() == [1, 2, 3, 4]


def _png_header_only(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [7_000, 50_000])  # 49 megapixels (our limit), 2.5 gigapixels (Pillow's too)
def test_image_decompression_bomb_is_refused_from_its_header(tmp_path: Path, side: int) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
    _png_header_only(tmp_path / "a" / "bomb.png", side, side)  # a header only: decoding would fail, not allocate
    _png_header_only(tmp_path / "b" / "ok.png", 8, 8)
    assert side * side > MAX_IMAGE_PIXELS
    with bounded(20, "png bomb"), pytest.raises(DataError, match=r"bomb\.png declares .*decompression bomb"):
        load_dataset("imagefolder", path=str(tmp_path), size=8)


def test_npy_and_random_bytes_given_as_npz(tmp_path: Path) -> None:
    npy = tmp_path / "data.npz"
    np.save(tmp_path / "arr.npy", np.zeros(3))
    (tmp_path / "arr.npy").rename(npy)
    with pytest.raises(DataError, match=r"is a \.npy file.*np\.savez"):
        load_dataset("npz", path=str(npy))
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="not an .npz archive") as info:
        load_dataset("npz", path=str(noise))
    assert "allow_pickle" not in str(info.value)


# ---- the terminal: user text never carries control sequences -------------------------------------------


def test_run_names_cannot_send_escape_sequences_to_the_terminal(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main
    from engine.store import RunStore

    store = RunStore(tmp_path / "s.sqlite")
    store.create_run("\x1b]0;owned\x07\x1b[2J\rfake", {"family": "resnet"}, {}, "shapes", "cpu", status="done")
    assert main(["runs", "--store", str(tmp_path / "s.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\\x1b]0;owned" in out


def test_ctrl_c_during_start_up_prints_no_traceback() -> None:
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "engine", "presets"], cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)  # torch and the commands are still importing (seconds on a loaded machine)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)


@pytest.mark.parametrize("call", ["config", "op", "edit", "sweep"])
def test_messages_never_repeat_whole_values(call: str) -> None:
    from engine.api import expand
    from engine.lab.sweeps import expand as expand_sweep
    from engine.train.config import parse_config

    huge = "x" * 1_000_000
    calls = {"config": lambda: parse_config({"steps": huge}),
             "op": lambda: expand({"family": "graph", "input": [4],
                                   "nodes": [{"name": "a", "op": "linear", "out_features": huge}]}),
             "edit": lambda: expand({"family": "resnet", "edits": [{"remove_skip": huge}]}),
             "sweep": lambda: expand_sweep(parse_sweep({"base": "resnet8", "grid": {"stem": [huge]}}))}
    with pytest.raises(SpecError) as info:
        calls[call]()
    assert len(str(info.value)) < 2_500, len(str(info.value))
