"""How every command meets bad input: one line, exit 2, nothing written — or not.

Runs the installed ``siamese`` console script (a new process each, as a user would) on bad inputs
of every kind — config values out of range or of the wrong type, unreadable and hostile files,
options out of range, output paths that are taken, usage errors — and prints for each whether it
was clean: exit code 2, at most two lines on stderr, no ``Traceback``, nothing left at the paths
the command must not write. The last line is the share of clean cases.

    python benchmarks/bad_inputs.py            # every case (about 2 s a case)
    python benchmarks/bad_inputs.py --quick    # a few cases of each kind (the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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
    return f


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
    return out


TRAFFIC_SRC = ["--source", "traffic", "--option", "n_per_pattern=3", "--option", "length=24"]
QUICK = {"training.learning_rate=-1", "model.hidden_size=\"big\"", "bomb PNG in a training folder",
         "identify an .npy claiming 10^12 values", "report -o an existing folder",
         "identify -k 0", "train --bogus", "train without arguments"}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few cases of each kind")
    ap.add_argument("--json", type=Path, help="write the per-case results here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        files = prepare(work)
        rows = []
        for kind, name, argv, forbidden in cases(files, work):
            if args.quick and name not in QUICK:
                continue
            r = siamese(*argv, cwd=work)
            err = [ln for ln in r.stderr.splitlines() if ln.strip()]
            problems = []
            if r.returncode != 2:
                problems.append(f"exit {r.returncode}")
            if "Traceback" in r.stderr + r.stdout:
                problems.append("traceback")
            if len(err) > 2:
                problems.append(f"{len(err)} stderr lines")
            left = [str(p) for p in forbidden if p.exists()]
            if left:
                problems.append("wrote " + ", ".join(left))
            clean = not problems
            first = err[0] if err else r.stdout.strip().splitlines()[:1]
            rows.append({"kind": kind, "case": name, "clean": clean, "problems": problems,
                         "exit": r.returncode, "message": first})  # fmt: skip
            mark = "clean" if clean else "NOT CLEAN (" + "; ".join(problems) + ")"
            print(f"{kind:8s} {name:45s} {mark}\n         {str(first)[:150]}", flush=True)
            for p in forbidden:
                if p.exists() and p.is_dir():
                    shutil.rmtree(p)
    n_clean = sum(r["clean"] for r in rows)
    if args.json:
        args.json.write_text(
            json.dumps({"cases": rows, "clean": n_clean, "total": len(rows)}, indent=1)
        )
    print(f"{n_clean} of {len(rows)} bad inputs clean ({n_clean / len(rows):.0%}) in "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
