"""Every file-reading path meets bad files with one clean error (issue 17, part 2).

Each kind of bad file is built in ``tmp_path``: missing, a folder instead of a file, empty, not
UTF-8, truncated, corrupt, or absurdly large (a decompression bomb, an ``.npy`` header claiming
10^12 values, a ``model.json`` asking for 2,000,000 channels, JSON nested 5,000 deep). The message
must name the file (and line or field), what was expected, and the fix.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from _limits import HANG_S
from PIL import Image

from siamese._read import parse_json, read_json, read_text
from siamese.data import load_omniglot_runs, load_source
from siamese.data.array_files import load_npy, load_npz
from siamese.data.image_file_store import ImageFileStore
from siamese.data.image_open import MAX_PIXELS, check_image
from siamese.encoders import create_encoder
from siamese.errors import DataError, ModelFileError, TooLargeError
from siamese.gallery.inputs import ItemSpec, from_bytes, load_file, load_folder
from siamese.model import SiameseModel

IMAGE = ItemSpec("image", (1, 16, 16), "uint8")
VECTOR = ItemSpec("vector", (4,), "float32")
LIMIT = r"more than the limit of 67,108,864 pixels"


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in a few dozen bytes (a "bomb")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png(value: int = 100, size: tuple[int, int] = (16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format="PNG")
    return buf.getvalue()


def noise_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG whose pixel data fill most of the file (so cutting it cuts the image data)."""
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def npy_claiming(count: int) -> bytes:
    """An ``.npy`` whose header claims ``count`` float64 values, followed by 64 bytes."""
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (count,)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + b"\x00" * 64


# --- images: one opener for every path -------------------------------------------------------
@pytest.mark.parametrize("side", [9000, 10000, 14000])  # ours < Pillow's warning < Pillow's error
def test_decompression_bombs_are_refused_from_the_header(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(side, side))
    assert side * side > MAX_PIXELS
    with pytest.raises(TooLargeError, match=rf"bomb.png: image of .*pixels, {LIMIT}.*downscale"):
        check_image(path, str(path))
    with pytest.raises(TooLargeError, match=rf"upload.png: .*{LIMIT}"):
        from_bytes(path.read_bytes(), "upload.png", IMAGE)
    with pytest.raises(TooLargeError, match=r"more than the limit of 1,000 pixels"):
        from_bytes(png(size=(40, 40)), "small.png", IMAGE, max_pixels=1000)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"x.png: not a readable image \(an empty file\); expected an image file"),
        (b"hello, world", r"x.png: not a readable image \(no format Pillow reads\)"),
        (
            noise_png()[:2000],
            r"x.png: cannot decode the image .*corrupt or truncated: replace or remove",
        ),
        (jpeg()[:400], r"x.png: cannot decode the image .*truncated"),
    ],
)
def test_broken_image_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        check_image(path, "x.png")
    with pytest.raises(DataError, match=match):
        from_bytes(content, "x.png", IMAGE)


def test_missing_and_folder_images(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone.png: image file does not exist"):
        check_image(tmp_path / "gone.png", "gone.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(DataError, match=r"dir.png: is a folder; expected an image file"):
        check_image(tmp_path / "dir.png", "dir.png")
    with pytest.raises(DataError, match=r"item file .*dir.png is a folder; expected a file"):
        load_file(tmp_path / "dir.png", IMAGE)


def test_every_bad_image_is_listed_when_the_dataset_loads(tmp_path: Path) -> None:
    """Found at load, before training: all bad files in one error, good ones untouched."""
    for cls in ("a", "b", "c"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i}.png").write_bytes(png(40 * i))
    (tmp_path / "a" / "1.png").write_bytes(noise_png()[:2000])  # truncated
    (tmp_path / "b" / "2.png").write_bytes(png_header(14000, 14000))  # bomb
    (tmp_path / "c" / "0.png").write_bytes(b"")  # empty
    with pytest.raises(DataError) as err:
        load_source("folders", path=str(tmp_path), size=8)
    message = str(err.value)
    assert message.startswith("3 of 9 file(s) cannot be used: ")
    for bad in ("a/1.png: cannot decode", "b/2.png: image of 196,000,000 pixels", "c/0.png: not"):
        assert bad in message, bad
    assert "\n" not in message and message.endswith("replace or remove the unreadable files")


def test_cheap_check_finds_what_a_full_decode_finds(tmp_path: Path) -> None:
    """``check`` (at load) and ``verify`` (full decode) agree on a mix of good and bad files."""
    files = []
    for i, data in enumerate([png(), jpeg(), jpeg()[:300], noise_png()[:999], b"junk", jpeg()]):
        files.append(tmp_path / f"{i}.img")
        files[-1].write_bytes(data)
    store = ImageFileStore(files, grayscale=True, size=(8, 8))
    assert [p["file"] for p in store.check()] == [p["file"] for p in store.verify()]
    assert [Path(p["file"]).name for p in store.check()] == ["2.img", "3.img", "4.img"]


def test_bad_member_of_an_image_zip(tmp_path: Path) -> None:
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as z:
        for k in range(3):
            z.writestr(f"alpha/char{k}/1.png", png() if k != 2 else png_header(14000, 14000))
            z.writestr(f"alpha/char{k}/2.png", png())
    with pytest.raises(DataError, match=r"^1 of 6 file\(s\) .*images.zip/alpha/char2/1.png: image"):
        load_source("omniglot", path=str(path))


# --- text files: folders, UTF-8, headers ----------------------------------------------------
def test_lfw_pairs_file_not_utf8_or_a_folder(tmp_path: Path) -> None:
    (tmp_path / "pairs.txt").write_bytes(b"1\nAnn\t1\t2\nAnn\t1\tB\xe9b\t1\n")
    with pytest.raises(
        DataError, match=r"pairs.txt, line 3: not UTF-8 text \(byte b'\\xe9'.*UTF-8"
    ):
        load_source("lfw", path=str(tmp_path))
    (tmp_path / "pairs.txt").unlink()
    (tmp_path / "pairs.txt").mkdir()
    with pytest.raises(DataError, match=r"LFW pairs file .*pairs.txt is a folder; expected a file"):
        load_source("lfw", path=str(tmp_path))


def test_csv_catalog_path_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").mkdir()
    with pytest.raises(DataError, match=r"CSV catalog .*catalog.csv is a folder; expected a file"):
        load_source("csv", path=str(tmp_path / "catalog.csv"))
    (tmp_path / "cat.csv").write_text("class,file\na,img\n")
    (tmp_path / "img").mkdir()
    with pytest.raises(DataError, match=r"img \(.*cat.csv:2, a folder\); fix the paths"):
        load_source("csv", path=str(tmp_path / "cat.csv"))


@pytest.mark.parametrize("source", ["tabular", "csv_windows"])
def test_csv_readers_folder_and_not_utf8(tmp_path: Path, source: str) -> None:
    extra = {"window": 2} if source == "csv_windows" else {}
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match=r"d.csv is a folder; expected a file"):
        load_source(source, path=str(tmp_path / "d.csv"), **extra)
    (tmp_path / "e.csv").write_bytes(b"a,label\n1,x\n2,\xff\n")
    with pytest.raises(DataError, match=r"e.csv, line 3: not UTF-8 text"):
        load_source(source, path=str(tmp_path / "e.csv"), **extra)


@pytest.mark.parametrize(
    ("source", "name", "options", "match"),
    [
        ("tabular", "t.csv", {}, r"t.csv: empty CSV"),
        ("csv_windows", "w.csv", {"window": 2}, r"w.csv: expected a header row and data rows"),
        ("csv", "c.csv", {}, r"c.csv: empty CSV; expected a header row"),
        ("ucr", "P_TRAIN.ts", {}, r"P_TRAIN.ts: no @data line"),
        ("lfw", "pairs.txt", {}, r"pairs.txt: empty pairs file"),
        ("arrays", "a.npz", {}, r"a.npz: not a valid .npz \(zip\) file"),
        ("omniglot", "images_background.npz", {}, r"images_background.npz: not a valid .npz"),
    ],
)
def test_empty_files(tmp_path: Path, source: str, name: str, options: dict, match: str) -> None:
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(DataError, match=match):
        load_source(source, path=str(tmp_path / name), **options)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("@dimensions abc", r"line 3: @dimensions 'abc': expected a positive whole number"),
        ("@seriesLength -3", r"line 3: @seriesLength '-3': expected a positive whole number"),
        ("@univariate maybe", r"line 3: @univariate 'maybe': expected true or false"),
    ],
)
def test_ucr_malformed_header(tmp_path: Path, header: str, match: str) -> None:
    path = tmp_path / "P_TRAIN.ts"
    path.write_text(f"@problemName P\n@classLabel true a b\n{header}\n@data\n1,2,3:a\n")
    with pytest.raises(DataError, match=rf"P_TRAIN.ts, {match}"):
        load_source("ucr", path=str(path))


def test_ucr_not_utf8_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "P_TRAIN.ts"
    path.write_bytes(b"@classLabel true a b\n@data\n1,2,3:a\n1,2,\xff:b\n")
    with pytest.raises(DataError, match=r"P_TRAIN.ts, line 4: not UTF-8 text"):
        load_source("ucr", path=str(path))
    (tmp_path / "P" / "P_TRAIN.ts").mkdir(parents=True)
    with pytest.raises(DataError, match=r"UCR train file .*P_TRAIN.ts is a folder"):
        load_source("ucr", path=str(tmp_path / "P"))


def test_omniglot_runs_labels_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "all_runs.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("run01/class_labels.txt", b"run01/test/item01.png run01/training/cl\xe4ss01.png")
    with pytest.raises(DataError, match=r"all_runs.zip/run01/class_labels.txt, line 1: not UTF-8"):
        load_omniglot_runs(path)


# --- arrays: headers are checked against the file before allocating -------------------------
def test_npy_header_claiming_a_trillion_values(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(npy_claiming(10**12))
    claim = r"header claims shape \(1000000000000,\) \(float64, 8,000,000,000,000 bytes\)"
    with pytest.raises(DataError, match=rf"x.npy: not a readable .npy array: its {claim} but the"):
        load_npy(path)
    with pytest.raises(DataError, match=rf"{claim} but the file holds 64 bytes"):
        from_bytes(path.read_bytes(), "q.npy", VECTOR)
    np.save(tmp_path / "y.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match=r"x.npy: not a readable .npy array: its header claims"):
        load_source("arrays", path=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("items.npy", npy_claiming(10**12))
    with pytest.raises(DataError, match=r"z.npz:items.npy: not a readable .npy array: its header"):
        load_source("arrays", path=str(tmp_path / "z.npz"))
    with pytest.raises(DataError, match=r"z.npz:items.npy: not a readable .npy array"):
        load_source("omniglot", path=str(tmp_path / "z.npz"))


def test_npy_truncated_objects_folder(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(10.0))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-8])
    with pytest.raises(DataError, match=r"holds 72 bytes of data; the file is truncated"):
        load_npy(tmp_path / "a.npy")
    np.save(tmp_path / "o.npy", np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"o.npy: not a readable .npy array: it holds Python"):
        load_npy(tmp_path / "o.npy")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(DataError, match=r"array file .*d.npz is a folder; expected a file"):
        load_npz(tmp_path / "d.npz")
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"e.npz: not a valid .npz \(zip\) file"):
        load_npz(tmp_path / "e.npz")


# --- JSON -------------------------------------------------------------------------------------
def test_json_deep_malformed_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"body: JSON nested too deep to parse"):
        parse_json("[" * 5000 + "]" * 5000, "body")
    with pytest.raises(DataError, match=r"body, line 2, column 1: malformed JSON"):
        parse_json('{"a": 1,\n}', "body")
    (tmp_path / "g.json").write_bytes(b'{"a":\n "\xff"}')
    with pytest.raises(DataError, match=r"g.json, line 2: not UTF-8 text"):
        read_json(tmp_path / "g.json")
    (tmp_path / "big.txt").write_bytes(b"x" * 2000)
    with pytest.raises(DataError, match=r"big.txt: 2,000 bytes, more than the 1,000"):
        read_text(tmp_path / "big.txt", "notes file", max_bytes=1000)


# --- model files: nothing is allocated before model.json and the weights agree ---------------
def _saved_conv4(folder: Path) -> dict:
    args = {"input_shape": [1, 16, 16], "channels": 4, "embedding_dim": 3}
    torch.manual_seed(0)
    model = SiameseModel(
        create_encoder("conv4", **args),
        encoder_name="conv4",
        encoder_args=args,
        info={"kind": "image", "item_shape": [1, 16, 16]},
    )
    model.save(folder)
    return json.loads((folder / "model.json").read_text())


def _tamper(folder: Path, cfg: dict, **changes) -> None:
    cfg = json.loads(json.dumps(cfg))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            cfg[section]["args" if section == "encoder" else section][field] = value
        else:
            cfg[section] = value
    (folder / "model.json").write_text(json.dumps(cfg))


def test_model_json_asking_for_two_million_channels(tmp_path: Path) -> None:
    cfg = _saved_conv4(tmp_path)
    SiameseModel.load(tmp_path)  # the untouched files load
    _tamper(tmp_path, cfg, encoder__channels=2_000_000)
    with pytest.raises(
        ModelFileError,
        match=r"model.safetensors: weights do not match model.json \(shapes differ: "
        r"encoder.features.0.weight \(4, 1, 3, 3\) in the file vs \(2000000, 1, 3, 3\).*re-save",
    ):
        SiameseModel.load(tmp_path)
    _tamper(tmp_path, cfg, head={"name": "pair_head", "dim": 10**12})
    with pytest.raises(ModelFileError, match=r"weights do not match .*missing: head.linear.weight"):
        SiameseModel.load(tmp_path)
    _tamper(tmp_path, cfg, head={"name": "pair_head", "dim": "big"})
    with pytest.raises(ModelFileError, match=r"head.dim: expected an integer, got 'big'"):
        SiameseModel.load(tmp_path)
    _tamper(tmp_path, cfg, encoder__embedding_dim=-5)
    with pytest.raises(
        ModelFileError,
        match=r"model.json: the model cannot be built from its encoder and head arguments "
        r"\(Trying to create tensor with negative dimension -5",
    ):
        SiameseModel.load(tmp_path)


def test_model_json_deep_not_utf8_or_wrong_types(tmp_path: Path) -> None:
    cfg = _saved_conv4(tmp_path)
    (tmp_path / "model.json").write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(ModelFileError, match=r"corrupt model config: .*nested too deep"):
        SiameseModel.load(tmp_path)
    (tmp_path / "model.json").write_bytes(b'{"encoder": "\xff"}')
    with pytest.raises(ModelFileError, match=r"model.json, line 1: not UTF-8 text"):
        SiameseModel.load(tmp_path)
    _tamper(tmp_path, cfg, encoder=["conv4"])
    with pytest.raises(
        ModelFileError, match=r"model.json: corrupt model config \(encoder: expected"
    ):
        SiameseModel.load(tmp_path)
    _tamper(tmp_path, cfg, info=5)
    with pytest.raises(ModelFileError, match=r"model.json: corrupt model config"):
        SiameseModel.load(tmp_path)


def test_truncated_or_empty_model_files(tmp_path: Path) -> None:
    _saved_conv4(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    for broken in (data[: len(data) // 2], b""):
        (tmp_path / "model.safetensors").write_bytes(broken)
        with pytest.raises(ModelFileError, match=r"model.safetensors: corrupt weights file"):
            SiameseModel.load(tmp_path)
    (tmp_path / "model.json").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"model.json, line 1, column 1: malformed JSON"):
        SiameseModel.load(tmp_path)


# --- the gallery's item decoders ---------------------------------------------------------------
def test_item_decoders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"q.csv, line 2: not UTF-8 text"):
        from_bytes(b"1,2,3,4\n5,6,7,\xff\n", "q.csv", VECTOR)
    for cls, files in {"a": [png(), noise_png()[:2000]], "b": [png(), b""]}.items():
        (tmp_path / cls).mkdir()
        for k, data in enumerate(files):
            (tmp_path / cls / f"{k}.png").write_bytes(data)
    with pytest.raises(
        DataError, match=r"^2 of 4 file\(s\) in .* cannot be used: .*a/1.png: cannot .*b/1.png: not"
    ):
        load_folder(tmp_path, IMAGE)


# --- the command line: exit 2, one line, no traceback, nothing written -------------------------
def _image_folders(root: Path, bad: dict[str, bytes]) -> Path:
    for c in "abcd":
        (root / c).mkdir(parents=True)
        for i in range(3):
            (root / c / f"{i}.png").write_bytes(png(30 * i + 10))
    for name, data in bad.items():
        (root / name).write_bytes(data)
    return root


def _cli(capsys, *args: str) -> tuple[int, str]:
    from siamese.cli.app import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err.strip()


def test_cli_train_inspect_enroll_identify_verify_exit_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = {"b/2.png": png_header(14000, 14000), "c/1.png": noise_png()[:2000]}
    data = _image_folders(tmp_path / "data", bad)
    listed = r"^error: 2 of 12 file\(s\) cannot be used: .*b/2.png: image of .*c/1.png: cannot"
    (tmp_path / "cfg.toml").write_text(
        'name = "bad"\nout_dir = "runs"\n[data]\nsource = "folders"\npath = "data"\nsize = 16\n'
        '[model]\nencoder = "conv4"\n[training]\nepochs = 1\n'
    )
    for args in (
        ["train", "--config", "cfg.toml"],
        ["data", "inspect", "--source", "folders", "-o", f"path={data}", "-o", "size=16"],
    ):
        code, err = _cli(capsys, *args)
        assert code == 2 and len(err.splitlines()) == 1 and re.search(listed, err), err
    assert not (tmp_path / "runs").exists()  # found before anything was trained or written
    run = tmp_path / "run"
    _saved_conv4(run)
    code, err = _cli(capsys, "enroll", str(run), "--folder", str(data), "--out", "g")
    assert code == 2 and re.search(r"^error: 2 of 12 file\(s\) in .*data cannot be used", err)
    assert not (tmp_path / "g").exists()
    good = _image_folders(tmp_path / "good", {})
    code, _ = _cli(capsys, "enroll", str(run), "--folder", str(good), "--out", "g")
    assert code == 0
    for args in (["identify", "g"], ["verify", str(run), str(good / "a" / "0.png")]):
        code, err = _cli(capsys, *args, str(data / "b" / "2.png"))
        assert code == 2 and len(err.splitlines()) == 1, err
        assert re.search(rf"^error: .*b/2.png: image of 196,000,000 pixels, {LIMIT}", err), err


@pytest.mark.slow  # a fresh process, to see what a user sees
def test_cli_bomb_between_pillows_limits_is_one_line(tmp_path: Path) -> None:
    """In a real process Pillow's DecompressionBombWarning (89M-179M pixels) ends as the same one
    line, with no warning printed beside it."""
    import subprocess
    import sys

    data = _image_folders(tmp_path, {"a/0.png": png_header(10000, 10000)})
    done = subprocess.run(
        [sys.executable, "-m", "siamese", "data", "inspect", "--source", "folders"]
        + ["-o", f"path={data}", "-o", "size=16"],
        capture_output=True,
        text=True,
        timeout=HANG_S,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: 1 of 12 file(s) cannot be used: {data}/a/0.png: image of 100,000,000 pixels, "
        "more than the limit of 67,108,864 pixels (e.g. 8192 x 8192); downscale the image; "
        "replace or remove the unreadable files"
    ]
