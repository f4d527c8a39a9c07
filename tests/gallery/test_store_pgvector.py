"""The PostgreSQL + pgvector store against a real server (``source .ci/start-postgres``).

Without ``$SIAMESE_TEST_PG_DSN`` these tests skip, except in CI (``CI=true``), where a missing
server is a failure: .ci/run starts one.
"""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest
from torch import nn

from siamese.errors import ConfigError, DataError, ModelFileError
from siamese.gallery import Gallery
from siamese.model import SiameseModel

DSN = os.environ.get("SIAMESE_TEST_PG_DSN")
if not DSN and os.environ.get("CI"):
    pytest.fail("CI: $SIAMESE_TEST_PG_DSN is not set; .ci/run must `source .ci/start-postgres`")
pytestmark = pytest.mark.skipif(
    not DSN, reason="no PostgreSQL server: `source .ci/start-postgres` exports SIAMESE_TEST_PG_DSN"
)


@pytest.fixture
def pg_store():
    from siamese.gallery._store_pgvector import PgVectorStore

    store = PgVectorStore(DSN, f"t{uuid.uuid4().hex[:12]}")
    yield store
    store.drop()
    store.close()


def _pair(model, items, names, tmp_path, store):
    """The same enrolments in an SQLite gallery and a pgvector gallery, both loaded back."""
    Gallery(model).fit(items, names).save(tmp_path / "lite")
    Gallery(model).fit(items, names).save(tmp_path / "pg", store=store)
    return Gallery.load(tmp_path / "lite"), Gallery.load(tmp_path / "pg", dsn=DSN)


@pytest.mark.parametrize(
    ("distance", "head"),
    [("euclidean", False), ("squared_euclidean", False), ("cosine", False), ("euclidean", True)],
)
def test_identify_is_the_same_on_sqlite_and_pgvector(
    make_mlp, vectors, tmp_path, pg_store, distance, head
):
    model = make_mlp(distance, head=head)
    names = [f"c{i % 7}" for i in range(20)]
    lite, pg = _pair(model, vectors[:20], names, tmp_path, pg_store)
    assert pg.index_.structure == ("exact" if head else "pgvector")  # L1: faiss from the rows
    np.testing.assert_array_equal(pg.embeddings_, lite.embeddings_)  # float32 exactly
    for a, b in zip(lite.identify(vectors, k=4), pg.identify(vectors, k=4), strict=True):
        assert [m.label for m in a.matches] == [m.label for m in b.matches]
        np.testing.assert_allclose(
            [m.distance for m in a.matches], [m.distance for m in b.matches], atol=1e-4
        )
        assert a.label == b.label


def test_enrolments_are_shared_and_durable(make_mlp, vectors, tmp_path, pg_store):
    model = make_mlp()
    g = Gallery(model).fit(vectors[:10], [f"c{i}" for i in range(10)])
    g.save(tmp_path / "pg", store=pg_store)
    cfg = json.loads((tmp_path / "pg" / "gallery.json").read_text())
    assert cfg["store"] == {
        "kind": "pgvector",
        "table": pg_store.name,
        "dsn_env": "SIAMESE_GALLERY_DSN",
    }
    assert "postgresql://" not in (tmp_path / "pg" / "gallery.json").read_text()  # no DSN on disk
    g.add(vectors[10:12], ["new", "new"])  # committed on the server before add returns
    g.calibrate(vectors[20:], [f"c{i % 10}" for i in range(10)], far=0.3)
    other = Gallery.load(tmp_path / "pg", dsn=DSN)  # e.g. another machine
    assert len(other) == 12 and other.threshold_ == g.threshold_
    assert other.identify(vectors[:12], k=2) == g.identify(vectors[:12], k=2)
    other.add(vectors[12:13], ["late"])
    with pytest.raises(ConfigError, match="another process changed it; load it again"):
        g.add(vectors[13:14], ["stale"])
    with pytest.raises(DataError, match="reserved"):
        other.add(vectors[13:14], ["unknown"])
    assert len(Gallery.load(tmp_path / "pg", dsn=DSN)) == 13
    other.store_.close()


def test_crowding_round_trips(make_identity, tmp_path, pg_store):
    rng = np.random.default_rng(0)
    items, background = rng.normal(size=(8, 3)), rng.normal(size=(30, 3))
    g = Gallery(make_identity(3)).fit(items, [f"c{i}" for i in range(8)])
    g.save(tmp_path / "pg", store=pg_store)
    g.set_background(background, beta=0.5, k=5)
    back = Gallery.load(tmp_path / "pg", model=make_identity(3), dsn=DSN)
    np.testing.assert_array_equal(back.crowding_.radius, g.crowding_.radius)
    assert back.identify(items, k=3) == g.identify(items, k=3)


def test_a_missing_dsn_or_server_is_a_clear_error(
    make_mlp, vectors, tmp_path, pg_store, monkeypatch
):
    from siamese.gallery._store_pgvector import PgVectorStore

    Gallery(make_mlp()).fit(vectors[:4], list("abcd")).save(tmp_path / "pg", store=pg_store)
    monkeypatch.delenv("SIAMESE_GALLERY_DSN", raising=False)
    with pytest.raises(ModelFileError, match=r"set \$SIAMESE_GALLERY_DSN to the server's DSN"):
        Gallery.load(tmp_path / "pg")
    monkeypatch.setenv("SIAMESE_GALLERY_DSN", DSN)
    assert len(Gallery.load(tmp_path / "pg")) == 4
    with pytest.raises(ModelFileError, match="cannot connect to the gallery database"):
        PgVectorStore("postgresql://nobody@127.0.0.1:1/none", "g")
    with pytest.raises(ConfigError, match="expected lowercase letters"):
        PgVectorStore(DSN, "Robert'); DROP TABLE x;--")


def test_enroll_and_identify_commands_on_pgvector(saved_model, tmp_path, capsys, monkeypatch):
    from siamese.cli.app import main
    from siamese.gallery._store_pgvector import PgVectorStore

    rng = np.random.default_rng(0)
    for c in range(3):
        (tmp_path / "data" / f"p{c}").mkdir(parents=True)
        np.save(tmp_path / "data" / f"p{c}" / "0.npy", rng.normal(size=8) + 5 * c)
    table = f"t{uuid.uuid4().hex[:12]}"
    argv = ["enroll", str(saved_model), "--folder", str(tmp_path / "data")]
    argv += ["--out", str(tmp_path / "g"), "--pgvector-table", table, "--json"]
    monkeypatch.delenv("SIAMESE_GALLERY_DSN", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "set $SIAMESE_GALLERY_DSN" in capsys.readouterr().err
    monkeypatch.setenv("SIAMESE_GALLERY_DSN", DSN)
    try:
        main(argv)
        assert json.loads(capsys.readouterr().out)["examples"] == 3
        main(["identify", str(tmp_path / "g"), str(tmp_path / "data" / "p1" / "0.npy"), "--json"])
        assert "p1" in capsys.readouterr().out
    finally:
        store = PgVectorStore(DSN, table)
        store.drop()
        store.close()


def test_loading_reads_no_rows_and_search_returns_the_classes(
    make_mlp, vectors, tmp_path, pg_store
):
    """A loaded pgvector gallery holds StoredRows, not arrays: load and identify fetch no row
    (the search returns each hit's class); enrolments after the load extend the count."""
    from siamese.gallery._stored_rows import StoredRows

    model = make_mlp("cosine")
    names = [f"c{i % 5}" for i in range(20)]
    lite, _ = _pair(model, vectors[:20], names, tmp_path, pg_store)
    fetched = []
    original = pg_store._fetch_rows  # what reads rows from the server
    pg_store._fetch_rows = lambda *a: fetched.append(a[0]) or original(*a)
    loaded = _files_open(tmp_path / "pg", pg_store)
    assert isinstance(loaded.embeddings_, StoredRows) and loaded.embeddings_.shape == (20, 4)
    assert isinstance(loaded.labels_, StoredRows) and len(loaded) == 20
    for a, b in zip(lite.identify(vectors, k=3), loaded.identify(vectors, k=3), strict=True):
        assert [m.label for m in a.matches] == [m.label for m in b.matches]
        np.testing.assert_allclose(
            [m.distance for m in a.matches], [m.distance for m in b.matches], atol=1e-4
        )
    assert fetched == []  # neither the load nor the searches read a row
    loaded.add(vectors[20:22], ["new", "new"])
    assert len(loaded) == 22 and loaded.identify(vectors[20:21], k=1)[0].label == "new"
    np.testing.assert_array_equal(np.asarray(loaded.embeddings_)[:20], lite.embeddings_)
    np.testing.assert_array_equal(loaded.labels_[np.array([0, 21])], [0, 5])
    assert fetched == ["embedding", "class_id"]  # only what was asked for


def _files_open(folder, store):
    """``Gallery.load`` of ``folder`` on ``store``'s connection (to watch its fetches)."""
    from siamese.gallery import _files

    original = _files.open_store
    _files.open_store = lambda *a: store
    try:
        return Gallery.load(folder, dsn=DSN)
    finally:
        _files.open_store = original


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_hnsw_search_on_the_server_and_exact_as_an_option(
    tmp_path, pg_store, monkeypatch, distance
):
    """The rows get an HNSW index; index="auto" searches exactly up to AUTO_EXACT_MAX rows and
    through HNSW beyond, index="exact" always exactly; on well-separated clusters both agree."""
    from siamese.gallery import _store_pgvector

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, 6)) * 4
    items = (np.repeat(centres, 5, axis=0) + 0.1 * rng.normal(size=(200, 6))).astype(np.float32)
    names = [f"c{i // 5}" for i in range(200)]
    model = SiameseModel(
        nn.Identity(), distance=distance, info={"kind": "vector", "item_shape": [6]}
    )
    Gallery(model).fit(items, names).save(tmp_path / "auto", store=pg_store)
    assert pg_store.has_hnsw_index()
    auto = Gallery.load(tmp_path / "auto", model=model, dsn=DSN)
    assert auto.index_.exact  # 200 rows <= AUTO_EXACT_MAX
    queries = (centres + 0.1 * rng.normal(size=centres.shape)).astype(np.float32)
    exact = auto.identify(queries, k=3)
    monkeypatch.setattr(_store_pgvector, "AUTO_EXACT_MAX", 100)
    assert not auto.index_.exact
    approx = auto.identify(queries, k=3)
    assert [r.label for r in approx] == [r.label for r in exact] == [f"c{i}" for i in range(40)]
    scores, ids = pg_store.search(queries, 1, auto._metric, 200, exact=True)
    scores_h, ids_h = pg_store.search(queries, 1, auto._metric, 200, exact=False)
    np.testing.assert_array_equal(ids, ids_h)
    np.testing.assert_allclose(scores, scores_h, atol=1e-5)
    g = Gallery(model, index="exact").fit(items, names)
    g.save(tmp_path / "exact", store=pg_store)
    assert Gallery.load(tmp_path / "exact", model=model, dsn=DSN).index_.exact
