"""The arrays reader (.npy/.npz) on the Omniglot arrays and on small files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese.data import load_source
from siamese.errors import DataError


def test_omniglot_npz_flattens_class_and_drawing_axes(shared_data: Path) -> None:
    ds = load_source(
        "arrays", path=str(shared_data / "omniglot" / "images_evaluation.npz"), items_key="images"
    )
    assert len(ds) == 659 * 20 and ds.num_classes == 659 and ds.kind == "image"
    assert ds.item_shape == (1, 105, 105) and ds.items.dtype == np.uint8  # bool -> 0/255
    assert ds.sources[21].endswith("images_evaluation.npz[21]") and ds.labels[21] == 1


def test_npy_pair_string_labels_and_kinds(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(6, 10, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array(["b", "a", "b", "c", "a", "a"]))
    ds = load_source("arrays", path=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    assert (
        ds.kind == "sequence"
        and ds.class_names == ["a", "b", "c"]
        and ds.labels.tolist() == [1, 0, 1, 2, 0, 0]
    )
    assert ds.items.dtype == np.float32
    np.savez(
        tmp_path / "v.npz", features=x[:, 0], y=np.arange(6) % 2, names=np.array(["off", "on"])
    )
    ds = load_source("arrays", path=str(tmp_path / "v.npz"), class_names_key="names")
    assert ds.kind == "vector" and ds.class_names == ["off", "on"]


def test_bad_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", items=np.ones((4, 3)), labels=np.arange(3))
    with pytest.raises(
        DataError, match=r"labels of shape \(3,\) do not match items of shape \(4, 3\)"
    ):
        load_source("arrays", path=str(tmp_path / "a.npz"))
    with pytest.raises(
        DataError, match=r"items_key 'X' does not exist; the file holds items, labels"
    ):
        load_source("arrays", path=str(tmp_path / "a.npz"), items_key="X")
    x = np.ones((4, 3))
    x[2, 1] = np.inf
    np.savez(tmp_path / "b.npz", items=x, labels=np.arange(4))
    with pytest.raises(DataError, match=r"item 2 holds a NaN or infinite value at \(1,\)"):
        load_source("arrays", path=str(tmp_path / "b.npz"))
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"c.npz: not a valid .npz \(zip\) file"):
        load_source("arrays", path=str(tmp_path / "c.npz"))
