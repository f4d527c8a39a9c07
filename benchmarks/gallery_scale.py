"""How fast is the gallery at scale, and does the service hold up under concurrent clients?

Part 1 (vector index): a synthetic clustered gallery — 70,000 vectors of 128 dimensions from
35,000 classes (2 per class; class centres drawn around 1,000 super-clusters, as trained embeddings
group similar classes) — and 10,000 queries (a class centre plus noise), top-50 each. Timed: the
approximate index that ``index="auto"`` picks at this size (HNSW), faiss exact search, and a NumPy
brute force (chunked matmul + argpartition); recall@50 of the approximate index against the exact
top-50 (``approx_search_cpu_s`` is the CPU time of all threads: on a busy machine, divide it by
the thread count for what idle cores would take). Part 2 (service): the gallery saved, then served by uvicorn on 127.0.0.1 (a free port) in a
child process; 50 concurrent clients x 20 POST /identify requests (k=5) from this process; errors
and p50/p99 latency. The server is stopped at the end, whatever happens.

Part 3 (``--pgvector``, on its own; the DSN from ``$SIAMESE_GALLERY_DSN`` or ``--dsn``, e.g. the
server ``source .ci/start-postgres`` starts): a gallery of 100,000 random 64-d gaussian rows
(1,000 classes) saved to PostgreSQL + pgvector (rows by COPY, then the HNSW index, timed
together), loaded back (timed; the rows stay on the server), then 200 random queries from the
same distribution: recall@1 and recall@10 of the HNSW search (hnsw.ef_search 40, pgvector's
default; 100; 200, the store's default; 400) against the exact search (both in PostgreSQL), the
latency of one query per call (as ``identify`` of one item) for each, and ``Gallery.identify``
end to end (the store's default beam). The tables are dropped at the end, whatever happens.

    python benchmarks/gallery_scale.py            # the full sizes above, 2 threads
    python benchmarks/gallery_scale.py --quick    # a few seconds (run by the test suite)
    python benchmarks/gallery_scale.py --pgvector [--quick]
    python benchmarks/gallery_scale.py --size 1M [--option SPEC ...] [--quick]

Part 4 (``--size 100k`` or ``--size 1M``, on its own; issue 22): the same clustered generator
scaled (2 vectors per class, 10,000 queries, top-50), the exact top-50 of every query from faiss
``IndexFlatL2`` (the baseline; cached in the temp folder with the time it took), then each
approximate option in ``_index_options.py`` built and searched: build time, serialised index
size, 10,000-query wall and CPU time, recall@50 against exact, and the speed-up over exact
search. ``--option`` replaces the default options (repeatable; search-time values may be listed,
``ivfpq:nprobe=8/16``). A size that cannot fit in the memory available is refused up front.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faiss
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits
from torch import nn

from siamese.gallery import Gallery, VectorIndex
from siamese.mining._memory import available_bytes
from siamese.model import SiameseModel

FULL = {
    "vectors": 70_000,
    "classes": 35_000,
    "queries": 10_000,
    "k": 50,
    "clients": 50,
    "requests": 20,
}
QUICK = {"vectors": 4_000, "classes": 2_000, "queries": 500, "k": 50, "clients": 8, "requests": 5}
PG_FULL = {"rows": 100_000, "classes": 1_000, "dim": 64, "queries": 200}
PG_QUICK = {"rows": 5_000, "classes": 100, "dim": 64, "queries": 30}
SCALES = {"100k": (100_000, 50_000), "1M": (1_000_000, 500_000)}  # vectors, classes
SCALE_QUICK = (6_000, 3_000, 300)  # vectors, classes, queries: --size with --quick
SCALE_OPTIONS = {  # measured by default at each size (1M: the winner at 100k; HNSW's build at 1M
    # took 18 min on 2 busy cores, add it with --option hnsw:ef=50/64)
    "100k": ["hnsw:ef=50/64", "hnsw_sq:ef=50/64", "ivfpq:nprobe=8/16", "usearch:dtype=f32,efc=64"],
    "1M": ["ivfpq:nprobe=8/16"],
}
EF_SEARCHES = (40, 100, 200, 400)  # hnsw.ef_search: 40 is pgvector's default, 200 the store's


def make_data(
    vectors: int, classes: int, queries: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered synthetic embeddings: ``(vectors, dim)`` gallery, its class ids, ``(queries, dim)``."""
    rng = np.random.default_rng(seed)
    supers = rng.normal(size=(max(classes // 35, 1), dim))  # (S, D)
    centres = supers[rng.integers(0, len(supers), classes)] + 0.35 * rng.normal(size=(classes, dim))
    labels = np.arange(vectors) % classes  # (N,)
    gallery = centres[labels] + 0.1 * rng.normal(size=(vectors, dim))  # (N, D)
    q = centres[rng.integers(0, classes, queries)] + 0.1 * rng.normal(size=(queries, dim))  # (Q, D)
    return gallery.astype(np.float32), labels, q.astype(np.float32)


def numpy_topk(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 500) -> np.ndarray:
    """Exact top-``k`` ids by squared euclidean distance, brute force in NumPy."""
    x2 = (x * x).sum(1)  # (N,)
    out = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), chunk):
        d = x2[None, :] - 2.0 * (q[s : s + chunk] @ x.T)  # (c, N), |q|^2 dropped: same order
        part = np.argpartition(d, k, axis=1)[:, :k]  # (c, k) unordered
        order = np.argsort(np.take_along_axis(d, part, 1), axis=1)
        out[s : s + chunk] = np.take_along_axis(part, order, 1)
    return out


def identity_model(dim: int) -> SiameseModel:
    """A model whose embeddings are its inputs: the gallery holds the synthetic vectors as given."""
    return SiameseModel(nn.Identity(), info={"kind": "vector", "item_shape": [dim]})


def bench_index(cfg: dict[str, int], quick: bool, seed: int) -> tuple[dict[str, Any], Gallery]:
    x, labels, q = make_data(cfg["vectors"], cfg["classes"], cfg["queries"], 128, seed)
    k = cfg["k"]
    t0 = time.perf_counter()
    gallery = Gallery(
        identity_model(128), index="hnsw" if quick else "auto"
    )  # quick: below auto's switch
    gallery.add_embeddings(x, [f"c{c}" for c in labels])
    build = time.perf_counter() - t0
    approx = gallery.index_
    assert approx is not None
    approx.search(q[:10], k)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    _, ids = approx.search(q, k)
    t_approx, cpu_approx = time.perf_counter() - t0, time.process_time() - c0
    exact = VectorIndex(128, "l2", "exact")
    exact.add(x)
    t0 = time.perf_counter()
    exact.search(q, k)
    t_flat = time.perf_counter() - t0
    t0 = time.perf_counter()
    truth = numpy_topk(x, q, k)
    t_numpy = time.perf_counter() - t0
    recall = float(
        np.mean(
            [len(set(a) & set(b)) / k for a, b in zip(ids.tolist(), truth.tolist(), strict=True)]
        )
    )
    return (
        {
            "index": approx.structure,
            "build_s": build,
            "approx_search_s": t_approx,
            "approx_search_cpu_s": cpu_approx,
            "faiss_exact_s": t_flat,
            "numpy_exact_s": t_numpy,
            "speedup_vs_numpy": t_numpy / t_approx,
            f"recall@{k}": recall,
        },
        gallery,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(directory: str, port: int, dim: int) -> None:
    """The server process: load the saved gallery and serve it on 127.0.0.1 until terminated."""
    import uvicorn

    from siamese.service import create_app

    app = create_app(Gallery.load(directory, model=identity_model(dim)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error")


def bench_service(gallery: Gallery, cfg: dict[str, int], threads: int, seed: int) -> dict[str, Any]:
    """Clients in this process, the server in a child process (its own interpreter and GIL)."""
    import httpx

    x = gallery.embeddings_
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        gallery.save(tmp)
        cmd = [
            sys.executable,
            __file__,
            "--serve",
            tmp,
            "--port",
            str(port),
            "--threads",
            str(threads),
        ]
        server = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent
        )
        try:
            _wait_until_up(server, port)
            rng = np.random.default_rng(seed + 1)
            queries = x[rng.integers(0, len(x), cfg["clients"] * cfg["requests"])] + 0.05

            def client(c: int) -> tuple[list[float], int]:
                lat, errors = [], 0
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                    for r in range(cfg["requests"]):
                        body = {
                            "items": [{"values": queries[c * cfg["requests"] + r].tolist()}],
                            "k": 5,
                        }
                        t0 = time.perf_counter()
                        try:
                            ok = http.post("/identify", json=body).status_code == 200
                        except httpx.HTTPError:
                            ok = False
                        lat.append(time.perf_counter() - t0)
                        errors += not ok
                return lat, errors

            t0 = time.perf_counter()
            with ThreadPoolExecutor(cfg["clients"]) as pool:
                results = list(pool.map(client, range(cfg["clients"])))
            wall = time.perf_counter() - t0
        finally:
            stop_server(server)
    lat = np.array([v for r in results for v in r[0]]) * 1000.0
    return {
        "requests": len(lat),
        "errors": int(sum(r[1] for r in results)),
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "throughput_rps": len(lat) / wall,
    }


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM a server child, then SIGKILL it if it is not gone within 10 s."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def die_with_parent() -> None:
    """In a server child, before it runs: SIGKILL it when this process dies, however it dies.

    A benchmark killed from outside (a test's timeout, Ctrl-C, SIGKILL) cannot run its
    ``finally`` clean-up, and its server would otherwise live on and hold a CPU and a port.
    Linux only (prctl PR_SET_PDEATHSIG); elsewhere the ``finally`` clean-up is all there is.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def _wait_until_up(server: subprocess.Popen, port: int, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            err = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise RuntimeError(f"the server exited with code {server.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer on port {port} within {timeout:.0f} s")


def bench_pgvector(cfg: dict[str, int], dsn: str, seed: int) -> dict[str, Any]:
    """HNSW vs exact search in PostgreSQL on random rows (see the module docstring, part 3)."""
    import uuid

    from siamese.gallery._store_pgvector import PgVectorStore
    from siamese.gallery._stored_rows import StoredRows

    rng = np.random.default_rng(seed)
    dim, n = cfg["dim"], cfg["rows"]
    x = rng.normal(size=(n, dim)).astype(np.float32)  # (N, D)
    q = rng.normal(size=(cfg["queries"], dim)).astype(np.float32)  # (Q, D)
    names = [f"c{i % cfg['classes']}" for i in range(n)]
    model = identity_model(dim)
    store = PgVectorStore(dsn, f"bench_{uuid.uuid4().hex[:12]}")
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            gallery = Gallery(model, index="hnsw").add_embeddings(x, names)
            t0 = time.perf_counter()
            gallery.save(tmp, store=store)  # COPY the rows, then build the HNSW index
            out["save_rows_and_hnsw_build_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            loaded = Gallery.load(tmp, model=model, dsn=dsn)
            out["load_s"] = time.perf_counter() - t0
            out["rows_in_memory_after_load"] = (
                0 if isinstance(loaded.embeddings_, StoredRows) else len(loaded.embeddings_)
            )
            out["hnsw_index"] = store.has_hnsw_index()
            k, found = 10, {}
            modes = [("exact", True, 0)] + [(f"hnsw_ef{ef}", False, ef) for ef in EF_SEARCHES]
            for mode, exact, ef in modes:
                store.search(q[:2], k, "l2", n, exact=exact, ef_search=ef or 1)  # warm-up
                lat, ids = [], []
                for row in q:
                    t0 = time.perf_counter()
                    _, hit = store.search(row[None], k, "l2", n, exact=exact, ef_search=ef or 1)
                    lat.append(time.perf_counter() - t0)
                    ids.append(hit[0])
                out[f"{mode}_ms_p50"] = float(np.percentile(lat, 50) * 1000)
                found[mode] = np.array(ids)
            truth = found.pop("exact")
            for mode, approx in found.items():
                out[f"{mode}_recall@1"] = float(np.mean(truth[:, 0] == approx[:, 0]))
                out[f"{mode}_recall@10"] = float(
                    np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, approx, strict=True)])
                )
            loaded.identify_embeddings(q[:2], k=5)
            t0 = time.perf_counter()
            for row in q:
                loaded.identify_embeddings(row[None], k=5)
            out["identify_ms_mean"] = (time.perf_counter() - t0) / len(q) * 1000
            out["rows_in_memory_after_queries"] = (
                0 if isinstance(loaded.embeddings_, StoredRows) else len(loaded.embeddings_)
            )
            loaded.store_.close()
    finally:
        store.drop()
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--threads", type=int, default=2, help="faiss/BLAS/torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--pgvector", action="store_true", help="part 3 only: HNSW vs exact in PostgreSQL"
    )
    parser.add_argument(
        "--dsn", help="PostgreSQL DSN for --pgvector (default $SIAMESE_GALLERY_DSN)"
    )
    parser.add_argument(
        "--size", choices=list(SCALES), help="part 4 only: the approximate-index options"
    )
    parser.add_argument(
        "--option", action="append", metavar="SPEC", help="with --size: an index option to measure"
    )
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
        serve(args.serve, args.port, 128)
        return 0
    if args.pgvector:
        return _main_pgvector(args)
    if args.size:
        return _main_scale(args)
    cfg = QUICK if args.quick else FULL
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        index, gallery = bench_index(cfg, args.quick, args.seed)
        service = bench_service(gallery, cfg, args.threads, args.seed)
    if args.json:
        print(
            json.dumps(
                {"config": cfg, "threads": args.threads, "index": index, "service": service},
                indent=2,
            )
        )
        return 1 if service["errors"] else 0
    console = Console()
    t = Table(
        title=f"Vector index: {cfg['vectors']:,} x 128-d, {cfg['classes']:,} classes, {cfg['queries']:,} queries top-{cfg['k']}, {args.threads} threads"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    targets = {"approx_search_s": "<= 1 s", f"recall@{cfg['k']}": ">= 0.99"}
    for key, value in index.items():
        t.add_row(
            key, f"{value:.4f}" if isinstance(value, float) else str(value), targets.get(key, "")
        )
    console.print(t)
    s = Table(
        title=f"Service: {cfg['clients']} clients x {cfg['requests']} POST /identify on 127.0.0.1"
    )
    s.add_column("measure")
    s.add_column("value", justify="right")
    for key, value in service.items():
        s.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    console.print(s)
    return 1 if service["errors"] else 0


def scale_bytes(vectors: int, classes: int, queries: int, dim: int = 128) -> int:
    """Peak bytes of ``--size``: ``make_data``'s float64 temporaries (three gallery-sized arrays
    at once, the class centres twice), or later the float32 gallery, the exact index's copy of it
    and the largest option (a flat copy of the vectors plus an HNSW graph of M 32); plus 0.5 GiB
    for the interpreter, torch and faiss. At 1M: 4.3 GiB, where a peak RSS of 2.72 GB was measured."""
    generate = (3 * vectors + 2 * classes + 3 * queries) * dim * 8
    search = vectors * dim * 4 * 3 + vectors * 32 * 2 * 4 * 2
    return max(generate, search) + 2**29


def _main_scale(args: argparse.Namespace) -> int:
    """Part 4: the approximate-index options at ``--size``, against exact search."""
    import os

    from _index_options import SpecError, exact_truth, measure, parse_spec, usearch_available

    vectors, classes = SCALES[args.size]
    queries, k, dim = 10_000, 50, 128
    if args.quick:
        vectors, classes, queries = SCALE_QUICK
    specs = args.option or SCALE_OPTIONS[args.size]
    try:
        for spec in specs:
            parse_spec(spec)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    need, limit = scale_bytes(vectors, classes, queries, dim), available_bytes()
    if limit is not None and need > limit:
        print(
            f"error: --size {args.size}: {vectors:,} x {dim}-d needs about {need / 2**30:.1f} GiB "
            f"but only {limit / 2**30:.1f} GiB of memory is available (MemAvailable in "
            "/proc/meminfo); free memory or pick a smaller --size",
            file=sys.stderr,
        )
        return 2
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        t0 = time.perf_counter()
        x, _, q = make_data(vectors, classes, queries, dim, args.seed)
        data_s = time.perf_counter() - t0
        truth, exact = exact_truth(x, q, k, args.seed)
        rows, skipped = [], []
        for spec in specs:
            if spec.startswith("usearch") and not usearch_available():
                skipped.append(f"{spec}: skipped, usearch is not installed (pip install usearch)")
                print(skipped[-1], file=sys.stderr)
                continue
            rows += measure(spec, x, q, k, truth, args.threads)
    result = {
        "config": {"vectors": vectors, "classes": classes, "queries": queries, "k": k, "dim": dim},
        "threads": args.threads,
        "data_s": data_s,
        "memory_estimate_gb": need / 2**30,
        "exact": exact,
        "options": rows,
        "skipped": skipped,
        "peak_rss_gb": resource_peak_gb(),
        "load": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    t = Table(
        title=f"Index options: {vectors:,} x {dim}-d, {classes:,} classes, {queries:,} queries "
        f"top-{k}, {args.threads} threads (load {result['load'][0]:.1f})"
    )
    for col in ("option", "build s", "index MB", "search s", "CPU s", f"recall@{k}", "x exact"):
        t.add_column(col, justify="left" if col == "option" else "right")
    cached = " (cached)" if exact["cached"] else ""
    t.add_row(
        f"exact: faiss IndexFlatL2{cached}",
        "",
        f"{exact['bytes'] / 1e6:,.0f}",
        f"{exact['wall_s']:.2f}",
        f"{exact['cpu_s']:.2f}",
        "1.0000",
        "1.0",
    )
    for r in rows:
        t.add_row(
            r["option"],
            f"{r['build_s']:.1f}",
            f"{r['index_bytes'] / 1e6:,.0f}",
            f"{r['search_s']:.3f}",
            f"{r['search_cpu_s']:.2f}",
            f"{r[f'recall@{k}']:.4f}",
            f"{exact['wall_s'] / r['search_s']:.1f}",
        )
    console = Console(width=160)
    console.print(t)
    console.print(
        f"peak RSS {result['peak_rss_gb']:.2f} GB (estimate {result['memory_estimate_gb']:.2f} "
        f"GB); data {data_s:.1f} s; exact search at load {exact['load']:.1f}"
    )
    return 0


def resource_peak_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def _main_pgvector(args: argparse.Namespace) -> int:
    import os

    dsn = args.dsn or os.environ.get("SIAMESE_GALLERY_DSN")
    if not dsn:
        print(
            "error: --pgvector needs a server: pass --dsn or set $SIAMESE_GALLERY_DSN "
            "(`source .ci/start-postgres` starts one and exports SIAMESE_TEST_PG_DSN)",
            file=sys.stderr,
        )
        return 2
    cfg = PG_QUICK if args.quick else PG_FULL
    result = bench_pgvector(cfg, dsn, args.seed)
    if args.json:
        print(json.dumps({"config": cfg, "pgvector": result}, indent=2))
        return 0
    t = Table(
        title=f"pgvector: {cfg['rows']:,} random {cfg['dim']}-d rows, {cfg['queries']} random "
        "queries, one per call, top-10 (euclidean)"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    for key, value in result.items():
        t.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
