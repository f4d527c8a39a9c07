"""ImageFileStore: lazy decoding, grayscale/RGB conversion, resizing, cache bound, pickling."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from siamese.data import ImageFileStore, ItemStore


def _images(tmp_path: Path, n: int = 4) -> list[Path]:
    paths = []
    for k in range(n):
        arr = np.full((6, 9, 3), 20 * k, dtype=np.uint8)
        arr[..., 1] = 200
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(arr).save(paths[-1])
    return paths


def test_decodes_lazily_in_the_protocol_shape(tmp_path: Path) -> None:
    paths = _images(tmp_path)
    store = ImageFileStore(paths)
    assert isinstance(store, ItemStore) and store._cached == 0
    x = store.load(np.array([3, 0]))
    assert x.shape == (2, 3, 6, 9) and x.dtype == np.uint8
    assert x[0, 0, 0, 0] == 60 and x[0, 1, 0, 0] == 200  # channels first, order kept
    gray = ImageFileStore(paths, grayscale=True, size=(3, 4), invert=True).load(np.array([0]))
    assert gray.shape == (1, 1, 3, 4) and gray.max() < 255
    sub = store.subset(np.array([2]))
    assert len(sub) == 1 and (sub.load(np.array([0])) == store.load(np.array([2]))).all()


def test_cache_is_bounded_and_store_pickles(tmp_path: Path) -> None:
    paths = _images(tmp_path, 6)
    one = 3 * 6 * 9
    store = ImageFileStore(paths, cache_bytes=2 * one)
    store.load(np.arange(6))
    assert store._cached == 2 * one and list(store._cache) == [4, 5]
    clone = pickle.loads(pickle.dumps(store))
    assert clone._cached == 0 and (clone.load(np.array([1])) == store.load(np.array([1]))).all()


def test_reads_members_of_zip_archives(tmp_path: Path) -> None:
    paths = _images(tmp_path, 2)
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in paths:
            z.write(p, f"dir/{p.name}")
    store = ImageFileStore(["dir/1.png", str(paths[0])], archive=[archive, None])
    assert store.describe_file(0) == f"{archive}/dir/1.png"
    x = store.load(np.array([0, 1]))
    assert x[0, 0, 0, 0] == 20 and x[1, 0, 0, 0] == 0
    assert store.verify() == []
