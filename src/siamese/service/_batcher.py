"""A micro-batcher for ``/identify``: concurrent requests become one forward pass and one search.

Each request hands the batcher a ``prepare`` function (parse and decode its body into
``(items, lengths, k)``) and awaits a future. One worker thread (never the event loop) takes the
first waiting request, then collects more until ``max_items`` items are waiting or ``max_wait_ms``
has passed (0 by default: what is waiting, which under load is what arrived while the previous
batch ran), and then runs the whole batch: every ``prepare`` (a request whose body is bad gets its
own error, the others go on), one ``Gallery.embed`` of all the items, one
``Gallery.identify_embeddings`` per distinct ``k`` under the gallery's lock (the lock ``/enroll``
takes, so a batch sees the gallery before or after an enrolment, never during one), and the
answers are split back into the requests. When the batched forward pass or search fails, each
request of that batch is run again on its own, so an error reaches only the request that caused
it, with the same message it gets unbatched. The answers are those of the unbatched path (the
same model and the same search, row by row: the same labels in the same order; distances may
differ in the last bits, as a forward pass of many items rounds differently from one of one).

The worker starts with the first request and stops on ``close()`` (the app's shutdown), which
joins the thread and fails whatever is still waiting; a worker idle for 30 s ends too (the next
request starts another), so an app that is never shut down leaves no thread behind for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
from fastapi import HTTPException

from siamese.errors import ConfigError
from siamese.gallery import Gallery

Prepared = tuple[np.ndarray, "np.ndarray | None", int]  # items (n, *shape), lengths (n,), k
MAX_ITEMS = 4096  # the largest batch a setting may ask for
MAX_WAIT_MS = 1000.0
IDLE_EXIT_S = 30.0  # a worker with nothing to do for this long ends (an app never shut down)


def check_batch_settings(max_items: int, max_wait_ms: float) -> None:
    """Refuse batch settings out of range with one line naming the setting.

    Raises:
        ConfigError: ``max_items`` not an integer in 1..4096 or ``max_wait_ms`` not a finite
            number in 0..1000.
    """
    if isinstance(max_items, bool) or not isinstance(max_items, int):
        raise ConfigError(f"batch_max_items {max_items!r}: expected an integer in [1, {MAX_ITEMS}]")
    if not 1 <= max_items <= MAX_ITEMS:
        raise ConfigError(
            f"batch_max_items {max_items}: expected an integer in [1, {MAX_ITEMS}] (items "
            "embedded and searched together)"
        )
    if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)):
        raise ConfigError(f"batch_max_wait_ms {max_wait_ms!r}: expected a number of milliseconds")
    if not 0.0 <= float(max_wait_ms) <= MAX_WAIT_MS:  # NaN fails too
        raise ConfigError(
            f"batch_max_wait_ms {max_wait_ms}: expected a number in [0, {MAX_WAIT_MS:g}] "
            "(how long the first request of a batch waits for others)"
        )


@dataclass
class _Request:
    prepare: Callable[[], Prepared]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    prepared: Prepared | None = None
    answer: Any = None
    error: BaseException | None = None


@dataclass
class _Stats:
    batches: int = 0  # batches run (a forward pass and a search per k each)
    requests: int = 0
    items: int = 0
    largest: int = 0  # most items in one batch
    reruns: int = 0  # requests run again alone after their batch failed


class MicroBatcher:
    """Batch concurrent identify requests (see the module docstring).

    Args:
        gallery: the served gallery.
        lock: the lock that guards the gallery's index and arrays (shared with ``/enroll``).
        answer: turns ``(identifications, threshold)`` of one request into its response body.
        max_items: most items embedded and searched together (a larger request runs alone).
        max_wait_ms: how long the first request of a batch waits for more (0, the default:
            take what is waiting; under load, what arrived while the last batch ran). 0 had the
            lower p99 at 50 clients (``benchmarks/service_latency.py``, docs/service.md).

    Raises:
        ConfigError: settings out of range.
    """

    def __init__(
        self,
        gallery: Gallery,
        lock: threading.Lock,
        answer: Callable[[list[Any], float | None], Any],
        *,
        max_items: int = 64,
        max_wait_ms: float = 0.0,
    ):
        check_batch_settings(max_items, max_wait_ms)
        self.gallery, self.lock, self.answer = gallery, lock, answer
        self.max_items, self.max_wait = max_items, float(max_wait_ms) / 1000.0
        self.stats = _Stats()
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._search_threads = faiss.omp_get_max_threads()  # the creating thread's setting

    async def submit(self, prepare: Callable[[], Prepared]) -> Any:
        """Queue one request and wait for its answer (or its error, raised here)."""
        loop = asyncio.get_running_loop()
        request = _Request(prepare, loop, loop.create_future())
        with self._cond:
            if self._closed:
                raise HTTPException(503, "the service is stopping: send the request again later")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="siamese-identify-batcher", daemon=True
                )
                self._thread.start()
            self._queue.append(request)
            self._cond.notify()
        return await request.future

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker (after the batch it is running), join it, fail what is still queued."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            left, self._queue = self._queue, []
        for r in left:
            r.error = HTTPException(503, "the service stopped before this request was answered")
        _resolve(left)

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ the worker thread
    def _work(self) -> None:
        faiss.omp_set_num_threads(self._search_threads)  # an OpenMP setting is per thread
        while True:
            batch = self._collect()
            if batch is None:
                return
            try:
                self._run(batch)
            except BaseException as exc:  # never leave a request waiting
                for r in batch:
                    if r.answer is None and r.error is None:
                        r.error = exc
            _resolve(batch)

    def _collect(self) -> list[_Request] | None:
        """Wait for a first request, then for more until full or ``max_wait`` has passed."""
        with self._cond:
            while not self._queue and not self._closed:
                if not self._cond.wait(IDLE_EXIT_S) and not self._queue:
                    self._thread = None  # idle: the next request starts a new worker
                    return None
            if self._closed:
                return None
            deadline = time.monotonic() + self.max_wait
            while self._waiting_items() < self.max_items and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._queue = self._queue, []
            return batch

    def _waiting_items(self) -> int:
        return sum(_size(r) for r in self._queue)

    def _run(self, batch: list[_Request]) -> None:
        """Prepare the requests in order up to ``max_items`` items (the rest go back to the
        front of the queue, prepared), then run the prepared ones together."""
        ready: list[_Request] = []
        items = 0
        for i, r in enumerate(batch):
            if r.prepared is None:
                try:
                    r.prepared = r.prepare()
                except Exception as exc:  # this request's own 4xx; the others go on
                    r.error = exc
                    continue
            n = len(r.prepared[0])
            if ready and items + n > self.max_items:
                with self._cond:
                    self._queue[:0] = batch[i:]
                del batch[i:]
                break
            ready.append(r)
            items += n
        if not ready:
            return
        self.stats.batches += 1
        self.stats.requests += len(ready)
        self.stats.items += items
        self.stats.largest = max(self.stats.largest, items)
        try:
            self._run_together(ready)
        except Exception:
            self.stats.reruns += len(ready)
            for r in ready:  # each alone: an error reaches only the request that caused it
                try:
                    self._run_together([r])
                except Exception as exc:
                    r.error = exc

    def _run_together(self, group: list[_Request]) -> None:
        """One forward pass for the group's items, one search per distinct ``k``."""
        prepared = [r.prepared for r in group if r.prepared is not None]
        items = np.concatenate([p[0] for p in prepared]) if len(prepared) > 1 else prepared[0][0]
        lengths = _lengths(prepared)
        emb = self.gallery.embed(items, lengths)  # (N, D)
        bounds = np.cumsum([0] + [len(p[0]) for p in prepared])
        rows = {id(r): emb[bounds[i] : bounds[i + 1]] for i, r in enumerate(group)}
        answers: dict[int, Any] = {}
        for k in dict.fromkeys(p[2] for p in prepared):
            members = [r for r in group if r.prepared is not None and r.prepared[2] == k]
            queries = np.concatenate([rows[id(r)] for r in members])  # (q, D)
            with self.lock:
                found = self.gallery.identify_embeddings(queries, k)
                threshold = self.gallery.threshold_
            start = 0
            for r in members:
                stop = start + len(rows[id(r)])
                answers[id(r)] = self.answer(found[start:stop], threshold)
                start = stop
        for r in group:
            r.answer = answers[id(r)]


def _size(r: _Request) -> int:
    """A request's items once prepared (1 before: its body is not read yet)."""
    return 1 if r.prepared is None else len(r.prepared[0])


def _lengths(prepared: list[Prepared]) -> np.ndarray | None:
    """The batch's lengths ``(N,)``, or None when no request has any."""
    if all(p[1] is None for p in prepared):
        return None
    full = prepared[0][0].shape[1]
    return np.concatenate(
        [p[1] if p[1] is not None else np.full(len(p[0]), full, np.int64) for p in prepared]
    )


def _resolve(batch: list[_Request]) -> None:
    """Hand each answer (or error) to its request's event loop: one callback per loop."""
    by_loop: dict[int, list[_Request]] = {}
    for r in batch:
        by_loop.setdefault(id(r.loop), []).append(r)
    for group in by_loop.values():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            group[0].loop.call_soon_threadsafe(_settle, group)


def _settle(group: list[_Request]) -> None:
    for r in group:
        if r.future.done():  # the client went away and the request was cancelled
            continue
        if r.error is not None:
            r.future.set_exception(r.error)
        else:
            r.future.set_result(r.answer)
