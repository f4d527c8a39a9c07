"""The approximate-index options that ``gallery_scale.py --size`` compares, one spec each.

A spec is ``name`` or ``name:key=value,key=value``; a search-time key (``ef``, ``nprobe``, ``rf``)
may list values separated by ``/`` (``ivfpq:nprobe=8/16/32``): the index is built once and
searched once per combination. The options:

* ``hnsw`` (the library's ``VectorIndex("hnsw")``, ``IndexHNSWFlat``): ``m``, ``efc``, ``ef``;
* ``hnsw_sq`` (faiss ``IndexHNSWSQ``, 8-bit scalar quantisation): ``m``, ``efc``, ``ef``;
* ``ivfpq`` (the library's ``VectorIndex("ivfpq")``: 4-bit fast-scan PQ in IVF lists, the
  ``rf * k`` best re-ranked exactly): ``nlist`` (0: the library's default), ``pq``, ``nprobe``,
  ``rf``;
* ``usearch`` (``usearch.index.Index``, HNSW in USearch; skipped with a printed line when the
  package is absent): ``m`` (connectivity), ``efc`` (expansion_add), ``ef`` (expansion_search),
  ``dtype`` (``f32``, ``f16``, ``bf16``; ``i8`` expects unit vectors).

The exact ground truth (faiss ``IndexFlatL2``, all queries, in chunks) is the baseline; it is
cached in the system temp folder (keyed by the data's sizes, seed and a checksum) with the time
it took when it was computed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from siamese.gallery import VectorIndex

SEARCH_KEYS = ("ef", "nprobe", "rf")
DEFAULTS: dict[str, dict[str, Any]] = {
    "hnsw": {"m": 32, "efc": 80, "ef": 64},
    "hnsw_sq": {"m": 32, "efc": 80, "ef": 64},
    "ivfpq": {"nlist": 0, "pq": 32, "nprobe": 8, "rf": 2},
    "usearch": {"m": 16, "efc": 128, "ef": 64, "dtype": "f16"},
}
Search = Callable[[np.ndarray, int, dict[str, Any]], np.ndarray]  # (queries, k, params) -> ids


class SpecError(ValueError):
    """A spec that names an unknown option or key, or a value of the wrong type."""


def parse_spec(spec: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """``(name, build parameters, [search parameters, one dict per combination])``."""
    name, _, rest = spec.partition(":")
    if name not in DEFAULTS:
        raise SpecError(f"--option {spec!r}: expected one of {', '.join(DEFAULTS)}, got {name!r}")
    values: dict[str, list[Any]] = {key: [v] for key, v in DEFAULTS[name].items()}
    for item in filter(None, rest.split(",")):
        key, eq, raw = item.partition("=")
        if key not in values or not eq:
            raise SpecError(
                f"--option {spec!r}: key {key!r}: expected key=value with key one of "
                f"{', '.join(DEFAULTS[name])}"
            )
        kind = type(DEFAULTS[name][key])
        parts = raw.split("/") if key in SEARCH_KEYS else [raw]
        try:
            values[key] = [kind(p) for p in parts]
        except ValueError:
            raise SpecError(f"--option {spec!r}: key {key!r}: expected {kind.__name__}") from None
    build = {k: v[0] for k, v in values.items() if k not in SEARCH_KEYS}
    keys = [k for k in values if k in SEARCH_KEYS]
    combos = [
        dict(zip(keys, c, strict=True)) for c in itertools.product(*(values[k] for k in keys))
    ]
    return name, build, combos


def usearch_available() -> bool:
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


def build(name: str, p: dict[str, Any], x: np.ndarray, threads: int) -> tuple[Search, int]:
    """Build option ``name`` over ``x``; its search function and its serialised size in bytes."""
    n, dim = x.shape
    if name in ("hnsw", "ivfpq"):
        if name == "hnsw":
            index = VectorIndex(dim, "l2", "hnsw", hnsw_m=p["m"], ef_construction=p["efc"])
        else:
            index = VectorIndex(dim, "l2", "ivfpq", nlist=p["nlist"], pq_m=p["pq"])
        index.add(x)

        def search_lib(q: np.ndarray, k: int, s: dict[str, Any]) -> np.ndarray:
            index.ef_search = s.get("ef", index.ef_search)
            index.nprobe = s.get("nprobe", index.nprobe)
            index.k_factor = s.get("rf", index.k_factor)
            return index.search(q, k)[1]

        return search_lib, _faiss_bytes(index.index)
    if name == "hnsw_sq":
        sq = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, p["m"])
        sq.hnsw.efConstruction = p["efc"]
        sq.train(x)  # the per-dimension ranges
        sq.add(x)

        def search_sq(q: np.ndarray, k: int, s: dict[str, Any]) -> np.ndarray:
            params = faiss.SearchParametersHNSW(efSearch=max(s["ef"], k))
            return sq.search(q, k, params=params)[1]

        return search_sq, _faiss_bytes(sq)
    from usearch.index import Index

    ui = Index(
        ndim=dim,
        metric="l2sq",
        dtype=p["dtype"],
        connectivity=p["m"],
        expansion_add=p["efc"],
    )
    ui.add(np.arange(n, dtype=np.uint64), x, threads=threads)

    def search_us(q: np.ndarray, k: int, s: dict[str, Any]) -> np.ndarray:
        ui.expansion_search = max(s["ef"], k)
        return ui.search(q, k, threads=threads).keys.astype(np.int64)

    return search_us, int(ui.serialized_length)


def _faiss_bytes(index: faiss.Index) -> int:
    """The size of ``faiss.write_index``'s file (written to the temp folder, then removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        faiss.write_index(index, f"{tmp}/i.faiss")
        return os.path.getsize(f"{tmp}/i.faiss")


def exact_truth(x: np.ndarray, q: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, dict]:
    """Exact top-``k`` ids of every query (faiss ``IndexFlatL2``, 1,000 queries a chunk), and how
    long that took; cached in the temp folder unless the data are small."""
    digest = hashlib.sha1(x[:: max(len(x) // 1000, 1)].tobytes() + q.tobytes()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"siamese_gallery_truth_{len(x)}_{k}_{seed}_{digest}"
    if cache.with_suffix(".npy").is_file() and cache.with_suffix(".json").is_file():
        info = json.loads(cache.with_suffix(".json").read_text())
        return np.load(cache.with_suffix(".npy")), {**info, "cached": True}
    flat = faiss.IndexFlatL2(x.shape[1])
    t0, c0 = time.perf_counter(), time.process_time()
    flat.add(x)
    ids = np.concatenate([flat.search(q[s : s + 1000], k)[1] for s in range(0, len(q), 1000)])
    info = {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "load": os.getloadavg()[0],
        "bytes": int(flat.ntotal * flat.d * 4),
    }
    if len(x) >= 50_000:  # small data: recomputing is quicker than a file
        _write_atomic(cache.with_suffix(".npy"), lambda f: np.save(f, ids))
        _write_atomic(cache.with_suffix(".json"), lambda f: f.write(json.dumps(info).encode()))
    return ids, {**info, "cached": False}


def _write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k found in its approximate top-k."""
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, truth, strict=True)]))


def measure(
    spec: str, x: np.ndarray, q: np.ndarray, k: int, truth: np.ndarray, threads: int
) -> list[dict[str, Any]]:
    """Build ``spec`` and search all queries once per search-time combination: one row each."""
    name, params, combos = parse_spec(spec)
    t0, c0 = time.perf_counter(), time.process_time()
    search, nbytes = build(name, params, x, threads)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = []
    for s in combos:
        search(q[:100], k, s)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        ids = search(q, k, s)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        label = ",".join(f"{key}={v}" for key, v in {**params, **s}.items())
        rows.append(
            {
                "option": f"{name}:{label}",
                "build_s": build_s,
                "build_cpu_s": build_cpu,
                "index_bytes": nbytes,
                "search_s": wall,
                "search_cpu_s": cpu,
                "load": os.getloadavg()[0],
                f"recall@{k}": recall(ids, truth),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress, one line a row
    return rows
