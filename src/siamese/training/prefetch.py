"""Data loading off the training thread: the next batches are read and decoded while the model trains."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

B = TypeVar("B")
T = TypeVar("T")

_DONE = object()


class Prefetcher(Generic[B, T]):
    """Iterate ``(batch, load(batch))`` with up to ``depth`` batches loaded ahead in a thread.

    The batches are drawn from ``batches`` in order by the background thread, so the sequence is
    exactly the one a plain loop would see (epochs stay reproducible). Decoding images (Pillow)
    and NumPy work release the GIL, so loading overlaps the model's forward and backward passes.
    An exception raised while drawing or loading is re-raised in the consuming thread.

    Args:
        batches: the batches of one epoch (e.g. ``generator.epoch(rng)``).
        load: turns a batch into what the step needs (e.g. input tensors).
        depth: batches loaded ahead; 0 loads synchronously in the caller's thread.

    Attributes:
        wait_seconds: time the consumer spent blocked waiting for a batch (data starvation).
        load_seconds: time spent inside ``load`` (in whichever thread ran it).
        batches: number of batches delivered.
    """

    def __init__(self, batches: Iterable[B], load: Callable[[B], T], *, depth: int = 2):
        self._source = batches
        self._load = load
        self.depth = max(0, int(depth))
        self.wait_seconds = 0.0
        self.load_seconds = 0.0
        self.batches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _timed_load(self, batch: B) -> T:
        t0 = time.perf_counter()
        out = self._load(batch)
        self.load_seconds += time.perf_counter() - t0
        return out

    def _put(self, out: queue.Queue, item: object) -> bool:
        """Hand ``item`` to the consumer; ``False`` if the consumer stopped meanwhile."""
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, out: queue.Queue) -> None:
        try:
            for batch in self._source:
                if not self._put(out, (batch, self._timed_load(batch))):
                    return
            self._put(out, _DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._put(out, exc)

    def __iter__(self) -> Iterator[tuple[B, T]]:
        if self.depth == 0:
            for batch in self._source:
                t0 = time.perf_counter()
                item = (batch, self._timed_load(batch))
                self.wait_seconds += time.perf_counter() - t0
                self.batches += 1
                yield item
            return
        out: queue.Queue = queue.Queue(maxsize=self.depth)
        self._thread = threading.Thread(
            target=self._work, args=(out,), daemon=True, name="prefetch"
        )
        self._thread.start()
        try:
            while True:
                t0 = time.perf_counter()
                item = out.get()
                self.wait_seconds += time.perf_counter() - t0
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                self.batches += 1
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the background thread (called automatically when iteration ends or breaks)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
