"""Gallery: fit / add / identify / verify / unknown, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, DataError
from siamese.gallery import UNKNOWN, Gallery


def brute_force_classes(model, gallery_x, names, queries):
    """Per query: every class with the distance to its nearest example, nearest first."""
    g = model.embed(gallery_x)
    q = model.embed(queries)
    if model.head is not None:
        d = np.stack([1.0 - model.similarity(qi.expand_as(g), g).numpy() for qi in q])
    else:
        d = model.distance.matrix(q, g).numpy()  # (Q, N)
    out = []
    for row in d:
        best: dict[str, float] = {}
        for name, v in zip(names, row, strict=True):
            best[name] = min(best.get(name, np.inf), float(v))
        out.append(sorted(best.items(), key=lambda kv: kv[1]))
    return out


@pytest.mark.parametrize("distance", ["euclidean", "squared_euclidean", "cosine"])
def test_identify_matches_brute_force_per_class_minimum(make_mlp, vectors, distance):
    model = make_mlp(distance)
    names = [f"c{i % 7}" for i in range(20)]
    g = Gallery(model).fit(vectors[:20], names)
    results = g.identify(vectors[20:], k=3)
    want = brute_force_classes(model, vectors[:20], names, vectors[20:])
    for r, w in zip(results, want, strict=True):
        assert [m.label for m in r.matches] == [n for n, _ in w[:3]]
        np.testing.assert_allclose(
            [m.distance for m in r.matches], [d for _, d in w[:3]], atol=1e-4
        )
        assert r.known and r.label == w[0][0]


def test_pair_head_identify_rescores_with_probability(make_mlp, vectors):
    model = make_mlp(head=True)
    names = [f"c{i % 5}" for i in range(20)]
    g = Gallery(model).fit(vectors[:20], names)
    assert g.threshold_ == 0.5  # p(same) = 0.5 by default
    want = brute_force_classes(model, vectors[:20], names, vectors[20:])
    for r, w in zip(g.identify(vectors[20:], k=5), want, strict=True):
        assert [m.label for m in r.matches] == [n for n, _ in w]
        assert r.known == (w[0][1] <= 0.5)


def test_k_is_capped_by_the_number_of_classes(mlp_model, vectors):
    g = Gallery(mlp_model).fit(vectors[:6], ["a", "a", "b", "b", "c", "c"])
    r = g.identify(vectors[6:8], k=10)[0]
    assert len(r.matches) == 3 and len({m.label for m in r.matches}) == 3
    assert [m.distance for m in r.matches] == sorted(m.distance for m in r.matches)


def test_enrolled_items_identify_as_themselves(mlp_model, vectors):
    g = Gallery(mlp_model).fit(vectors, list(range(30)), class_names=[f"n{i}" for i in range(30)])
    labels = [r.label for r in g.identify(vectors, k=1)]
    assert labels == [f"n{i}" for i in range(30)]


def test_add_enrolls_new_classes_without_refitting(mlp_model, vectors):
    g = Gallery(mlp_model).fit(vectors[:10], [f"c{i}" for i in range(10)])
    before = g.identify(vectors[:10], k=1)
    g.add(vectors[10:15], ["new"] * 5)
    g.add(vectors[15:16], ["c0"])  # another example of a known class
    assert g.num_classes == 11 and len(g) == 16
    assert g.identify(vectors[:10], k=1) == before
    assert g.identify(vectors[12:13], k=1)[0].label == "new"
    assert g.identify(vectors[15:16], k=1)[0].label == "c0"


def test_threshold_answers_unknown(mlp_model, vectors):
    g = Gallery(mlp_model, threshold=1e-3).fit(vectors[:10], [f"c{i}" for i in range(10)])
    near, far = g.identify(vectors[:1], k=2)[0], g.identify(vectors[20:21] + 50.0, k=2)[0]
    assert near.known and near.label == "c0"
    assert g.predict(np.stack([vectors[0], vectors[20] + 50.0])).tolist() == ["c0", UNKNOWN]
    assert not far.known and far.label == UNKNOWN and len(far.matches) == 2


def test_verify_scores_with_model_similarity(mlp_model, vectors):
    g = Gallery(mlp_model)
    r = g.verify(vectors[:3], vectors[:3])
    assert all(v.same is None for v in r)  # no threshold yet
    g = Gallery(mlp_model, threshold=0.05)
    r = g.verify(vectors[:2], np.stack([vectors[0], vectors[5]]))
    want = mlp_model.similarity(mlp_model.embed(vectors[:2]), mlp_model.embed(vectors[[0, 5]]))
    np.testing.assert_allclose([v.score for v in r], want.numpy(), atol=1e-6)
    assert r[0].same is True and r[0].distance == pytest.approx(-r[0].score)
    assert r[1].same == (r[1].distance <= 0.05)


def test_verify_with_pair_head_reports_probability(make_mlp, vectors):
    model = make_mlp(head=True)
    r = Gallery(model).verify(vectors[:4], vectors[4:8])
    for v in r:
        assert 0.0 < v.score < 1.0 and v.distance == pytest.approx(1.0 - v.score)
        assert v.same == (v.score >= 0.5)


def test_custom_encoder_module_works(make_identity):
    model = make_identity(3)
    g = Gallery(model).fit(np.eye(3, dtype=np.float32), ["x", "y", "z"])
    r = g.identify(torch.tensor([[0.9, 0.1, 0.0]]).numpy(), k=1)[0]
    assert r.label == "x"


def test_bad_input_is_a_clear_error(mlp_model, vectors):
    g = Gallery(mlp_model)
    with pytest.raises(ConfigError, match="gallery is empty"):
        g.identify(vectors[:1])
    with pytest.raises(DataError, match=r"expected a batch of shape \(N, 8\).*got \(3, 5\)"):
        g.fit(np.zeros((3, 5), np.float32), ["a", "b", "c"])
    with pytest.raises(DataError, match="expected 3 labels"):
        g.fit(vectors[:3], ["a", "b"])
    with pytest.raises(DataError, match=r"integers in \[0, 2\)"):
        g.fit(vectors[:3], [0, 1, 2], class_names=["a", "b"])
    with pytest.raises(DataError, match="empty batch"):
        g.fit(vectors[:0], [])
    with pytest.raises(ConfigError, match="index: expected one of"):
        Gallery(mlp_model, index="annoy").fit(vectors[:3], ["a", "b", "c"])


def test_identification_to_dict_is_asdict():
    """``to_dict`` is built field by field (speed); it must stay what ``asdict`` gives, so a
    field added to the dataclass cannot go missing from the CLI's and the service's answers."""
    from dataclasses import asdict

    from siamese.gallery._results import Identification, Match

    r = Identification("a", True, 0.25, [Match("a", 0.25), Match("b", 0.5)])
    assert r.to_dict() == asdict(r)
    assert Identification("unknown", False, 1.5).to_dict() == asdict(
        Identification("unknown", False, 1.5)
    )
