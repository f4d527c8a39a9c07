"""How every command meets bad input: one line, exit 2, nothing written — or not.

Runs the installed ``siamese`` console script (a new process each, as a user would) on bad inputs
of every kind — config values out of range or of the wrong type, unreadable and hostile files,
options out of range, output paths that are taken, usage errors, resuming damaged runs — and
prints for each whether it was clean: exit code 2, no ``Traceback``, every stderr line an
``error:`` line (a config with several errors has one line each) or at most two lines (an error
and its hint), nothing left at the paths the command must not write, and the files it must not
change unchanged. Then ``siamese serve`` of an image gallery meets hostile requests (a
decompression bomb, an ``.npy`` claiming 10^12 values, JSON 5,000 deep, ...): clean is a 4xx
answer with a one-line ``detail`` (never a 500) and a server that still answers ``/health``.
The last line is the share of clean cases.

    python benchmarks/bad_inputs.py            # every case (about 2 s a case)
    python benchmarks/bad_inputs.py --quick    # a few cases of each kind (the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gallery_scale import stop_server  # noqa: E402  (one way to stop a benchmark server)

TRAFFIC = ["data.n_per_pattern=6", "data.length=24"]
LSTM = [
    "model.hidden_size=8",
    "model.num_layers=1",
    "model.embedding_dim=4",
    "model.dense=[8]",
]
LOOP = [
    "training.epochs=1",
    "training.steps_per_epoch=2",
    "training.progress=false",
    "evaluation.episodes=10",
    "evaluation.val_episodes=5",
    "evaluation.pairs=20",
    "sampling.batch_size=8",
]
TINY = TRAFFIC + LSTM + LOOP


def siamese(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = shutil.which("siamese")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "siamese", *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def sets(*pairs: str) -> list[str]:
    return [a for p in pairs for a in ("--set", p)]


def prepare(work: Path) -> dict[str, Path]:
    """A tiny trained run, a gallery, query files, and every hostile file the cases read."""
    from PIL import Image

    out = siamese("train", *sets('name="tiny"', f'out_dir="{work / "runs"}"', *TINY), cwd=work)
    if out.returncode != 0:
        raise SystemExit(f"set-up: training the tiny run failed:\n{out.stderr}")
    run = work / "runs" / "tiny"
    out = siamese(
        "enroll", str(run), "--source", "traffic", "--option", "n_per_pattern=3",
        "--option", "length=24", "--out", str(work / "gallery"), cwd=work,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"set-up: enrolling failed:\n{out.stderr}")
    f = {"run": run, "gallery": work / "gallery"}
    f["query"] = work / "query.npy"
    np.save(f["query"], np.random.default_rng(0).normal(size=(24, 5)).astype(np.float32))
    f["bomb"] = work / "bomb.png"
    Image.new("1", (14000, 14000)).save(f["bomb"])
    f["faces"] = work / "faces"
    for c in ("a", "b"):
        (f["faces"] / c).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (16, 16), 40 * i).save(f["faces"] / c / f"{i}.png")
    shutil.copy(f["bomb"], f["faces"] / "a" / "2.png")
    f["broken_png"] = work / "broken.png"
    f["broken_png"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    f["latin1_cfg"] = work / "latin1.toml"
    f["latin1_cfg"].write_bytes(b'name = "caf\xe9"\n')
    f["a_file"] = work / "a_file"
    f["a_file"].write_text("x")
    f["lfw"] = work / "lfw"
    (f["lfw"] / "images").mkdir(parents=True)
    (f["lfw"] / "pairs.txt").write_bytes(b"1\t1\nJos\xe9\t1\t2\n")
    f["ucr"] = work / "ucr"
    f["ucr"].mkdir()
    for part in ("TRAIN", "TEST"):
        (f["ucr"] / f"ucr_{part}.ts").write_text(
            "@problemName X\n@timeStamps false\n@univariate true\n@dimensions abc\n"
            "@equalLength true\n@seriesLength 3\n@classLabel true a b\n@data\n1,2,3:a\n"
        )
    f["big_npy"] = work / "big.npy"
    with open(f["big_npy"], "wb") as fh:  # a header claiming 10^12 float32 values
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
        )
    f["huge_model"] = work / "huge_model"
    shutil.copytree(run, f["huge_model"], ignore=shutil.ignore_patterns("checkpoints"))
    meta = json.loads((f["huge_model"] / "model.json").read_text())
    meta["encoder"]["args"]["hidden_size"] = 2_000_000
    (f["huge_model"] / "model.json").write_text(json.dumps(meta))
    f["escape_gallery"] = work / "escape_gallery"
    shutil.copytree(f["gallery"], f["escape_gallery"])
    g = json.loads((f["escape_gallery"] / "gallery.json").read_text())
    g["model"] = "../runs/tiny"
    (f["escape_gallery"] / "gallery.json").write_text(json.dumps(g))
    f["deep_json"] = work / "deep.json"
    f["deep_json"].write_text("[" * 5000 + "]" * 5000)
    f["taken"] = work / "taken"
    f["taken"].mkdir()
    (f["taken"] / "keep.txt").write_text("x")
    _more_files(f, work, Image)
    return f


def _more_files(f: dict[str, Path], work: Path, image: Any) -> None:
    """The hostile files of the cases added for issue 17's full list."""
    f["broken_faces"] = work / "broken_faces"
    for c in ("a", "b", "c", "d"):
        (f["broken_faces"] / c).mkdir(parents=True)
        for i in range(3):
            image.new("L", (16, 16), 30 * i + 10).save(f["broken_faces"] / c / f"{i}.png")
    shutil.copy(f["broken_png"], f["broken_faces"] / "c" / "3.png")  # found at load, not later
    f["good_faces"] = work / "good_faces"
    shutil.copytree(f["broken_faces"], f["good_faces"])
    (f["good_faces"] / "c" / "3.png").unlink()
    f["inspect_cfg"] = work / "inspect.toml"
    f["inspect_cfg"].write_text(
        '[data]\nsource = "traffic"\nn_per_pattern = 4\n[trainig]\nepochs = 2\n'
    )
    f["typed_cfg"] = work / "typed.toml"
    f["typed_cfg"].write_text(
        f'name = "bad"\nout_dir = "{work / "runs"}"\n[model]\nhidden_size = "big"\n'
        '[training]\nepochs = "x"\nlearning_rate = -1\n[sampling]\np = 1.5\n'
    )
    f["empty_npy"] = work / "empty.npy"
    f["empty_npy"].write_bytes(b"")
    f["truncated_npy"] = work / "truncated.npy"
    f["truncated_npy"].write_bytes(f["query"].read_bytes()[:-100])
    f["latin1_csv"] = work / "catalog.csv"
    f["latin1_csv"].write_bytes(b"path,label\nimg/caf\xe9.png,a\n")
    f["latin1_ucr"] = work / "latin1_ucr"
    f["latin1_ucr"].mkdir()
    for part in ("TRAIN", "TEST"):
        (f["latin1_ucr"] / f"latin1_ucr_{part}.ts").write_bytes(
            b"@problemName caf\xe9\n@timeStamps false\n@univariate true\n@equalLength true\n"
            b"@seriesLength 3\n@classLabel true a b\n@data\n1,2,3:a\n"
        )
    f["short_weights"] = work / "short_weights"
    shutil.copytree(f["run"], f["short_weights"], ignore=shutil.ignore_patterns("checkpoints"))
    weights = f["short_weights"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    f["bad_db_gallery"] = work / "bad_db_gallery"
    shutil.copytree(f["gallery"], f["bad_db_gallery"])
    (f["bad_db_gallery"] / "gallery.db").write_bytes(b"x" * 5000)
    f["huge_gallery"] = work / "huge_gallery"
    shutil.copytree(f["gallery"], f["huge_gallery"])
    shutil.copy(f["huge_model"] / "model.json", f["huge_gallery"] / "model" / "model.json")
    f["damaged"] = work / "runs" / "damaged"  # a run whose last checkpoint was truncated
    shutil.copytree(f["run"], f["damaged"])
    manifest = json.loads((f["damaged"] / "checkpoints" / "last.json").read_text())
    tensors = f["damaged"] / "checkpoints" / manifest["tensors"]
    tensors.write_bytes(tensors.read_bytes()[:-1])
    cfg = json.loads((f["damaged"] / "config.json").read_text())
    cfg["name"] = "damaged"
    (f["damaged"] / "config.json").write_text(json.dumps(cfg))
    f["damaged_cfg"] = work / "damaged.json"
    f["damaged_cfg"].write_text(json.dumps(cfg))


def cases(f: dict[str, Path], work: Path) -> list[tuple[str, str, list[str], list[Path]]]:
    """(kind, name, argv, paths that must not exist afterwards)."""
    runs = work / "runs"
    base = ['name="bad"', f'out_dir="{runs}"', *TINY]
    bad_run = runs / "bad"

    def train(*extra: str) -> list[str]:
        return ["train", *sets(*base, *extra)]

    def train_other(*extra: str) -> list[str]:  # another source: no traffic or LSTM options
        return ["train", *sets('name="bad"', f'out_dir="{runs}"', *LOOP, *extra)]

    out: list[tuple[str, str, list[str], list[Path]]] = []
    for key, value in [
        ("training.learning_rate", "-1"),
        ("training.learning_rate", "nan"),
        ("training.epochs", "-3"),
        ("training.steps_per_epoch", "0"),
        ("training.patience", "-1"),
        ("training.on_collapse", '"panic"'),
        ("evaluation.k_shot", "0"),
        ("evaluation.n_way", "50"),
        ("model.hidden_size", '"big"'),
        ("model.embedding_dim", "-5"),
        ("objective.margin", "nan"),
        ("objective.margin", '"wide"'),
        ("sampling.p", "0"),
        ("sampling.batch_size", "0"),
        ("mining.strategy", '"hardest_ever"'),
        ("mining.schedule", '"zigzag"'),
        ("name", '"../../x"'),
        ("out_dir", f'"{f["a_file"]}"'),
        ("data.source", '"nope"'),
        ("nosection.key", "1"),
    ]:
        out.append(("config", f"{key}={value}", train(f"{key}={value}"), [bad_run]))
    out.append(("config", "config not UTF-8", ["train", "-c", str(f["latin1_cfg"])], [bad_run]))
    out.append(("config", "config missing", ["train", "-c", str(work / "nope.toml")], [bad_run]))
    image = ['data.source="folders"', f'data.path="{f["faces"]}"', "data.size=16"]
    image += [
        'model.encoder="conv4"',
        "model.channels=4",
        "data.val_fraction=0",
        "data.test_fraction=0.5",
    ]
    out += [
        ("files", "bomb PNG in a training folder", train_other(*image), [bad_run]),
        (
            "files",
            "LFW pairs not UTF-8",
            train_other('data.source="lfw"', f'data.path="{f["lfw"]}"'),
            [bad_run],
        ),
        (
            "files",
            "csv path is a folder",
            train_other('data.source="csv"', f'data.path="{f["faces"]}"'),
            [bad_run],
        ),
        (
            "files",
            "UCR @dimensions abc",
            train_other('data.source="ucr"', f'data.path="{f["ucr"]}"', 'data.split="protocol"'),
            [bad_run],
        ),
        ("files", "data inspect of a bomb folder", ["data", "inspect", "--source", "folders", "-o", f"path={f['faces']}"], []),
        ("files", "identify a bomb PNG", ["identify", str(f["gallery"]), str(f["bomb"])], []),
        ("files", "identify a broken PNG", ["identify", str(f["gallery"]), str(f["broken_png"])], []),
        ("files", "identify an .npy claiming 10^12 values", ["identify", str(f["gallery"]), str(f["big_npy"])], []),
        ("files", "identify a missing file", ["identify", str(f["gallery"]), str(work / "none.npy")], []),
        ("files", "model.json asking for 2,000,000 units", ["evaluate", str(f["huge_model"])], []),
        ("files", "gallery.json model outside the gallery", ["identify", str(f["escape_gallery"]), str(f["query"])], []),
        ("files", "JSON 5,000 deep as a config", ["train", "-c", str(f["deep_json"])], [bad_run]),
        ("files", "enroll from a folder with a bomb", ["enroll", str(f["run"]), "--folder", str(f["faces"]), "--out", str(work / "g2")], [work / "g2"]),
        ("outputs", "report -o an existing folder", ["report", str(f["run"]), "-o", str(f["taken"])], []),
        ("outputs", "export --out an existing folder", ["export", str(f["run"]), "--format", "onnx", "--out", str(f["taken"])], []),
        ("outputs", "enroll --out an existing file", ["enroll", str(f["run"]), *TRAFFIC_SRC, "--out", str(f["a_file"])], []),
        ("options", "evaluate --n-way 0", ["evaluate", str(f["run"]), "--n-way", "0"], []),
        ("options", "evaluate --episodes -5", ["evaluate", str(f["run"]), "--episodes", "-5"], []),
        ("options", "enroll --threshold nan", ["enroll", str(f["run"]), *TRAFFIC_SRC, "--threshold", "nan", "--out", str(work / "g3")], [work / "g3"]),
        ("options", "enroll --crowding -1", ["enroll", str(f["run"]), *TRAFFIC_SRC, "--crowding", "-1", "--out", str(work / "g4")], [work / "g4"]),
        ("options", "identify -k 0", ["identify", str(f["gallery"]), str(f["query"]), "-k", "0"], []),
        ("options", "identify -k -3", ["identify", str(f["gallery"]), str(f["query"]), "-k", "-3"], []),
        ("options", "serve --port 99999", ["serve", str(f["gallery"]), "--port", "99999"], []),
        ("options", "serve --max-request-mb -1", ["serve", str(f["gallery"]), "--max-request-mb", "-1"], []),
        ("usage", "train --bogus", ["train", "--bogus"], []),
        ("usage", "identify --nope", ["identify", "--nope"], []),
        ("usage", "nosuchcommand", ["nosuchcommand"], []),
        ("usage", "evaluate without a run folder", ["evaluate"], []),
        ("usage", "identify without a gallery", ["identify"], []),
        ("usage", "train without arguments", ["train"], [runs / "run"]),
        ("usage", "evaluate --n-way abc", ["evaluate", str(f["run"]), "--n-way", "abc"], []),
    ]  # fmt: skip
    out += _more_cases(f, work, train, train_other, bad_run)
    return out


def _more_cases(
    f: dict[str, Path], work: Path, train: Any, train_other: Any, bad_run: Path
) -> list:
    """Issue 17's examples the first 53 cases left out, and more of each kind."""
    runs = work / "runs"
    image = ["data.size=16", 'model.encoder="conv4"', "model.channels=4", "data.test_fraction=0.5"]
    broken = ['data.source="folders"', f'data.path="{f["broken_faces"]}"', *image]
    gallery, query = str(f["gallery"]), str(f["query"])
    return [
        ("config", "several wrong types and ranges at once", ["train", "-c", str(f["typed_cfg"])], [bad_run]),
        ("config", "config file is a folder", ["train", "-c", str(f["taken"])], [bad_run]),
        ("config", "mining.threshold=1.5", train("mining.threshold=1.5"), [bad_run]),
        ("config", "data.val_fraction=0.9 (+ test 0.2 >= 1)", train("data.val_fraction=0.9"), [bad_run]),
        ("config", "training.precision=\"fp8\"", train('training.precision="fp8"'), [bad_run]),
        ("config", "data inspect --config with an unknown [section]", ["data", "inspect", "--config", str(f["inspect_cfg"])], []),
        ("too late", "broken PNG in a training folder", train_other(*broken), [bad_run]),
        ("files", "CSV catalog not UTF-8", train_other('data.source="csv"', f'data.path="{f["latin1_csv"]}"'), [bad_run]),
        ("files", "UCR .ts not UTF-8", train_other('data.source="ucr"', f'data.path="{f["latin1_ucr"]}"', 'data.split="protocol"'), [bad_run]),
        ("files", "identify an empty .npy", ["identify", gallery, str(f["empty_npy"])], []),
        ("files", "identify a truncated .npy", ["identify", gallery, str(f["truncated_npy"])], []),
        ("files", "identify a folder as the query", ["identify", gallery, str(f["taken"])], []),
        ("files", "verify a bomb PNG", ["verify", str(f["run"]), str(f["bomb"]), query], []),
        ("files", "evaluate truncated model.safetensors", ["evaluate", str(f["short_weights"])], []),
        ("files", "identify with a corrupt gallery.db", ["identify", str(f["bad_db_gallery"]), query], []),
        ("files", "export the 2,000,000-unit model.json", ["export", str(f["huge_model"]), "--format", "onnx", "--out", str(work / "e.onnx")], [work / "e.onnx"]),
        ("files", "enroll with the 2,000,000-unit model.json", ["enroll", str(f["huge_model"]), *TRAFFIC_SRC, "--out", str(work / "g5")], [work / "g5"]),
        ("files", "verify with the 2,000,000-unit model.json", ["verify", str(f["huge_model"]), query, query], []),
        ("files", "serve a gallery whose model.json asks 2,000,000", ["serve", str(f["huge_gallery"]), "--port", "1"], []),
        ("files", "enroll from a folder with a broken PNG", ["enroll", str(f["run"]), "--folder", str(f["broken_faces"]), "--out", str(work / "g6")], [work / "g6"]),
        ("outputs", "train into an existing run without --resume", ["train", *sets('name="tiny"', f'out_dir="{runs}"', *TINY)], []),
        ("resume", "train --resume of a damaged checkpoint", ["train", "-c", str(f["damaged_cfg"]), "--resume"], []),
        ("resume", "train --resume without a checkpoint", ["train", *sets('name="fresh"', f'out_dir="{runs}"', *TINY), "--resume"], [runs / "fresh"]),
        ("options", "evaluate --n-way 50 (2 test classes)", ["evaluate", str(f["run"]), "--n-way", "50"], []),
        ("options", "verify --threshold nan", ["verify", str(f["run"]), query, query, "--threshold", "nan"], []),
        ("options", "serve on a busy port", ["serve", gallery, "--port", "{busy_port}"], []),
        ("options", "sweep --grid training.epochs=-1,2", ["sweep", "--grid", "training.epochs=-1,2", "--name", "sw", "--set", f'out_dir="{runs}"'], [runs / "sw"]),
        ("options", "mine --features a missing file", ["mine", "--source", "traffic", "--features", str(work / "none.npy")], []),
    ]  # fmt: skip


def service_cases(f: dict[str, Path], work: Path) -> list[dict[str, Any]]:
    """``siamese serve`` of an image gallery (a tiny conv4 on 16x16 faces) meets hostile
    requests: each must get a 4xx with a one-line detail, and the server must stay up."""
    import base64
    import io

    import httpx
    from PIL import Image

    image = ['data.source="folders"', f'data.path="{f["good_faces"]}"', "data.size=16"]
    image += ['model.encoder="conv4"', "model.channels=4", "data.test_fraction=0.5"]
    image += ["data.val_fraction=0"]  # 4 classes: 2 to train on, 2 to test
    out = siamese(
        "train", *sets('name="faces"', f'out_dir="{work / "runs"}"', *LOOP, *image), cwd=work
    )
    if out.returncode != 0:
        raise SystemExit(f"set-up: training the image run failed:\n{out.stderr}")
    gallery = work / "faces_gallery"
    out = siamese(
        "enroll",
        str(work / "runs" / "faces"),
        "--folder",
        str(f["good_faces"]),
        "--out",
        str(gallery),
        cwd=work,
    )
    if out.returncode != 0:
        raise SystemExit(f"set-up: enrolling the faces failed:\n{out.stderr}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("siamese")
    cmd = [exe] if exe else [sys.executable, "-m", "siamese"]
    server = subprocess.Popen(
        [*cmd, "serve", str(gallery), "--port", str(port), "--max-pixels", "1000000"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    png = io.BytesIO()
    Image.new("L", (16, 16), 99).save(png, format="PNG")
    good = {"image_base64": b64(png.getvalue())}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("decompression-bomb PNG", "/identify", {"json": {"items": [{"image_base64": b64(f["bomb"].read_bytes())}]}}),
        (".npy claiming 10^12 values (upload)", "/identify", {"files": {"files": ("big.npy", f["big_npy"].read_bytes())}}),
        ("JSON nested 5,000 deep", "/identify", {"content": b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}", "headers": {"content-type": "application/json"}}),
        ("broken PNG", "/identify", {"json": {"items": [{"image_base64": b64(f["broken_png"].read_bytes())}]}}),
        ("not base64", "/identify", {"json": {"items": [{"image_base64": "%%% not base64 %%%"}]}}),
        ("k = 0", "/identify", {"json": {"items": [good], "k": 0}}),
        ("an item with both fields", "/identify", {"json": {"items": [{**good, "values": [1, 2]}]}}),
        ("numbers of the wrong shape", "/identify", {"json": {"items": [{"values": [1, 2, 3]}]}}),
        ("enroll the reserved class 'unknown'", "/enroll", {"json": {"items": [good], "labels": ["unknown"]}}),
        ("enroll labels and items of other lengths", "/enroll", {"json": {"items": [good], "labels": ["a", "b"]}}),
        ("verify with one side missing", "/verify", {"json": {"a": [good]}}),
        ("not JSON at all", "/identify", {"content": b"\xff\xfe garbage", "headers": {"content-type": "application/json"}}),
    ]  # fmt: skip
    rows = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for name, path, kw in requests:
            problems, message = [], ""
            try:
                r = httpx.post(url + path, timeout=60, **kw)
                try:
                    detail = r.json().get("detail")
                except ValueError:
                    detail = None
                message = f"{r.status_code} {detail}"
                if not 400 <= r.status_code < 500:
                    problems.append(f"HTTP {r.status_code}")
                if not isinstance(detail, str) or "\n" in detail:
                    problems.append("no one-line detail")
                if httpx.get(url + "/health", timeout=5).status_code != 200:
                    problems.append("/health failed afterwards")
            except httpx.HTTPError as exc:
                problems.append(f"no answer ({type(exc).__name__})")
            rows.append({"kind": "service", "case": name, "clean": not problems,
                         "problems": problems, "exit": None, "message": message})  # fmt: skip
    finally:
        stop_server(server)
    return rows


TRAFFIC_SRC = ["--source", "traffic", "--option", "n_per_pattern=3", "--option", "length=24"]
QUICK = {"training.learning_rate=-1", "model.hidden_size=\"big\"", "bomb PNG in a training folder",
         "identify an .npy claiming 10^12 values", "report -o an existing folder",
         "identify -k 0", "train --bogus", "train without arguments"}  # fmt: skip


# cases that must leave a folder exactly as it was (every file's bytes)
UNCHANGED = {
    "train into an existing run without --resume": "run",
    "train --resume of a damaged checkpoint": "damaged",
    "export --out an existing folder": "taken",
    "report -o an existing folder": "taken",
}


def _digest(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _clean_cli(r: subprocess.CompletedProcess) -> list[str]:
    """What is wrong with a command's answer to bad input (empty: clean)."""
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    problems = []
    if r.returncode != 2:
        problems.append(f"exit {r.returncode}")
    if "Traceback" in r.stderr + r.stdout:
        problems.append("traceback")
    if len(err) > 2 and not all(ln.startswith("error: ") for ln in err):
        problems.append(f"{len(err)} stderr lines, not all error: lines")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few cases of each kind")
    ap.add_argument("--json", type=Path, help="write the per-case results here")
    ap.add_argument(
        "--only", action="append", default=[], help="run the cases whose name holds this text"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        files = prepare(work)
        rows = []
        busy = socket.socket()  # held during the cases: "serve on a busy port"
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        for kind, name, argv, forbidden in cases(files, work):
            if (args.quick and name not in QUICK) or (
                args.only and not any(o in name for o in args.only)
            ):
                continue
            argv = [port if a == "{busy_port}" else a for a in argv]
            keep = files[UNCHANGED[name]] if name in UNCHANGED else None
            before = _digest(keep) if keep is not None else None
            r = siamese(*argv, cwd=work)
            err = [ln for ln in r.stderr.splitlines() if ln.strip()]
            problems = _clean_cli(r)
            left = [str(p) for p in forbidden if p.exists()]
            if left:
                problems.append("wrote " + ", ".join(left))
            if keep is not None and _digest(keep) != before:
                problems.append(f"changed {keep}")
            clean = not problems
            first = err[0] if err else r.stdout.strip().splitlines()[:1]
            rows.append({"kind": kind, "case": name, "clean": clean, "problems": problems,
                         "exit": r.returncode, "message": first})  # fmt: skip
            mark = "clean" if clean else "NOT CLEAN (" + "; ".join(problems) + ")"
            print(f"{kind:8s} {name:45s} {mark}\n         {str(first)[:150]}", flush=True)
            for p in forbidden:
                if p.exists() and p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        busy.close()
        if not args.quick and (not args.only or "service" in args.only):
            for row in service_cases(files, work):
                rows.append(row)
                mark = "clean" if row["clean"] else "NOT CLEAN (" + "; ".join(row["problems"]) + ")"
                print(
                    f"{row['kind']:8s} {row['case']:45s} {mark}\n         {str(row['message'])[:150]}",
                    flush=True,
                )
    n_clean = sum(r["clean"] for r in rows)
    if args.json:
        args.json.write_text(
            json.dumps({"cases": rows, "clean": n_clean, "total": len(rows)}, indent=1)
        )
    print(f"{n_clean} of {len(rows)} bad inputs clean ({n_clean / len(rows):.0%}) in "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
