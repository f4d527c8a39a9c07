"""Re-ranking the index's top-k with a pair scorer: the order against brute force, the unknown
decision untouched, the head learns same/different on frozen embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import DataError
from siamese.gallery import Gallery
from siamese.gallery.rerank import rerank, train_pair_head


def test_rerank_orders_by_the_scorer_against_brute_force(make_identity):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    names = [f"c{i % 4}" for i in range(12)]  # 4 classes, 3 examples each
    g = Gallery(make_identity(3), threshold=1e9).fit(x, names)
    q = rng.normal(size=(5, 3)).astype(np.float32)
    base = g.identify_embeddings(q, k=3)
    w = torch.tensor([1.0, -2.0, 0.5])

    def scorer(a, b):  # a made-up pair scorer: logits of a weighted L1
        return -((a - b).abs() * w.abs()).sum(-1) + 0.1 * b[:, 0]

    new = rerank(g, q, base, scorer)
    for qi, (b, r) in enumerate(zip(base, new, strict=True)):
        assert {m.label for m in r.matches} == {m.label for m in b.matches}  # same candidates
        best = {}
        for m in b.matches:  # brute force: max p over the class's examples
            e = torch.from_numpy(x[[i for i, n in enumerate(names) if n == m.label]])
            p = torch.sigmoid(scorer(torch.from_numpy(q[qi]).expand(len(e), -1), e))
            best[m.label] = 1 - float(p.max())
        assert [m.label for m in r.matches] == sorted(best, key=lambda n: best[n])
        assert [m.distance for m in r.matches] == pytest.approx(sorted(best.values()), abs=1e-6)
        assert r.label == r.matches[0].label and r.distance == b.distance


def test_rerank_keeps_unknown_unknown(make_identity):
    x = np.eye(3, dtype=np.float32)
    g = Gallery(make_identity(3), threshold=0.1).fit(x, ["a", "b", "c"])
    q = np.array([[5.0, 5.0, 5.0]], np.float32)
    base = g.identify_embeddings(q, k=3)
    new = rerank(g, q, base, lambda a, b: -(a - b).abs().sum(-1))
    assert not new[0].known and new[0].label == "unknown" and len(new[0].matches) == 3


def test_trained_head_tells_same_from_different():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 8)) * 3
    labels = np.repeat(np.arange(6), 20)
    emb = (centres[labels] + 0.3 * rng.normal(size=(120, 8))).astype(np.float32)
    head = train_pair_head(emb, labels, steps=150, seed=0)
    e = torch.from_numpy(emb)
    same = head.probability(e[0:10], e[10:20])  # class 0 with class 0
    diff = head.probability(e[0:10], e[20:30])  # class 0 with class 1
    assert same.min() > 0.5 > diff.max()
    with pytest.raises(DataError, match="needs two classes and a class with at least 2 examples"):
        train_pair_head(emb[:6], np.arange(6))


def test_identify_rerank_cli(tmp_path, make_mlp, capsys):
    import json

    from siamese.cli.app import main

    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 8)).astype(np.float32)
    Gallery(make_mlp()).fit(x, list("aabbccdd")).save(tmp_path / "g")
    Gallery(make_mlp()).fit(x[:4], list("abcd")).save(tmp_path / "one_shot")
    for i in range(3):
        np.save(tmp_path / f"q{i}.npy", x[2 * i] + 0.01)
    files = [str(tmp_path / f"q{i}.npy") for i in range(3)]
    main(["identify", str(tmp_path / "g"), *files, "-k", "2", "--rerank", "4", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert [len(r["matches"]) for r in res] == [2, 2, 2]
    assert all(0 <= m["distance"] <= 1 for r in res for m in r["matches"])  # 1 - p(same)
    with pytest.raises(SystemExit) as exc:
        main(["identify", str(tmp_path / "one_shot"), *files, "--rerank", "3"])
    assert exc.value.code == 2
    assert "at least 2 examples" in capsys.readouterr().err
