"""The catalogue of bad inputs (issue 10): every bad input we try, where a user would try it, and what they see.

Each entry runs the input through the surface a user meets (the CLI, the Build page's YAML editor, the Train
page's form, the Python API) and checks that the message names the problem and the fix, with no traceback.
The CLI exits 2; the dashboard shows the message and keeps serving. The messages actually shown are written
to artifacts/bad_inputs.md, one table row per input, so the catalogue can be read without running it.
The random side of the same promise is tests/test_fuzz.py; faults (kill -9, full disk) are tests/test_faults.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dashboard.text import plain
from engine.api import build_model
from engine.cli import main
from engine.core.errors import SkipLabError
from engine.store import RunStore
from engine.train.record import create_run, run_and_record
from tests.fuzz_strategies import ALIAS_BOMB

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "artifacts" / "bad_inputs.md"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class BadInput:
    surface: str  # where the user meets it
    tried: str  # what the user did
    shows: Callable[[Path], str]  # runs it (given a scratch folder); returns what the user sees
    says: tuple[str, ...]  # the message must contain each of these
    never: tuple[str, ...] = ()  # and none of these (unsafe advice, a wrong name for the problem)


# ---- the surfaces ----------------------------------------------------------------------------------------------


def cli(*argv: str) -> Callable[[Path], str]:
    """`python -m engine ARGV` (run in-process; `{tmp}` in an argument is the scratch folder): exit 2, no
    traceback; returns stderr."""

    def shows(tmp: Path) -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([a.replace("{tmp}", str(tmp)) for a in argv])
            except SystemExit as exc:  # argparse
                code = exc.code
        assert code == 2, (argv, code, err.getvalue())
        return err.getvalue().strip()

    return shows


def cli_file(name: str, content: str | bytes, *argv: str) -> Callable[[Path], str]:
    """The CLI on a file the user wrote: `{file}` in an argument is its path."""

    def shows(tmp: Path) -> str:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return cli(*(a.replace("{file}", str(path)) for a in argv))(tmp)

    return shows


def build_yaml(text: str) -> Callable[[Path], str]:
    """Paste `text` into the Build page's YAML editor; returns the page's error messages."""

    def shows(_tmp: Path) -> str:
        at = AppTest.from_file("../dashboard/app.py", default_timeout=60).run()
        [area] = [t for t in at.text_area if t.label == "Spec (YAML)"]
        area.input(text).run()
        assert not at.exception, at.exception
        assert at.metric, "the page stopped drawing: the previous valid architecture should stay on screen"
        return " | ".join(plain(e.value) for e in at.error)

    return shows


def train_form(env: dict[str, str] | None = None, **fields: object) -> Callable[[Path], str]:
    """Fill the Train page's form (with `env` set) and press Start; returns the page's error messages."""

    def shows(_tmp: Path) -> str:
        at = AppTest.from_file("../dashboard/app.py", default_timeout=60).run()
        at.switch_page("../pages/train.py").run()
        for key, value in fields.items():
            [w] = [w for w in at.get("radio" if key == "train_source" else "number_input") if w.key == key]
            w.set_value(value)
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception
        return " | ".join(plain(e.value) for e in at.error)

    return _with_env(env or {}, shows)


def _with_env(env: dict[str, str], shows: Callable[[Path], str]) -> Callable[[Path], str]:
    """The same surface with environment variables set (a limit, a data root) for the duration."""

    def run(tmp: Path) -> str:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            return shows(tmp)

    return run


def api(call: Callable[[Path], object]) -> Callable[[Path], str]:
    """A Python API call: it raises a SkipLabError (never another exception); returns its message."""

    def shows(tmp: Path) -> str:
        with pytest.raises(SkipLabError) as info:
            call(tmp)
        return str(info.value)

    return shows


def build_link(spec: object = None, raw: str | None = None) -> Callable[[Path], str]:
    """Open the Build page from a shared link (``?spec=`` carrying `spec`, or `raw` link text); returns what the
    page shows (errors and warnings), with no exception on the page."""

    def shows(_tmp: Path) -> str:
        from dashboard.urlstate import encode_spec

        at = AppTest.from_file("../dashboard/app.py", default_timeout=60)
        at.query_params["spec"] = raw if raw is not None else encode_spec(spec)  # type: ignore[arg-type]
        at.run()
        assert not at.exception, at.exception
        return " | ".join(plain(e.value) for e in [*at.warning, *at.error])

    return shows


def no_run_recorded(shows: Callable[[Path], str]) -> Callable[[Path], str]:
    """The CLI refuses a training: and, as `train --help` says, records no run for it."""

    def run(tmp: Path) -> str:
        message = shows(tmp)
        store = tmp / "s.sqlite"
        runs = RunStore(store).list_runs() if store.exists() else []
        assert runs == [], [(r["id"], r["status"], r["error"]) for r in runs]
        return message

    return run


def interrupted_at_start_up(_tmp: Path) -> str:
    """Ctrl-C while the CLI is still importing its commands (torch takes a second): no traceback."""
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(sys.modules["engine.cli.main"], "make_parser", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
        assert main(["presets"]) == 130
    return err.getvalue().strip()


def _all_cancelled_experiment(tmp: Path) -> str:
    """An experiment whose every run was cancelled (one by one, from the Runs page): not `done`."""
    from engine.lab.experiments import create_experiment, execute
    from engine.store.experiments import ExperimentStore

    store_path = tmp / "runs.sqlite"
    exp_id = create_experiment("lesion", {"depth": 8, "steps": 2}, store_path)
    es, rs = ExperimentStore(store_path), RunStore(store_path)
    runs = es.get(exp_id)["runs"]
    for r in runs:  # each planned run recorded, then cancelled before it could train
        r["run_id"] = rs.create_run(r["label"], r["spec"], r["config"], "shapes", "cpu", status="cancelled")
    es.set_runs(exp_id, runs)
    assert execute(exp_id, store_path) is None
    rec = es.get(exp_id)
    return f"status {rec['status']}: {rec['error']}"


def _idx_gz_bomb(tmp: Path) -> None:
    import gzip
    import struct

    from engine.data import load_dataset

    (tmp / "mnist").mkdir()
    for prefix, n in (("train", 10**6), ("t10k", 10)):  # the training images declare 784 MB
        with gzip.open(tmp / "mnist" / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28))
        with gzip.open(tmp / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKIPLAB_MAX_MEMORY", "300M")
        load_dataset("mnist", path=str(tmp / "mnist"))


def _idx_short_labels(tmp: Path) -> None:
    import gzip
    import struct

    from engine.data import load_dataset

    (tmp / "mnist").mkdir()
    for prefix, n, labels in (("train", 10, 9), ("t10k", 5, 5)):
        with gzip.open(tmp / "mnist" / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28) + bytes(784 * n))
        with gzip.open(tmp / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", labels) + bytes(labels))
    load_dataset("mnist", path=str(tmp / "mnist"))


def _queued_on_missing_data(tmp: Path) -> str:
    """What the Train page's Start does (create_run, status queued): refused before a run is written, like the CLI."""
    store = RunStore(tmp / "runs.sqlite")
    with pytest.raises(SkipLabError) as info:
        create_run(store, "resnet8", {"dataset": "npz", "dataset_options": {"path": str(tmp / "gone.npz")},
                                      "steps": 1, "device": "cpu"}, status="queued")
    assert store.list_runs() == []
    return f"no run recorded: {info.value}"


def _png_bomb(tmp: Path) -> None:
    from engine.data import load_dataset
    from tests.test_input_bounds import _png_header_only

    for cls in ("a", "b"):
        (tmp / "imgs" / cls).mkdir(parents=True)
        _png_header_only(tmp / "imgs" / cls / "x.png", 8, 8)
    _png_header_only(tmp / "imgs" / "a" / "bomb.png", 60_000, 60_000)
    load_dataset("imagefolder", path=str(tmp / "imgs"), size=8)


def _npy_as_npz(tmp: Path) -> None:
    import numpy as np

    from engine.data import load_dataset

    np.save(tmp / "x.npy", np.zeros(4))
    load_dataset("npz", path=str(tmp / "x.npy"))


def _float_labels(tmp: Path) -> None:
    import numpy as np

    from engine.data import load_dataset

    np.savez(tmp / "soft.npz", x=np.zeros((10, 3, 4, 4), np.float32), y=np.linspace(0, 1, 10))
    load_dataset("npz", path=str(tmp / "soft.npz"))


def _cifar(tmp: Path, images: int, labels: int) -> None:
    import pickle

    import numpy as np

    from engine.data import load_dataset

    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"data": np.zeros((images, 3072), np.uint8), b"labels": [0] * labels}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch))
    load_dataset("cifar10", path=str(tmp))


def _cifar_big_batch(tmp: Path) -> None:
    _cifar(tmp, 20_000, 20_000)  # 58.6 MiB where a batch is 29.3 MiB: refused from its size, before unpickling


def _cifar_short_labels(tmp: Path) -> None:
    _cifar(tmp, 100, 99)


def _short_labels(tmp: Path) -> None:
    import numpy as np

    from engine.data import load_dataset

    np.savez(tmp / "short.npz", x=np.zeros((10, 3, 4, 4), np.float32), y=np.arange(9) % 2)
    load_dataset("npz", path=str(tmp / "short.npz"))


def diverging_run(tmp: Path) -> str:
    """A run at lr 1e9: it ends `diverged` with the layer named; what the Train page and `runs` show."""
    store = RunStore(tmp / "runs.sqlite")
    run_id = create_run(store, "resnet8", {"dataset": "shapes", "dataset_options": {"train_size": 32, "val_size": 8},
                                           "steps": 30, "batch_size": 8, "device": "cpu", "lr": 1e9,
                                           "val_every": 0, "act_every": 0}, status="running")
    list(run_and_record(store, run_id))
    run = store.get_run(run_id)
    assert run["status"] == "diverged"
    return f"status diverged: {run['error']}"


def _npz(tmp: Path, name: str) -> Path:
    import numpy as np

    path = tmp / name
    np.savez(path, x=np.zeros((10, 3, 4, 4), np.float32), y=np.arange(10) % 2)
    return path


def _npz_with_nan(tmp: Path) -> None:
    import numpy as np

    from engine.data import load_dataset

    x = np.zeros((10, 3, 4, 4), np.float32)
    x[3, 0, 1, 1] = np.nan
    np.savez(tmp / "nan.npz", x=x, y=np.arange(10) % 2)
    load_dataset("npz", path=str(tmp / "nan.npz"))


def _outside_root(tmp: Path) -> None:
    from engine.data import load_dataset

    (tmp / "root").mkdir()
    _npz(tmp, "secret.npz")
    _with_env({"SKIPLAB_DATA_ROOT": str(tmp / "root")}, lambda _t: load_dataset("npz", path="../secret.npz"))(tmp)


def _pickled_code(tmp: Path) -> None:
    from engine.export.weights import load_weights

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, ("echo pwned",))

    torch.save({"state_dict": build_model("resnet8").state_dict(), "hook": Payload()}, tmp / "evil.pt")
    load_weights("resnet8", tmp / "evil.pt")


def _ddp_batch(_tmp: Path) -> None:
    from engine.train import distributed

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}.items():
            mp.setenv(k, v)
        distributed.init_from_env("cpu", 102)


def _sweep(data: dict) -> Callable[[Path], object]:
    def call(_tmp: Path) -> object:
        from engine.lab.sweeps import expand, parse_sweep

        return expand(parse_sweep(data))

    return call


def _experiment(name: str, options: dict) -> Callable[[Path], object]:
    def call(tmp: Path) -> object:
        from engine.lab.experiments import create_experiment

        return create_experiment(name, options, tmp / "runs.sqlite")

    return call


# ---- the catalogue ---------------------------------------------------------------------------------------------

CATALOGUE: list[BadInput] = [
    # specs on the command line
    BadInput("CLI", "summary of a misspelt preset (resnet5O)", cli("summary", "resnet5O"),
             ("neither a preset nor a spec file", "resnet50")),
    BadInput("CLI", "summary of a spec file that does not exist", cli("summary", "{tmp}/nope.yaml"),
             ("not found", "preset name")),
    BadInput("CLI", "summary of a directory", cli("summary", "{tmp}"), ("is a directory, not a spec file",)),
    BadInput("CLI", "malformed YAML (an unclosed list)",
             cli_file("broken.yaml", "family: resnet\nstages: [{blocks: 1, width: 16}\n", "summary", "{file}"),
             ("malformed YAML at line 3", "broken.yaml")),
    BadInput("CLI", "malformed JSON", cli_file("broken.json", '{"family": "resnet",', "summary", "{file}"),
             ("broken.json",)),
    BadInput("CLI", "a misspelt key (depht)", cli_file("typo.yaml", "family: resnet\ndepht: 3\n", "summary", "{file}"),
             ("unknown key 'depht'", "valid keys for family 'resnet'")),
    BadInput("CLI", "a negative width", cli_file("neg.yaml", "family: resnet\nstages: [{blocks: 1, width: -4}]\n",
                                                 "summary", "{file}"),
             ("stages[0].width", "must be a positive integer, got -4")),
    BadInput("CLI", "an unknown family", cli_file("fam.yaml", "family: resnext\n", "summary", "{file}"),
             ("family", "resnet")),
    BadInput("CLI", "an input too small for the net (densenet121 at 16x16)",
             cli("summary", "densenet121", "--input", "3,16,16"),
             ("transition3.pool", "too small", "use a larger input")),
    BadInput("CLI", "a malformed --input", cli("summary", "resnet18", "--input", "3,x"),
             ("--input", "like 3,32,32", "'3,x'")),
    BadInput("CLI", "a skip edge between mismatched shapes, no adapter",
             cli_file("edit.yaml", "family: resnet\nedits:\n  - {add_skip: {from: stage1.block0, to: stage3.block0, "
                      "merge: add, adapter: none}}\n", "summary", "{file}"),
             ("cannot add [64, 8, 8]", "[16, 32, 32]", "adapter: projection")),
    BadInput("CLI", "a graph node with a misspelt op (lineer)",
             cli_file("op.yaml", "family: graph\ninput: [4]\nnodes:\n  - {name: a, op: lineer, out_features: 3}\n",
                      "summary", "{file}"),
             ("nodes[0].op", "unknown op 'lineer'", "valid: add")),
    BadInput("CLI", "a graph with a cycle",
             cli_file("cycle.yaml", "family: graph\ninput: [4]\nnodes:\n  - {name: a, op: linear, in: b, "
                      "out_features: 3}\n  - {name: b, op: linear, in: a, out_features: 4}\n", "summary", "{file}"),
             ("cycle",)),
    BadInput("CLI", "an unknown flag", cli("summary", "resnet8", "--bogus"),
             ("unrecognized arguments: --bogus", "python -m engine summary --help")),
    BadInput("CLI", "an unknown command", cli("sumary", "resnet8"), ("invalid choice: 'sumary'", "summary")),
    # training
    BadInput("CLI", "train on an unknown dataset", cli("train", "resnet8", "--dataset", "imagenet", "--store",
                                                       "{tmp}/s.sqlite"),
             ("unknown dataset 'imagenet'", "shapes")),
    BadInput("CLI", "train with a negative learning rate", cli("train", "resnet8", "--lr", "-1"),
             ("--lr", "must be a positive number")),
    BadInput("CLI", "train with batch size 0", cli("train", "resnet8", "--batch-size", "0"), ("--batch-size",)),
    BadInput("CLI", "train on CIFAR-10 without a local copy",
             cli("train", "resnet8", "--dataset", "cifar10", "--store", "{tmp}/s.sqlite"),
             ("never downloads", "path=")),
    BadInput("CLI", "train on an .npz file that does not exist",
             no_run_recorded(cli("train", "resnet8", "--dataset", "npz", "--data", "path={tmp}/nope.npz", "--store",
                                 "{tmp}/s.sqlite")),
             ("does not exist", "arrays 'x' and 'y'")),
    BadInput("CLI", "a store path under a file", cli_file("a_file", "x", "runs", "--store", "{file}/runs.sqlite"),
             ("cannot create the run store", "SKIPLAB_STORE")),
    BadInput("CLI", "train resnet18 at batch 4,096 under a 300 MB memory limit",
             _with_env({"SKIPLAB_MAX_MEMORY": "300M"}, cli("train", "resnet18", "--batch-size", "4096", "--store",
                                                           "{tmp}/s.sqlite")),
             ("needs about", "SKIPLAB_MAX_MEMORY", "use batch_size")),
    BadInput("training", "a learning rate of 1e9", diverging_run, ("status diverged", "lower the learning rate")),
    # weights
    BadInput("CLI", "load-weights on a text file", cli_file("notes.pt", "hello\n", "load-weights", "resnet8", "{file}"),
             ("not a readable PyTorch weights file", "neither a torch.save archive nor a pickle", "torch.save")),
    BadInput("CLI", "load-weights on a file of random bytes",
             cli_file("noise.pt", bytes(range(256)) * 8, "load-weights", "resnet8", "{file}"),
             ("not a readable PyTorch weights file",)),
    BadInput("CLI", "load-weights on a .safetensors file with a broken header",
             cli_file("model.safetensors", (5).to_bytes(8, "little") + b"{bad}" + bytes(10), "load-weights", "resnet8",
                      "{file}"),
             ("not a readable safetensors file", "save_file")),
    BadInput("API", "load a checkpoint that pickles code", api(_pickled_code),
             ("refused to load", "weights_only=True")),
    # paths and data
    BadInput("API", "a data path outside SKIPLAB_DATA_ROOT (../secret.npz)", api(_outside_root),
             ("outside the data root", "SKIPLAB_DATA_ROOT")),
    BadInput("API", "an .npz whose x holds NaN", api(_npz_with_nan), ("NaN or infinite", "np.nan_to_num")),
    BadInput("API", "a data set of 10^9 samples", api(lambda tmp: create_run(
        RunStore(tmp / "s.sqlite"), "resnet8", {"device": "cpu", "dataset_options": {"train_size": 10**9}})),
             ("data set 'shapes'", "take fewer samples")),
    BadInput("API", "a resnet with 10^9 blocks", api(lambda _t: build_model(
        {"family": "resnet", "stages": [{"blocks": 10**9, "width": 16}]})), ("more than 50,000 nodes",)),
    BadInput("API", "a width of 10^9 (about 10^19 parameters)", api(lambda _t: build_model(
        {"family": "resnet", "stages": [{"blocks": 1, "width": 10**9}]})), ("parameters",)),
    BadInput("torchrun", "a global batch of 102 over 4 processes", api(_ddp_batch),
             ("does not divide evenly over 4", "100 or 104")),
    # experiments and sweeps
    BadInput("CLI", "an unknown experiment", cli("experiment", "nope", "--store", "{tmp}/s.sqlite"),
             ("unknown experiment 'nope'", "degradation")),
    BadInput("API", "an experiment depth that is not 6n + 2", api(_experiment("lesion", {"depth": 21})),
             ("6n + 2", "got 21")),
    BadInput("API", "a misspelt experiment option", api(_experiment("lesion", {"depht": 20})),
             ("options.depht", "valid options")),
    BadInput("API", "a sweep over a key the spec does not have",
             api(_sweep({"base": "resnet8", "grid": {"depth": [1]}})), ("neither a field of the resnet spec",)),
    BadInput("API", "a sweep value that does not validate",
             api(_sweep({"base": "resnet8", "grid": {"shortcut": ["A", "Z"]}})), ("shortcut=Z",)),
    # the dashboard
    BadInput("Build page", "YAML with a python object tag", build_yaml("!!python/object/apply:os.system ['echo x']"),
             ("python",)),
    BadInput("Build page", "a YAML alias bomb", build_yaml(ALIAS_BOMB + "family: resnet\nname: *i\n"),
             ("alias",)),
    BadInput("Build page", "unclosed YAML", build_yaml("family: resnet\nstages: [{blocks: 1\n"), ("malformed YAML",)),
    BadInput("Build page", "a negative width", build_yaml("family: resnet\nstages: [{blocks: 1, width: -4}]\n"),
             ("must be a positive integer, got -4",)),
    BadInput("Build page", "unicode where a family goes", build_yaml("family: 名前\n"), ("family",)),
    BadInput("Build page", "10,000 levels of nesting", build_yaml("family: " + "[" * 10_000),
             ("nested too deeply", "brackets")),
    BadInput("Train page", "Start with batch 4,096 under a 300 MB memory limit",
             train_form(train_batch=4096, env={"SKIPLAB_MAX_MEMORY": "300M"}),
             ("Could not start the run", "SKIPLAB_MAX_MEMORY")),
    BadInput("Train page", "Start from a spec file without choosing one", train_form(train_source="File"),
             ("Could not start the run", "choose a spec file first")),
    # issue 14: texts through the bounded loader, files that are not files, wrong exit codes
    BadInput("CLI", "--config with a python tag", cli_file("tag.yaml", "steps: !!python/object/apply:os.system [ls]\n",
                                                            "train", "resnet8", "--config", "{file}"),
             ("--config", "!!python/object/apply:os.system", "not allowed")),
    BadInput("CLI", "--config holding a YAML alias bomb", cli_file("bomb.yaml", ALIAS_BOMB + "steps: 1\nx: *i\n",
                                                                    "train", "resnet8", "--config", "{file}"),
             ("--config", "alias")),
    BadInput("CLI", "--config with a key given twice", cli_file("twice.yaml", "steps: 10\nlr: 0.1\nsteps: 20\n",
                                                                 "train", "resnet8", "--config", "{file}"),
             ("--config", "'steps' is given twice", "line 3")),
    BadInput("CLI", "--config /dev/zero", cli("train", "resnet8", "--config", "/dev/zero"),
             ("--config", "/dev/zero", "character device"), never=("directory",)),
    BadInput("CLI", "summary of /dev/null", cli("summary", "/dev/null"), ("/dev/null", "character device"),
             never=("directory",)),
    BadInput("CLI", "summary of a FIFO", lambda tmp: (os.mkfifo(tmp / "pipe.yaml"), cli("summary", "{tmp}/pipe.yaml")(
        tmp))[1], ("pipe.yaml", "FIFO"), never=("directory",)),
    BadInput("CLI", "summary of a symlink loop",
             lambda tmp: ((tmp / "loop.yaml").symlink_to(tmp / "loop.yaml"), cli("summary", "{tmp}/loop.yaml")(tmp))[1],
             ("loop.yaml", "symbolic link loop"), never=("not found", "does not exist")),
    BadInput("CLI", "a JSON spec with a key given twice",
             cli_file("twice.json", '{"family": "resnet", "name": "a", "name": "b"}', "summary", "{file}"),
             ("'name' is given twice",)),
    BadInput("CLI", "a 20-digit seed", no_run_recorded(cli("train", "resnet8", "--seed", "99999999999999999999",
                                                           "--store", "{tmp}/s.sqlite")),
             ("config.seed", "9223372036854775807")),
    BadInput("CLI", "train with bf16 on the CPU (refused: no run recorded)",
             no_run_recorded(cli("train", "resnet8", "--device", "cpu", "--amp", "bf16", "--steps", "1",
                                 "--store", "{tmp}/s.sqlite")),
             ("config.amp", "needs a CUDA device")),
    BadInput("CLI", "export --out /dev/full", cli("export", "resnet8", "--format", "py", "--out", "/dev/full"),
             ("/dev/full", "No space left on device")),
    BadInput("CLI", "a sweep of 10^12 runs",
             cli_file("huge.yaml", "base: resnet8\ngrid:\n" + "".join(f"  k{i}: [0,1,2,3,4,5,6,7,8,9]\n"
                                                                      for i in range(12)),
                      "sweep", "{file}", "--store", "{tmp}/s.sqlite"),
             ("1,000,000,000,000 runs", "at most 10,000")),
    BadInput("CLI", "Ctrl-C during start-up", interrupted_at_start_up, ("interrupted",)),
    BadInput("API", "an .npy file given as the npz dataset", api(_npy_as_npz), ("is a .npy file", "np.savez")),
    BadInput("API", "random bytes given as the npz dataset",
             api(lambda tmp: (tmp.joinpath("r.npz").write_bytes(bytes(range(256)) * 4),
                              __import__("engine.data").data.load_dataset("npz", path=str(tmp / "r.npz")))),
             ("r.npz is not an .npz archive", "np.savez"), never=("allow_pickle",)),
    BadInput("API", "an .npz with soft (float) labels", api(_float_labels),
             ("soft.npz", "integer labels", "astype")),
    BadInput("API", "an MNIST .gz declaring 10^6 images under a 300 MB limit", api(_idx_gz_bomb),
             ("train-images-idx3-ubyte.gz", "memory budget", "SKIPLAB_MAX_MEMORY")),
    BadInput("API", "a PNG decompression bomb in an image folder", api(_png_bomb),
             ("bomb.png", "decompression bomb", "delete the file")),
    BadInput("API", "a graph node named `training`", api(lambda _t: build_model(
        {"family": "graph", "input": [4], "nodes": [{"name": "training", "op": "linear", "out_features": 2}]})),
             ("nodes[0]", "'training' is reserved", "rename the node")),
    BadInput("API", "an experiment whose runs were all cancelled", _all_cancelled_experiment,
             ("status cancelled", "every run was cancelled")),
    BadInput("Build page", "a link holding a spec of only `family`", build_link({"family": "graph"}),
             ("does not build", "input")),
    BadInput("CLI", "a JSON spec starting with a byte-order mark (and a misspelt key)",
             cli_file("marked.json", "\ufeff" + '{"family": "resnet", "depht": 3}', "summary", "{file}"),
             ("marked.json", "unknown key 'depht'"), never=("byte-order", "malformed JSON")),
    BadInput("CLI", "a YAML spec naming a graph node `meta` (summary, not only export, refuses it)",
             cli_file("meta.yaml", "family: graph\ninput: [4]\nnodes:\n  - {name: meta, op: linear, out_features: 2}\n",
                      "summary", "{file}"),
             ("nodes[0]", "'meta' is reserved", "rename the node")),
    BadInput("Build page", "a link whose graph node is named `graph`",
             build_link({"family": "graph", "input": [4], "nodes": [{"name": "graph", "op": "linear",
                                                                     "out_features": 2}]}),
             ("does not build", "'graph' is reserved", "rename the node")),
    BadInput("CLI", "a sweep file that is /dev/zero", cli("sweep", "/dev/zero", "--store", "{tmp}/s.sqlite"),
             ("/dev/zero", "character device"), never=("directory",)),
    BadInput("API", "a CIFAR-10 batch holding twice the images a batch holds", api(_cifar_big_batch),
             ("data_batch_1", "a CIFAR-10 batch holds 10,000 images", "re-extract")),
    BadInput("API", "a CIFAR-10 batch with fewer labels than images", api(_cifar_short_labels),
             ("data_batch_1", "expected 100 'labels'", "re-extract")),
    BadInput("API", "an .npz with 9 labels for 10 samples", api(_short_labels),
             ("short.npz", "x is [10, 3, 4, 4] and y is [9]", "one label (or mask) per sample")),
    BadInput("API", "an MNIST folder whose label file has a label fewer than its images", api(_idx_short_labels),
             ("train-labels-idx1-ubyte.gz has 9 labels", "one label per image", "re-extract")),
    BadInput("API", "queue a run (Train page, job runner) on an .npz that does not exist",
             _queued_on_missing_data, ("no run recorded", "gone.npz does not exist", "arrays 'x' and 'y'")),
    BadInput("Build page", "a link with 100,000 nested brackets",
             build_link(raw=__import__("base64").urlsafe_b64encode(__import__("zlib").compress(
                 ('{"a":' + "[" * 100_000 + "]" * 100_000 + "}").encode(), 9)).decode().rstrip("=")),
             ("Could not open the linked spec", "nested too deeply")),
]


SEEN: dict[int, str] = {}  # case index -> what it showed, for the report


@pytest.mark.parametrize("case", CATALOGUE, ids=[f"{i:02d}-{c.tried[:40]}" for i, c in enumerate(CATALOGUE)])
def test_bad_input_gets_a_clear_message(case: BadInput, tmp_path: Path, store_path: Path) -> None:
    message = case.shows(tmp_path)
    SEEN[CATALOGUE.index(case)] = message
    assert message, f"{case.tried}: nothing shown"
    assert "Traceback" not in message and "internal error" not in message, message
    assert len(message) < 3000, message  # one paragraph, not a dump
    for fragment in case.says:
        assert fragment.lower() in message.lower(), (case.tried, fragment, message)
    for fragment in case.never:
        assert fragment.lower() not in message.lower(), (case.tried, fragment, message)


def test_write_the_catalogue() -> None:
    """artifacts/bad_inputs.md: what each bad input showed in this run (runs after the cases, in file order).
    Written only when every case ran, so the report is never partial; no two inputs may show the same message
    (one catch-all message for different problems would name neither)."""
    if len(SEEN) != len(CATALOGUE):
        pytest.skip(f"{len(SEEN)} of {len(CATALOGUE)} catalogue cases ran in this session; the report needs all")
    rows = ["| # | where | what the user tried | what the user sees |", "|---|---|---|---|"]
    for i, case in enumerate(CATALOGUE):
        shown = SEEN[i].replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {i} | {case.surface} | {case.tried} | {shown} |")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("# Bad inputs and what the user sees\n\nWritten by tests/test_bad_inputs.py.\n\n"
                      + "\n".join(rows) + "\n")
    shared = [m for m, n in Counter(SEEN.values()).items() if n > 1]
    assert not shared, f"different bad inputs show the same message: {shared}"
