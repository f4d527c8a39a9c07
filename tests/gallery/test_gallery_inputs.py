"""Files and JSON payloads become items of the model's shape (images, series, vectors)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from siamese.errors import ConfigError, DataError
from siamese.gallery.inputs import ItemSpec, from_bytes, from_values, load_file, load_folder, stack

IMAGE = ItemSpec("image", (1, 12, 10), "uint8")
RGB = ItemSpec("image", (3, 12, 10), "uint8")
SERIES = ItemSpec("sequence", (6, 2), "float32", takes_lengths=True)
FIXED = ItemSpec("sequence", (6, 2), "float32")
VECTOR = ItemSpec("vector", (4,), "float32")


def test_images_are_converted_and_resized(tmp_path):
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(tmp_path / "a.png")
    gray, length = load_file(tmp_path / "a.png", IMAGE)
    assert gray.shape == (1, 12, 10) and gray.dtype == np.uint8 and length is None
    assert load_file(tmp_path / "a.png", RGB)[0].shape == (3, 12, 10)
    with pytest.raises(DataError, match="not a readable image"):
        from_bytes(b"not an image", "x.png", IMAGE)
    with pytest.raises(DataError, match="expected a .npy or .csv file for a vector item"):
        from_bytes(b"123", "x.png", VECTOR)


def test_series_from_csv_npy_and_lists(tmp_path):
    (tmp_path / "s.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    item, length = load_file(tmp_path / "s.csv", SERIES)
    assert item.shape == (6, 2) and length == 3 and np.all(item[3:] == 0)  # zero-padded
    np.save(tmp_path / "s.npy", np.ones((6, 2)))
    assert load_file(tmp_path / "s.npy", FIXED)[1] == 6
    with pytest.raises(DataError, match="expected exactly 6 time steps.*got 3"):
        load_file(tmp_path / "s.csv", FIXED)
    with pytest.raises(DataError, match="expected 1 to 6 time steps, got 9"):
        from_values(np.ones((9, 2)), SERIES)
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"bad\.csv:2: expected comma-separated numbers"):
        load_file(tmp_path / "bad.csv", SERIES)


def test_vectors_and_shape_errors(tmp_path):
    assert from_values([1, 2, 3, 4], VECTOR)[0].shape == (4,)
    (tmp_path / "v.csv").write_text("1\n2\n3\n4\n")  # one column
    assert load_file(tmp_path / "v.csv", VECTOR)[0].tolist() == [1, 2, 3, 4]
    with pytest.raises(
        DataError, match=r"expected a vector item of shape \(4,\), got shape \(3,\)"
    ):
        from_values([1, 2, 3], VECTOR)
    with pytest.raises(DataError, match="expected finite numbers"):
        from_values([1, 2, 3, float("nan")], VECTOR)
    with pytest.raises(DataError, match="expected numbers"):
        from_values(["a", "b", "c", "d"], VECTOR)
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "missing.npy", VECTOR)
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(DataError, match="not a readable .npy array"):
        load_file(tmp_path / "o.npy", VECTOR)


def test_stack_and_folder(tmp_path):
    batch, lengths = stack(
        [from_values(np.ones((3, 2)), SERIES), from_values(np.ones((6, 2)), SERIES)], SERIES
    )
    assert batch.shape == (2, 6, 2) and lengths.tolist() == [3, 6]
    for c in ("b", "a"):
        (tmp_path / c).mkdir()
        np.save(tmp_path / c / "1.npy", np.ones(4))
    items, lengths, labels = load_folder(tmp_path, VECTOR)
    assert items.shape == (2, 4) and lengths is None and labels == ["a", "b"]
    with pytest.raises(DataError, match="found none"):
        load_folder(tmp_path / "a", VECTOR)


def test_spec_from_model(mlp_model, make_identity):
    spec = ItemSpec.of(mlp_model)
    assert spec == ItemSpec("vector", (8,), "float32", False)
    bare = make_identity(3)
    bare.info = {}
    with pytest.raises(ConfigError, match="expected info.item_shape"):
        ItemSpec.of(bare)
