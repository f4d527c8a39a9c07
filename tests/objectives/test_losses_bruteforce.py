"""Each loss against a brute-force Python loop over its pairs or triplets."""

from __future__ import annotations

import math

import pytest
import torch

from siamese.errors import ConfigError
from siamese.objectives import (
    ContrastiveLoss,
    Cosine,
    Euclidean,
    KochBCELoss,
    LosslessTripletLoss,
    MultiSimilarityLoss,
    PairHead,
    SquaredEuclidean,
    TripletLoss,
    all_pairs,
    all_triplets,
    create_objective,
)


def _emb(n=10, d=4, seed=0, sigmoid=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return torch.sigmoid(x) if sigmoid else x


LABELS = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 0, 2])


def _d(name, x, y):
    x, y = x.tolist(), y.tolist()
    sq = sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    if name == "euclidean":
        return math.sqrt(sq)
    if name == "squared_euclidean":
        return sq
    dot = sum(a * b for a, b in zip(x, y, strict=True))
    nx = math.sqrt(sum(a * a for a in x))
    ny = math.sqrt(sum(b * b for b in y))
    return 1 - dot / (nx * ny)


@pytest.mark.parametrize("dist", ["squared_euclidean", "cosine", "euclidean"])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_triplet_loss_matches_loop(dist, margin):
    e = _emb()
    loss = TripletLoss(margin=margin, distance=dist)(e, LABELS)
    terms = []
    for a in range(len(LABELS)):
        for p in range(len(LABELS)):
            for n in range(len(LABELS)):
                if a != p and LABELS[a] == LABELS[p] and LABELS[n] != LABELS[a]:
                    terms.append(max(_d(dist, e[a], e[p]) - _d(dist, e[a], e[n]) + margin, 0.0))
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("dist", ["euclidean", "cosine"])
def test_contrastive_loss_matches_loop(dist):
    e = _emb(seed=1)
    margin = 1.5 if dist == "euclidean" else 0.7
    loss = ContrastiveLoss(margin=margin, distance=dist)(e, LABELS)
    terms = []
    n = len(LABELS)
    for i in range(n):
        for j in range(i + 1, n):
            d = _d(dist, e[i], e[j])
            if LABELS[i] == LABELS[j]:
                terms.append(d**2)
            else:
                terms.append(max(margin - d, 0.0) ** 2)
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_contrastive_explicit_labels_and_convention_error():
    e1, e2 = _emb(4, seed=2), _emb(4, seed=3)
    y = torch.tensor([1, 0, 1, 0])
    loss = ContrastiveLoss(margin=1.0).pair_loss(e1, e2, y)
    expect = 0.0
    for i in range(4):
        d = _d("euclidean", e1[i], e2[i])
        expect += d**2 if y[i] == 1 else max(1.0 - d, 0) ** 2
    assert loss.item() == pytest.approx(expect / 4, rel=1e-6)
    with pytest.raises(ValueError, match="expected 1 for same-class"):
        ContrastiveLoss().pair_loss(e1, e2, torch.tensor([1, -1, 0, 2]))


def test_koch_bce_matches_loop():
    torch.manual_seed(0)
    e = _emb(seed=4).float()
    head = PairHead(4)
    loss = KochBCELoss()(e, LABELS, head=head)
    a1, p, a2, n = all_pairs(LABELS)
    w, b = head.linear.weight[0].tolist(), head.linear.bias.item()
    terms = []
    for (i, j), y in [((i, j), 1.0) for i, j in zip(a1.tolist(), p.tolist(), strict=True)] + [
        ((i, j), 0.0) for i, j in zip(a2.tolist(), n.tolist(), strict=True)
    ]:
        z = (
            sum(wk * abs(x - y2) for wk, x, y2 in zip(w, e[i].tolist(), e[j].tolist(), strict=True))
            + b
        )
        s = 1 / (1 + math.exp(-z))
        terms.append(-(y * math.log(s) + (1 - y) * math.log(1 - s)))
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_lossless_triplet_matches_loop():
    e = _emb(seed=5, sigmoid=True)
    dim = e.shape[1]
    loss = LosslessTripletLoss(dim=dim)(e, LABELS)
    a, p, n = all_triplets(LABELS)
    eps = 1e-8
    terms = []
    for i, j, k in zip(a.tolist(), p.tolist(), n.tolist(), strict=True):
        dp = _d("squared_euclidean", e[i], e[j])
        dn = _d("squared_euclidean", e[i], e[k])
        terms.append(-math.log(-dp / dim + 1 + eps) - math.log(-(dim - dn) / dim + 1 + eps))
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_lossless_needs_bounded_embeddings():
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        LosslessTripletLoss(dim=4)(_emb(seed=6) * 5, LABELS)


@pytest.mark.parametrize(("alpha", "beta", "base"), [(2.0, 50.0, 0.5), (1.0, 10.0, 0.0)])
def test_multi_similarity_matches_loop(alpha, beta, base):
    e = _emb(seed=10)
    loss = MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)(e, LABELS)
    terms = []
    for i in range(len(LABELS)):
        sims = [(1 - _d("cosine", e[i], e[j]), bool(LABELS[j] == LABELS[i])) for j in range(10)]
        pos = [s for j, (s, same) in enumerate(sims) if same and j != i]
        neg = [s for s, same in sims if not same]
        pull = math.log(1 + sum(math.exp(-alpha * (s - base)) for s in pos)) / alpha
        push = math.log(1 + sum(math.exp(beta * (s - base)) for s in neg)) / beta
        terms.append(pull + push)  # label 3 has no positive: its anchor still pushes
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)
    # triplets from a miner become the pairs (a, p) and (a, n), each counted from both items
    tuples = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    mined = MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)(e, None, tuples)
    s_ap, s_an = 1 - _d("cosine", e[0], e[1]), 1 - _d("cosine", e[0], e[2])
    anchor0 = math.log(1 + math.exp(-alpha * (s_ap - base))) / alpha
    anchor0 += math.log(1 + math.exp(beta * (s_an - base))) / beta
    anchor1 = math.log(1 + math.exp(-alpha * (s_ap - base))) / alpha
    anchor2 = math.log(1 + math.exp(beta * (s_an - base))) / beta
    assert mined.item() == pytest.approx((anchor0 + anchor1 + anchor2) / 3, rel=1e-6)


def test_explicit_index_tuples_are_used():
    e = _emb(seed=7)
    tuples = (torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([5, 7]))
    loss = TripletLoss(margin=0.3)(e, None, tuples)
    expect = sum(
        max(_d("squared_euclidean", e[a], e[p]) - _d("squared_euclidean", e[a], e[n]) + 0.3, 0)
        for a, p, n in zip(*[t.tolist() for t in tuples], strict=True)
    )
    assert loss.item() == pytest.approx(expect / 2, rel=1e-6)
    with pytest.raises(ValueError, match="needs triplets"):
        TripletLoss()(e, None, (tuples[0], tuples[1], tuples[0], tuples[2]))


def test_distance_matrix_matches_pairwise():
    x, y = _emb(5, seed=8), _emb(6, seed=9)
    for dist in (Euclidean(), SquaredEuclidean(), Cosine()):
        m = dist.matrix(x, y)
        for i in range(5):
            for j in range(6):
                assert m[i, j].item() == pytest.approx(
                    dist.pairwise(x[i : i + 1], y[j : j + 1]).item(), abs=1e-5
                )


def test_multi_similarity_config_settings():
    loss = create_objective("multi_similarity", embedding_dim=4, alpha=1.0, beta=20.0, base=0.3)
    assert loss.config() == {
        "name": "multi_similarity",
        "alpha": 1.0,
        "beta": 20.0,
        "base": 0.3,
        "distance": "cosine",
    }
    with pytest.raises(ConfigError, match="multi_similarity has no margin; set objective.base"):
        create_objective("multi_similarity", embedding_dim=4, margin=0.2)
    with pytest.raises(ConfigError, match="compares by cosine, got 'euclidean'"):
        create_objective("multi_similarity", embedding_dim=4, distance="euclidean")
    with pytest.raises(ConfigError, match="objective: .*base: expected a cosine in \\[-1, 1\\]"):
        create_objective("multi_similarity", embedding_dim=4, base=2.0)
    with pytest.raises(ConfigError, match="objective.beta: only multi_similarity has"):
        create_objective("triplet", embedding_dim=4, beta=10.0)


def test_a_batch_of_only_different_pairs_still_has_a_loss():
    """Pair losses learn from different pairs alone (the zero-loss shortcut is for no pair at
    all): BCE and contrastive equal their brute-force negative terms, with a gradient."""
    emb = _emb(6).requires_grad_(True)
    empty = torch.zeros(0, dtype=torch.long)
    a2, n = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    tuples = (empty, empty, a2, n)
    contrastive = ContrastiveLoss(margin=10.0, distance="euclidean")
    loss = contrastive(emb, tuples=tuples)
    e = emb.detach()
    d = [float(torch.dist(e[i], e[j])) for i, j in zip(a2.tolist(), n.tolist(), strict=True)]
    assert float(loss.detach()) == pytest.approx(sum(max(0.0, 10.0 - x) ** 2 for x in d) / 3)
    loss.backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0
    head = PairHead(4).double()
    bce = KochBCELoss()(emb.detach(), tuples=tuples, head=head)
    logits = head(emb[a2].detach(), emb[n].detach())
    expected = float(torch.nn.functional.softplus(logits).mean().detach())
    assert float(bce.detach()) == pytest.approx(expected) and expected > 0
    # no pair at all: still the graph-keeping zero
    assert float(contrastive(emb, tuples=(empty, empty, empty, empty)).detach()) == 0.0
