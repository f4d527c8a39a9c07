"""Does an acknowledged enrollment survive SIGKILL, and what does durability cost per enrollment?

Part 1 (crashes): a gallery folder (tiny 8 -> 4 MLP model) is served by ``siamese serve`` in a
child process; ``--clients`` threads POST /enroll (one item each, a unique label) and one thread
POSTs /identify, until the server is killed with SIGKILL at a random moment (0.3-3 s after it
answered a first enrollment). The folder is then loaded in this process: it must load, and every enrollment
that was answered 200 must be in it. Repeated ``--kills`` times on the same folder. Printed:
enrollments acknowledged, acknowledged ones recovered, extra ones recovered (committed, killed
before the answer was sent: allowed), lost (must be 0) and unloadable galleries (must be 0).

Part 2 (throughput): single-item enrollments through the library (``Gallery.add_embeddings``,
128-d, after ``--base`` enrolled items), each durable before it returns, on every store: the
first-layout file store (every file rewritten after each enrollment, as the service did before),
SQLite WAL with ``synchronous`` FULL and NORMAL, and PostgreSQL + pgvector when a DSN is given
(``--pg-dsn`` or ``$SIAMESE_TEST_PG_DSN``). Printed: enrollments/s and the ratio to the file store,
measured in the same run.

    python benchmarks/gallery_crash.py            # 50 kills, 500 enrollments per store
    python benchmarks/gallery_crash.py --quick    # 3 kills, 40 enrollments (run by the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese.encoders import create_encoder
from siamese.gallery import Gallery
from siamese.gallery._files_v1 import save_v1
from siamese.gallery._store_sqlite import SQLiteStore
from siamese.model import SiameseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gallery_scale import _wait_until_up, die_with_parent  # noqa: E402  (shared by both service benchmarks)

MLP = {"input_shape": [8], "hidden": [16], "embedding_dim": 4}
FULL = {"kills": 50, "enrolls": 500, "base": 2000}
QUICK = {"kills": 3, "enrolls": 40, "base": 2000}


def tiny_model(dim_in: int = 8) -> SiameseModel:
    torch.manual_seed(0)
    return SiameseModel(
        create_encoder("mlp", **MLP),
        encoder_name="mlp",
        encoder_args=MLP,
        info={"kind": "vector", "item_shape": [dim_in]},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_kill(folder: Path, trial: int, clients: int, rng: np.random.Generator) -> dict[str, Any]:
    """Serve ``folder``, enroll and identify from threads, SIGKILL the server, then check."""
    import httpx

    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "siamese", "serve", str(folder), "--port", str(port)]
    server = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, preexec_fn=die_with_parent
    )
    acked: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    try:
        _wait_until_up(server, port, timeout=180.0)

        def enroller(c: int) -> None:
            local = np.random.default_rng(trial * 1000 + c)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                n = 0
                while not stop.is_set():
                    label = f"t{trial}-c{c}-{n}"
                    body = {"items": [{"values": local.normal(size=8).tolist()}], "labels": [label]}
                    try:
                        ok = http.post("/enroll", json=body).status_code == 200
                    except httpx.HTTPError:
                        return  # the server is gone
                    if ok:
                        with lock:
                            acked.append(label)
                    n += 1

        def identifier() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                while not stop.is_set():
                    try:
                        http.post("/identify", json={"items": [{"values": [0.0] * 8}], "k": 3})
                    except httpx.HTTPError:
                        return

        warm = {"items": [{"values": [0.5] * 8}], "labels": [f"t{trial}-warm"]}
        if httpx.post(f"http://127.0.0.1:{port}/enroll", json=warm, timeout=60).status_code == 200:
            acked.append(warm["labels"][0])  # the first request is slow (lazy imports)
        threads = [threading.Thread(target=enroller, args=(c,)) for c in range(clients)]
        threads.append(threading.Thread(target=identifier))
        for t in threads:
            t.start()
        time.sleep(float(rng.uniform(0.3, 3.0)))
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
    try:
        g = Gallery.load(folder)
    except Exception as exc:  # any failure to load is what this benchmark counts
        return {"acknowledged": len(acked), "loaded": False, "error": str(exc)[:300]}
    names = set(g.class_names_)
    counts = dict(zip(*np.unique(g.labels_, return_counts=True), strict=True))
    doubled = sum(1 for label in acked if counts.get(g._class_ids.get(label, -1), 0) > 1)
    mine = {n for n in names if n.startswith(f"t{trial}-")}
    if g.store_ is not None:
        g.store_.close()
    return {
        "acknowledged": len(acked),
        "loaded": True,
        "recovered": len(set(acked) & names),
        "lost": len(set(acked) - names),
        "extra": len(mine - set(acked)),
        "doubled": doubled,
        "items": len(g),
    }


def bench_crashes(kills: int, clients: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "g"
        x = np.random.default_rng(seed).normal(size=(4, 8)).astype(np.float32)
        g = Gallery(tiny_model(), threshold=1e6).fit(x, ["a", "b", "c", "d"])
        g.save(folder)
        g.store_.close()
        trials = []
        t0 = time.perf_counter()
        for trial in range(kills):
            trials.append(one_kill(folder, trial, clients, rng))
            if not trials[-1]["loaded"]:  # start the next trial from a fresh folder
                g.save(folder)
                g.store_.close()
        wall = time.perf_counter() - t0
    loaded = [t for t in trials if t["loaded"]]
    return {
        "kills": kills,
        "acknowledged": sum(t["acknowledged"] for t in trials),
        "recovered_acknowledged": sum(t["recovered"] for t in loaded),
        "extra_recovered": sum(t["extra"] for t in loaded),
        "lost_acknowledged": sum(t["lost"] for t in loaded)
        + sum(t["acknowledged"] for t in trials if not t["loaded"]),
        "enrolled_twice": sum(t["doubled"] for t in loaded),
        "unloadable": len(trials) - len(loaded),
        "final_items": loaded[-1]["items"] if loaded else 0,
        "errors": [t["error"] for t in trials if not t["loaded"]][:3],
        "wall_s": wall,
    }


def bench_throughput(enrolls: int, base: int, seed: int, pg_dsn: str | None) -> dict[str, Any]:
    """Single-item durable enrollments per second on each store (same vectors, same machine)."""
    from torch import nn

    dim = 128
    model = SiameseModel(nn.Identity(), info={"kind": "vector", "item_shape": [dim]})
    rng = np.random.default_rng(seed)
    first = rng.normal(size=(base, dim)).astype(np.float32)
    more = rng.normal(size=(enrolls, dim)).astype(np.float32)
    first_names = [f"b{i % 500}" for i in range(base)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def start(name: str, store: Any = None) -> Gallery:
            g = Gallery(model, index="exact").add_embeddings(first, first_names)
            if name == "files":
                save_v1(Path(tmp) / name, g.snapshot(), g.index_, model)
            else:
                g.save(Path(tmp) / name, store=store)
            return g

        def run(name: str, g: Gallery) -> None:
            t0 = time.perf_counter()
            for i in range(enrolls):
                g.add_embeddings(more[i : i + 1], [f"n{i}"])
                if name == "files":
                    # what made it "durable"
                    save_v1(Path(tmp) / name, g.snapshot(), g.index_, model, with_model=False)
            dt = time.perf_counter() - t0
            out[name] = {"enrolls_per_s": enrolls / dt, "ms_per_enroll": 1000 * dt / enrolls}
            back = Gallery.load(Path(tmp) / name, model=model, dsn=pg_dsn)
            assert len(back) == base + enrolls, (name, len(back))
            if back.store_ is not None:
                back.store_.close()

        run("files", start("files"))
        for sync in ("FULL", "NORMAL"):
            name = f"sqlite_{sync.lower()}"
            folder = Path(tmp) / name
            folder.mkdir()
            run(name, start(name, SQLiteStore(folder / "gallery.db", synchronous=sync)))
        if pg_dsn:
            from siamese.gallery._store_pgvector import PgVectorStore

            store = PgVectorStore(pg_dsn, f"bench_{os.getpid()}")
            try:
                run("pgvector", start("pgvector", store))
            finally:
                store.drop()
                store.close()
    for name in out:
        out[name]["vs_files"] = out[name]["enrolls_per_s"] / out["files"]["enrolls_per_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kills, 40 enrollments per store")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 50, quick 3)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent enrolling clients")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg-dsn", default=os.environ.get("SIAMESE_TEST_PG_DSN"))
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.kills is not None:
        if args.kills < 1:
            parser.error(f"--kills: expected at least 1, got {args.kills}")
        cfg["kills"] = args.kills
    if args.clients < 1:
        parser.error(f"--clients: expected at least 1, got {args.clients}")
    torch.set_num_threads(args.threads)
    crashes = bench_crashes(cfg["kills"], args.clients, args.seed)
    throughput = bench_throughput(cfg["enrolls"], cfg["base"], args.seed, args.pg_dsn)
    failed = crashes["lost_acknowledged"] > 0 or crashes["unloadable"] > 0
    if args.json:
        print(json.dumps({"config": cfg, "crashes": crashes, "throughput": throughput}, indent=2))
        return 1 if failed else 0
    console = Console()
    t = Table(
        title=f"{cfg['kills']} SIGKILLs of `siamese serve` during {args.clients} enrolling clients + identify"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    targets = {"lost_acknowledged": "0", "unloadable": "0", "enrolled_twice": "0"}
    for key, value in crashes.items():
        shown = f"{value:.1f}" if isinstance(value, float) else str(value)
        t.add_row(key, shown, targets.get(key, ""))
    console.print(t)
    s = Table(title=f"Durable single-item enrollments after {cfg['base']:,} items (128-d), library")
    for col in ("store", "enrolls/s", "ms/enroll", "vs files"):
        s.add_column(col, justify="right")
    for name, r in throughput.items():
        s.add_row(
            name, f"{r['enrolls_per_s']:.1f}", f"{r['ms_per_enroll']:.2f}", f"{r['vs_files']:.1f}x"
        )
    console.print(s)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
