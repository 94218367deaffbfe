"""engine.data: built-in datasets, local-file readers, the restricted unpickler and the batch helpers."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.data import (
    SHAPE_CLASSES,
    DataError,
    DatasetInfo,
    RestrictedUnpickler,
    augment_batch,
    batches,
    check_compatible,
    dataset_names,
    load_dataset,
    render_shapes,
)
from engine.data.core import split_indices


def test_registry_lists_every_dataset() -> None:
    assert dataset_names() == sorted(
        ["shapes", "digits", "shapes_seg", "sequence", "textures", "cifar10", "mnist", "imagefolder", "npz"]
    )


def test_unknown_dataset_and_option_are_clear_errors() -> None:
    with pytest.raises(DataError, match="unknown dataset 'nope'.*shapes"):
        load_dataset("nope")
    with pytest.raises(DataError, match="unknown option.*trian_size.*valid options.*train_size"):
        load_dataset("shapes", trian_size=10)
    with pytest.raises(DataError, match="train_size must be a positive integer"):
        load_dataset("shapes", train_size=0)



def test_shapes_shapes_dtypes_and_determinism() -> None:
    a = load_dataset("shapes", seed=3, train_size=200, val_size=50)
    b = load_dataset("shapes", seed=3, train_size=200, val_size=50)
    c = load_dataset("shapes", seed=4, train_size=200, val_size=50)
    assert a.x_train.shape == (200, 3, 32, 32) and a.x_val.shape == (50, 3, 32, 32)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert a.info.task == "classification" and a.info.num_classes == 10 and a.info.input_shape == (3, 32, 32)
    assert a.info.classes == SHAPE_CLASSES
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, c.x_train)
    # standardised with train statistics
    assert abs(float(a.x_train.mean())) < 1e-3 and abs(float(a.x_train.std()) - 1) < 1e-2
    assert sorted(torch.bincount(a.y_train).tolist()) == [20] * 10  # balanced classes


def test_shapes_val_set_does_not_depend_on_train_size() -> None:
    # raw renders: the standardisation statistics do depend on the train set, the images must not
    a = load_dataset("shapes", seed=1, train_size=100, val_size=30)
    b = load_dataset("shapes", seed=1, train_size=300, val_size=30)
    assert torch.equal(a.y_val, b.y_val)
    sa, sb = a.extra, b.extra
    raw_a = a.x_val * torch.tensor(sa["std"])[:, None, None] + torch.tensor(sa["mean"])[:, None, None]
    raw_b = b.x_val * torch.tensor(sb["std"])[:, None, None] + torch.tensor(sb["mean"])[:, None, None]
    assert torch.allclose(raw_a, raw_b, atol=1e-4)


def test_every_shape_is_drawn_inside_the_frame() -> None:
    labels = np.repeat(np.arange(10), 20)
    images, masks = render_shapes(labels, 32, np.random.default_rng(0))
    assert images.shape == (200, 3, 32, 32) and images.dtype == np.float32
    area = masks.sum(axis=(1, 2))
    assert (area >= 8).all()  # never an empty or nearly invisible shape
    # drawn away from the border by the same random layout, the shape never touches two opposite edges
    assert not (masks[:, 0, :].any(axis=1) & masks[:, -1, :].any(axis=1)).any()


def test_shapes_is_not_linearly_separable_from_raw_pixels() -> None:
    """Logistic regression on raw pixels must stay below 50% (it measures near chance, ~15%).

    It does fit the training set, so the low val accuracy is a failure to generalise, not to fit.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    ds = load_dataset("shapes", seed=0, train_size=2000, val_size=500)
    x, y = ds.x_train.reshape(2000, -1).numpy(), ds.y_train.numpy()
    clf = LogisticRegression(max_iter=100, C=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 100 iterations already fit train > 90%
        clf.fit(x, y)
    assert clf.score(x, y) > 0.9
    assert clf.score(ds.x_val.reshape(500, -1).numpy(), ds.y_val.numpy()) < 0.5


def test_shapes_seg_masks() -> None:
    ds = load_dataset("shapes_seg", seed=0, train_size=40, val_size=10, size=24)
    assert ds.info.task == "segmentation" and ds.info.num_classes == 1 and ds.info.input_shape == (3, 24, 24)
    assert ds.y_train.shape == (40, 1, 24, 24) and ds.y_train.dtype == torch.float32
    assert set(ds.y_train.unique().tolist()) == {0.0, 1.0}
    assert (ds.y_train.sum(dim=(1, 2, 3)) > 0).all()
    assert not ds.augment



def test_sequence_label_is_the_strict_majority_token() -> None:
    ds = load_dataset("sequence", seed=0, vocab=12, seq_len=20, num_classes=6, train_size=300, val_size=60)
    assert ds.info.task == "sequence" and ds.info.vocab == 12 and ds.info.input_shape == (20,)
    assert ds.x_train.dtype == torch.int64 and ds.x_train.shape == (300, 20)
    assert int(ds.x_train.max()) < 12
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):
        counts = (x[:, :, None] == torch.arange(6)).sum(1)  # (N, K)
        top2 = counts.topk(2, dim=1).values
        assert torch.equal(counts.argmax(1), y) and (top2[:, 0] > top2[:, 1]).all()
    with pytest.raises(DataError, match="num_classes must be between 2 and vocab"):
        load_dataset("sequence", vocab=4, num_classes=10)


def test_digits_split_resize_flatten() -> None:
    a = load_dataset("digits", seed=0)
    assert a.info.input_shape == (1, 8, 8) and a.info.train_size + a.info.val_size == 1797
    assert set(a.y_val.tolist()) == set(range(10))  # stratified
    b = load_dataset("digits", seed=0)
    c = load_dataset("digits", seed=1)
    assert torch.equal(a.y_train, b.y_train) and not torch.equal(a.y_train, c.y_train)
    assert load_dataset("digits", size=16).x_train.shape[1:] == (1, 16, 16)
    flat = load_dataset("digits", flatten=True)
    assert flat.info.input_shape == (64,) and flat.x_train.ndim == 2 and not flat.augment


def test_check_compatible() -> None:
    info = load_dataset("digits").info
    check_compatible(info, (1, 8, 8), 10)
    check_compatible(info, [1, 8, 8], None)  # type: ignore[arg-type]
    with pytest.raises(DataError) as exc:
        check_compatible(info, (3, 32, 32), 10)
    assert str(exc.value) == ("dataset 'digits' gives inputs [1, 8, 8] but the spec's input is [3, 32, 32]; "
                              "set input: [1, 8, 8] or pick another dataset")
    msg = "has 10 classes but the spec's num_classes is 100; set num_classes: 10"
    with pytest.raises(DataError, match=msg):
        check_compatible(info, (1, 8, 8), 100)
    seg = DatasetInfo("s", "segmentation", (3, 8, 8), 1, 1, 1)
    with pytest.raises(DataError, match="1 output channels"):
        check_compatible(seg, (3, 8, 8), 2)



class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_refuses_code(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    # str key: python 3 writes bytes under protocol 2 via _codecs.encode, refused before os.system
    payload = pickle.dumps({"data": _Evil(marker)}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '(posix|os|nt)\.system'"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()
    # and through the dataset: a CIFAR directory whose batch is booby-trapped
    (tmp_path / "data_batch_1").write_bytes(payload)
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(DataError, match="data_batch_1 is not a plain-data pickle"):
        load_dataset("cifar10", path=str(tmp_path))
    assert not marker.exists()


def test_restricted_unpickler_allows_numpy_arrays() -> None:
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "x", b"y"]}
    # not protocol 2: python 3 writes bytes there via _codecs.encode, which is refused on purpose
    for protocol in (3, 4, 5):
        out = RestrictedUnpickler(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()
        assert np.array_equal(out["a"], obj["a"]) and out["b"] == obj["b"]


def _fake_cifar(root: Path, n_train: int, n_test: int, protocol: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for name, n in [("data_batch_1", n_train), ("data_batch_2", n_train), ("test_batch", n_test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": b"fake", b"data": data, b"labels": labels}, f, protocol=protocol)
        xs.append(data)
        ys.append(labels)
    return np.concatenate(xs[:2]), np.concatenate(ys[:2])


@pytest.mark.parametrize("protocol", [4, 5])
def test_cifar10_round_trip(tmp_path: Path, protocol: int) -> None:
    raw_x, raw_y = _fake_cifar(tmp_path, 12, 8, protocol)
    ds = load_dataset("cifar10", path=str(tmp_path))
    assert ds.info.input_shape == (3, 32, 32) and ds.info.train_size == 24 and ds.info.val_size == 8
    assert ds.augment and ds.info.classes is not None and ds.info.classes[0] == "airplane"
    assert torch.equal(ds.y_train, torch.from_numpy(raw_y))
    mean, std = torch.tensor(ds.extra["mean"]), torch.tensor(ds.extra["std"])
    back = (ds.x_train * std[:, None, None] + mean[:, None, None]) * 255
    assert torch.allclose(back, torch.from_numpy(raw_x.reshape(-1, 3, 32, 32)).float(), atol=1e-2)
    sub = load_dataset("cifar10", path=str(tmp_path), train_size=5, val_size=3)
    assert sub.info.train_size == 5 and sub.info.val_size == 3


def test_cifar10_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="never downloads; pass path="):
        load_dataset("cifar10")
    with pytest.raises(DataError, match=r"does-not-exist does not exist; expected a directory with data_b"):
        load_dataset("cifar10", path=str(tmp_path / "does-not-exist"))
    with pytest.raises(DataError, match="has no data_batch"):
        load_dataset("cifar10", path=str(tmp_path))
    (tmp_path / "data_batch_1").write_bytes(b"this is not a pickle")
    (tmp_path / "test_batch").write_bytes(b"\x80\x04")
    with pytest.raises(DataError, match="data_batch_1"):
        load_dataset("cifar10", path=str(tmp_path))
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=4)
    with pytest.raises(DataError, match=r"expected 'data' as uint8 \[N, 3072\], got uint8 \[2, 100\]"):
        load_dataset("cifar10", path=str(tmp_path))



def _idx(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def _fake_mnist(root: Path, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", 30), ("t10k", 10)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, rank in (("images", x, 3), ("labels", y, 1)):
            name = f"{prefix}-{kind}-idx{rank}-ubyte"
            data = _idx(arr)
            if gz:
                (root / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
        out[prefix] = (x, y)
    return out["train"]


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_round_trip(tmp_path: Path, gz: bool) -> None:
    x, y = _fake_mnist(tmp_path, gz)
    ds = load_dataset("mnist", path=str(tmp_path))
    assert ds.info.input_shape == (1, 28, 28) and ds.info.train_size == 30 and ds.info.val_size == 10
    assert torch.equal(ds.y_train, torch.from_numpy(y.astype(np.int64)))
    back = (ds.x_train[:, 0] * ds.extra["std"][0] + ds.extra["mean"][0]) * 255
    assert torch.allclose(back, torch.from_numpy(x).float(), atol=1e-2)
    small = load_dataset("mnist", path=str(tmp_path), size=14, flatten=True)
    assert small.info.input_shape == (196,)


def test_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        load_dataset("mnist", path=str(tmp_path))
    _fake_mnist(tmp_path, gz=False)
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"PK\x03\x04 definitely not idx")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte is not an IDX file.*expected an IDX file"):
        load_dataset("mnist", path=str(tmp_path))
    bad.write_bytes(_idx(np.zeros((30, 28, 28), np.uint8))[:-5])
    with pytest.raises(DataError, match="truncated"):
        load_dataset("mnist", path=str(tmp_path))



def _write_images(folder: Path, colour: tuple[int, int, int], n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 30), colour).save(folder / f"img{i}.png")


def test_imagefolder_round_trip(tmp_path: Path) -> None:
    _write_images(tmp_path / "cats", (255, 0, 0), 5)
    _write_images(tmp_path / "dogs", (0, 0, 255), 5)
    (tmp_path / "dogs" / "notes.txt").write_text("ignored: not an image")
    ds = load_dataset("imagefolder", path=str(tmp_path), size=16)
    assert ds.info.classes == ("cats", "dogs") and ds.info.input_shape == (3, 16, 16)
    assert ds.info.train_size == 8 and ds.info.val_size == 2 and ds.augment
    assert set(ds.y_val.tolist()) == {0, 1}
    # red images are class 0: their red channel is above the (standardised) mean
    assert (ds.x_train[ds.y_train == 0, 0] > 0).all() and (ds.x_train[ds.y_train == 1, 0] < 0).all()


def test_imagefolder_presplit_and_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has no sub-folders"):
        load_dataset("imagefolder", path=str(tmp_path))
    for split, n in (("train", 4), ("val", 2)):
        _write_images(tmp_path / split / "a", (10, 200, 10), n)
        _write_images(tmp_path / split / "b", (200, 10, 10), n)
    ds = load_dataset("imagefolder", path=str(tmp_path), size=8)
    assert ds.info.train_size == 8 and ds.info.val_size == 4
    (tmp_path / "train" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        load_dataset("imagefolder", path=str(tmp_path))



def test_npz_infers_the_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    f = tmp_path / "cls.npz"
    np.savez(f, x=rng.normal(size=(20, 3, 8, 8)).astype(np.float32), y=np.arange(20) % 4)
    ds = load_dataset("npz", path=str(f))
    assert ds.info.task == "classification" and ds.info.num_classes == 4 and ds.info.input_shape == (3, 8, 8)
    assert ds.info.train_size + ds.info.val_size == 20

    f = tmp_path / "seq.npz"
    np.savez(f, x=rng.integers(0, 7, (20, 5)), y=np.arange(20) % 3,
             x_val=rng.integers(0, 7, (6, 5)), y_val=np.arange(6) % 3)
    ds = load_dataset("npz", path=str(f))
    assert ds.info.task == "sequence" and ds.info.vocab is not None and ds.info.vocab <= 7
    assert ds.info.val_size == 6 and ds.x_train.dtype == torch.int64

    f = tmp_path / "seg.npz"
    np.savez(f, x=rng.normal(size=(10, 1, 8, 8)), y=(rng.random((10, 8, 8)) > 0.5).astype(np.uint8))
    ds = load_dataset("npz", path=str(f))
    assert ds.info.task == "segmentation" and ds.y_train.shape[1:] == (1, 8, 8)

    f = tmp_path / "vec.npz"
    np.savez(f, x=rng.normal(size=(10, 5)), y=np.arange(10) % 2)
    assert load_dataset("npz", path=str(f)).info.input_shape == (5,)


def test_npz_errors(tmp_path: Path) -> None:
    f = tmp_path / "obj.npz"
    np.savez(f, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="obj.npz holds object .pickled. arrays"):
        load_dataset("npz", path=str(f))
    f = tmp_path / "nokey.npz"
    np.savez(f, inputs=np.zeros((4, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match=r"has arrays \['inputs', 'y'\]; expected a \.npz file with arr"):
        load_dataset("npz", path=str(f))
    f = tmp_path / "garbage.npz"
    f.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"garbage\.npz is not an \.npz archive") as info:
        load_dataset("npz", path=str(f))
    assert "allow_pickle" not in str(info.value)  # numpy's advice to unpickle is never passed on



def test_batches_deterministic_and_complete() -> None:
    x = torch.arange(10).float()[:, None]
    y = torch.arange(10)
    a, b = (list(batches(x, y, 4, shuffle=True, generator=torch.Generator().manual_seed(1))) for _ in "ab")
    assert [len(t[1]) for t in a] == [4, 4, 2]
    assert all(torch.equal(p[1], q[1]) for p, q in zip(a, b, strict=True))
    assert sorted(torch.cat([t[1] for t in a]).tolist()) == list(range(10))
    assert all(torch.equal(xb[:, 0].long(), yb) for xb, yb in a)  # x and y stay paired
    assert [len(t[1]) for t in batches(x, y, 4, shuffle=False, drop_last=True)] == [4, 4]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 60), frac=st.floats(0.05, 0.95), seed=st.integers(0, 5))
def test_split_indices_is_a_partition(n: int, frac: float, seed: int) -> None:
    y = np.arange(n) % 3
    tr, va = split_indices(y, n, frac, seed)
    assert len(np.intersect1d(tr, va)) == 0 and sorted(np.concatenate([tr, va]).tolist()) == list(range(n))


def test_augment_batch_matches_a_per_sample_reference() -> None:
    x = torch.randn(16, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0), pad=2)
    again = augment_batch(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape and torch.equal(out, again)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    gen = torch.Generator().manual_seed(0)
    oy, ox = torch.randint(0, 5, (16,), generator=gen), torch.randint(0, 5, (16,), generator=gen)
    flips = torch.rand(16, generator=gen) < 0.5
    for i in range(16):
        ref = padded[i, :, oy[i]:oy[i] + 8, ox[i]:ox[i] + 8]
        if flips[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
    assert 0 < int(flips.sum()) < 16
    flip_only = augment_batch(x, torch.Generator().manual_seed(0), pad=0)
    assert all(torch.equal(f, s) or torch.equal(f, s.flip(-1)) for f, s in zip(flip_only, x, strict=True))
