"""SIGKILL during enrolments: every acknowledged item survives and the gallery loads.

A child process appends single-item enrolments to a gallery's SQLite store and prints each
label once its transaction committed (what the service acknowledges); it is killed at random
moments. The gallery must load after each kill and hold every printed label. The child is
forked (no new interpreter), so a kill costs a fraction of a second; ``test_gallery_crash_quick``
does the same against ``siamese serve`` with concurrent clients.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from siamese.gallery import Gallery
from siamese.gallery._store_sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]


def _enrol_forever(db: Path, trial: int, ack_fd: int) -> None:
    """The child: one committed transaction per enrolment, then the label on the ack pipe."""
    store = SQLiteStore(db)
    rng = np.random.default_rng(trial)
    stored = store.read()
    items, classes = len(stored.labels), len(stored.class_names)
    os.write(ack_fd, b"ready\n")
    for n in range(1_000_000):
        label = f"k{trial}-{n}"
        emb = rng.normal(size=(1, 4)).astype(np.float32)
        store.append(
            items=items,
            classes=classes,
            new_classes=[label],
            embeddings=emb,
            labels=np.array([classes]),
            radius=None,
        )
        items, classes = items + 1, classes + 1
        os.write(ack_fd, f"{label}\n".encode())  # acknowledged: the transaction committed


def test_sigkill_during_enrolments_loses_no_acknowledged_item(tmp_path, make_mlp, vectors):
    folder = tmp_path / "g"
    g = Gallery(make_mlp()).fit(vectors[:4], list("abcd"))
    g.save(folder)
    g.store_.close()
    rng = np.random.default_rng(0)
    acked: set[str] = set()
    fork = multiprocessing.get_context("fork")  # the child needs no torch: forking is instant
    for trial in range(5):
        read_fd, write_fd = os.pipe()
        child = fork.Process(target=_enrol_forever, args=(folder / "gallery.db", trial, write_fd))
        child.start()
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as acks:
            assert acks.readline() == b"ready\n"
            time.sleep(float(rng.uniform(0.05, 0.4)))
            os.kill(child.pid, signal.SIGKILL)
            child.join()
            acked |= {line.decode().strip() for line in acks.read().splitlines()}
        back = Gallery.load(folder)  # loads after every kill ...
        assert acked <= set(back.class_names_)  # ... with every acknowledged item
        assert len(back) == len(back.class_names_)  # one item per label, none half-written
        assert back.identify(vectors[:2], k=1)[0].label == "a"
        back.store_.close()
    assert len(acked) >= 5, "the child committed too few enrolments to test anything"


@pytest.mark.slow
def test_gallery_crash_quick():
    """benchmarks/gallery_crash.py --quick: kills of `siamese serve` under concurrent clients."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gallery_crash.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    crashes = json.loads(proc.stdout)["crashes"]
    assert crashes["kills"] == 3 and crashes["unloadable"] == 0
    assert crashes["lost_acknowledged"] == 0 and crashes["enrolled_twice"] == 0
    assert crashes["acknowledged"] >= 3  # at least the first enrolment of each server
    assert crashes["recovered_acknowledged"] == crashes["acknowledged"]
