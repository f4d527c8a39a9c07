"""Does batching concurrent /identify requests bring the service's p99 under 100 ms?

The gallery: ``gallery_scale.make_data``'s 70,000 clustered 128-d vectors (35,000 classes)
embedded by a small seeded MLP (128 -> 256 -> 128, untrained: the forward pass is real, its
weights do not matter for latency) and saved with the model, so the server is the real
``siamese serve`` command in a child process (its own interpreter and GIL), loading the folder
as a user's would; the index is what ``index="auto"`` picks at this size (HNSW). Each setting is
served in turn on 127.0.0.1: ``--no-batch`` (the baseline: each request embedded and searched
alone in a worker thread) and the micro-batcher (``--batch-max-items``, ``--batch-max-wait-ms``),
alternating for ``--rounds`` rounds so that a change in the machine's load hits both alike.

The load: ``--clients`` concurrent clients (50), each with its own keep-alive connection, sending
``--requests`` POST /identify each (one 128-d item, k=5: a gallery vector plus noise), one after
the other (closed loop), after one warm-up request each. The clients are a lean asyncio HTTP/1.1
client in this process, so that they take little of the 2 cores (``--client httpx``: 50 httpx
threads, as ``gallery_scale.py`` sends; they take more CPU than the server). Printed per setting:
p50 / p95 / p99 latency, requests/s, errors, the server's and the clients' CPU time per request,
the ratio of the baseline's p99 to each setting's, whether every answer (labels and order) equals
the baseline's, and the load average before and after. ``--processes 2`` adds a setting with
two batched servers, the clients dealt out between them: what several workers would give if
they could be kept consistent (they cannot yet; the service runs one, see docs/service.md).

    python benchmarks/service_latency.py                 # 50 clients x 40 requests, 2 rounds
    python benchmarks/service_latency.py --quick         # a few seconds (run by the test suite)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gallery_scale import (  # noqa: E402
    _free_port,
    _wait_until_up,
    die_with_parent,
    make_data,
    stop_server,
)

from siamese.encoders import create_encoder  # noqa: E402
from siamese.gallery import Gallery  # noqa: E402
from siamese.model import SiameseModel  # noqa: E402

FULL = {"vectors": 70_000, "classes": 35_000, "clients": 50, "requests": 40, "rounds": 2}
QUICK = {"vectors": 3_000, "classes": 1_500, "clients": 8, "requests": 10, "rounds": 1}
DIM = 128
MLP = {"input_shape": [DIM], "hidden": [256], "embedding_dim": DIM}


def mlp_model(seed: int) -> SiameseModel:
    """The small seeded MLP that embeds the gallery and the queries (saved with the gallery)."""
    torch.manual_seed(seed)
    return SiameseModel(
        create_encoder("mlp", **MLP),
        encoder_name="mlp",
        encoder_args=MLP,
        info={"kind": "vector", "item_shape": [DIM]},
    )


def build_gallery(directory: str, cfg: dict[str, int], seed: int) -> np.ndarray:
    """Embed and save the gallery into ``directory``; return the ``(Q, D)`` query items."""
    x, labels, _ = make_data(cfg["vectors"], cfg["classes"], 1, DIM, seed)
    gallery = Gallery(mlp_model(seed), index="auto" if cfg["vectors"] > 20_000 else "hnsw")
    gallery.fit(x, [f"c{c}" for c in labels]).save(directory)
    rng = np.random.default_rng(seed + 1)
    n = cfg["clients"] * (cfg["requests"] + 1)
    return x[rng.integers(0, len(x), n)] + 0.05 * rng.normal(size=(n, DIM)).astype(np.float32)


def start_server(directory: str, port: int, options: list[str], threads: int) -> Any:
    """``siamese serve`` on 127.0.0.1:``port`` in a child process, killed if this one dies."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "siamese", "serve", directory, "--port", str(port), *options]
    server = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=die_with_parent,
    )
    _wait_until_up(server, port)
    return server


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _raw_client(port: int, bodies: list[bytes]) -> tuple[list[float], list[Any]]:
    """One keep-alive connection, requests one after the other: latencies and answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat, answers = [], []
    try:
        for body in bodies:
            head = (
                b"POST /identify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"
                b"\r\ncontent-length: %d\r\n\r\n" % len(body)
            )
            t0 = time.perf_counter()
            writer.write(head + body)
            header = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            payload = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            answers.append(_labels(payload) if header[9:12] == b"200" else None)
    finally:
        writer.close()
    return lat, answers


def _labels(payload: bytes) -> list[str]:
    return [m["label"] for m in json.loads(payload)["results"][0]["matches"]]


def _httpx_client(port: int, bodies: list[bytes]) -> tuple[list[float], list[Any]]:
    import httpx

    lat, answers = [], []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for body in bodies:
            t0 = time.perf_counter()
            try:
                r = http.post("/identify", content=body, headers=headers)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            lat.append(time.perf_counter() - t0)
            answers.append(_labels(r.content) if ok else None)
    return lat, answers


def load(clients: list[tuple[int, list[bytes]]], client: str) -> tuple[list[Any], float]:
    """All clients (each a server port and its bodies) at once; ``([(latencies, answers)] per
    client, wall seconds)``."""
    t0 = time.perf_counter()
    if client == "raw":

        async def everyone() -> list[Any]:
            return await asyncio.gather(*(_raw_client(p, b) for p, b in clients))

        results = asyncio.run(everyone())
    else:
        with ThreadPoolExecutor(len(clients)) as pool:
            results = list(pool.map(lambda c: _httpx_client(*c), clients))
    return results, time.perf_counter() - t0


def measure(
    directory: str,
    options: list[str],
    bodies: list[list[bytes]],
    threads: int,
    client: str,
    processes: int = 1,
) -> dict[str, Any]:
    """Serve with ``options`` (``processes`` servers, the clients dealt out among them), warm
    up (one request per client), then time the load."""
    ports = [_free_port() for _ in range(processes)]
    servers: list[Any] = []
    try:
        for port in ports:
            servers.append(start_server(directory, port, options, threads))
        clients = [(ports[c % processes], b) for c, b in enumerate(bodies)]
        load([(p, b[:1]) for p, b in clients], client)  # warm-up: connections, first batches
        s0, c0 = sum(cpu_seconds(s.pid) for s in servers), time.process_time()
        results, wall = load([(p, b[1:]) for p, b in clients], client)
        server_cpu = sum(cpu_seconds(s.pid) for s in servers) - s0
        client_cpu = time.process_time() - c0
    finally:
        for server in servers:
            stop_server(server)
    lat = np.array([v for r in results for v in r[0]]) * 1000.0  # ms
    answers = [a for r in results for a in r[1]]
    n = len(lat)
    return {
        "requests": n,
        "errors": sum(a is None for a in answers),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "rps": n / wall,
        "server_cpu_ms_per_request": server_cpu / n * 1000,
        "client_cpu_ms_per_request": client_cpu / n * 1000,
        "answers": answers,
    }


def settings(args: argparse.Namespace) -> dict[str, tuple[list[str], int]]:
    """Each setting's ``siamese serve`` options and number of server processes."""
    out = {"unbatched (--no-batch)": (["--no-batch"], 1)}
    batched = ["--batch-max-items", str(args.max_items), "--batch-max-wait-ms"]
    for wait in args.waits:
        out[f"batched, max {args.max_items} items, wait {wait:g} ms"] = ([*batched, str(wait)], 1)
    if args.processes > 1:  # read-only replicas: the service offers no workers (docs/service.md)
        name = f"batched, wait {args.waits[0]:g} ms, {args.processes} server processes"
        out[name] = ([*batched, str(args.waits[0])], args.processes)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = dict(QUICK if args.quick else FULL)
    for key in ("clients", "requests", "rounds"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    torch.set_num_threads(args.threads)
    configs = settings(args)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        directory = str(Path(tmp) / "gallery")
        queries = build_gallery(directory, cfg, args.seed)
        bodies = [json.dumps({"items": [{"values": q.tolist()}], "k": 5}).encode() for q in queries]
        step = cfg["requests"] + 1
        per_client = [bodies[c * step : (c + 1) * step] for c in range(cfg["clients"])]
        for _ in range(cfg["rounds"]):
            for name, (options, processes) in configs.items():
                runs[name].append(
                    measure(directory, options, per_client, args.threads, args.client, processes)
                )
    load_after = os.getloadavg()
    baseline_name = next(iter(configs))
    base_answers = [a for r in runs[baseline_name] for a in r["answers"]]
    summary = {}
    for name, rounds in runs.items():
        lat_keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "rps")
        row: dict[str, Any] = {k: float(np.median([r[k] for r in rounds])) for k in lat_keys}
        row["p99_ms_each_round"] = [round(r["p99_ms"], 1) for r in rounds]
        row["requests"] = sum(r["requests"] for r in rounds)
        row["errors"] = sum(r["errors"] for r in rounds)
        for k in ("server_cpu_ms_per_request", "client_cpu_ms_per_request"):
            row[k] = float(np.median([r[k] for r in rounds]))
        answers = [a for r in rounds for a in r["answers"]]
        row["answers_equal_baseline"] = sum(
            a == b and a is not None for a, b in zip(answers, base_answers, strict=True)
        )
        summary[name] = row
    base = summary[baseline_name]
    for row in summary.values():
        row["p99_ratio_baseline_over_this"] = base["p99_ms"] / row["p99_ms"]
        row["rps_ratio_this_over_baseline"] = row["rps"] / base["rps"]
    return {
        "config": cfg,
        "threads": args.threads,
        "client": args.client,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "settings": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch/faiss threads")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 50)")
    parser.add_argument("--requests", type=int, help="timed requests per client (default 40)")
    parser.add_argument("--rounds", type=int, help="alternating rounds of every setting (2)")
    parser.add_argument("--max-items", type=int, default=64, help="the batcher's max items")
    parser.add_argument(
        "--waits", type=float, nargs="+", default=[0.0, 2.0], help="the batcher's max waits, ms"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="also measure this many batched server processes, the clients dealt out among them "
        "(read-only replicas, as several workers would be; the service does not offer workers)",
    )
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    cfg = result["config"]
    table = Table(
        title=f"POST /identify: {cfg['clients']} clients x {cfg['requests']} requests x "
        f"{cfg['rounds']} round(s), {cfg['vectors']:,} x {DIM}-d gallery (mlp, "
        f"{args.threads} server thread(s), {args.client} client); median over rounds"
    )
    cols = ("p50_ms", "p95_ms", "p99_ms", "rps", "errors", "server_cpu_ms_per_request")
    table.add_column("setting")
    for c in (*cols, "p99 ratio", "same answers"):
        table.add_column(c.replace("_per_request", "/req"), justify="right")
    for name, row in result["settings"].items():
        table.add_row(
            name,
            *(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in cols),
            f"{row['p99_ratio_baseline_over_this']:.2f}x",
            f"{row['answers_equal_baseline']}/{row['requests']}",
        )
    console = Console(width=200)
    console.print(table)
    for name, row in result["settings"].items():
        console.print(
            f"{name}: p99 per round {row['p99_ms_each_round']} ms, client CPU "
            f"{row['client_cpu_ms_per_request']:.2f} ms/request"
        )
    console.print(
        f"load average before {result['load_average_before']}, after "
        f"{result['load_average_after']} (2 cores shared)"
    )
    errors = sum(row["errors"] for row in result["settings"].values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
