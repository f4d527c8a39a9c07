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

from siamese.errors import ConfigError, DataError, ModelFileError
from siamese.gallery import Gallery

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
