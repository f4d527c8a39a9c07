"""Flip-averaged embeddings, listed-pair scores and the k-fold verification protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError
from siamese.evaluation.pair_protocol import (
    embed_flip_averaged,
    k_fold_verification,
    pair_list_scores,
)
from siamese.model import SiameseModel


class ColumnSums(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().sum(dim=(1, 2))  # (B, W): mirrored images give mirrored vectors


def test_flip_averaging_makes_an_image_and_its_mirror_identical():
    x = np.random.default_rng(0).integers(0, 255, size=(2, 1, 3, 5), dtype=np.uint8)
    x[1] = x[0][..., ::-1]
    ds = LabeledDataset(x, [0, 0], ["a"], ["l", "r"], kind="image")
    model = SiameseModel(ColumnSums(), distance="cosine")
    emb = embed_flip_averaged(model, ds)
    np.testing.assert_allclose(emb[0], emb[1], rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    plain = embed_flip_averaged(model, ds, flip=False)
    assert not np.allclose(plain[0], plain[1])


def test_pair_list_scores_are_negated_distances():
    model = SiameseModel(nn.Identity(), distance="euclidean")
    emb = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(
        pair_list_scores(model, emb, np.array([0, 0]), np.array([1, 2])), [-5.0, -1.0]
    )


def test_k_fold_threshold_comes_from_the_other_folds():
    same = np.array([1, 0] * 6, dtype=bool)
    folds = np.repeat(np.arange(3), 4)
    scores = np.where(same, 1.0, 0.0)
    scores[8:] = np.where(same[8:], 0.4, 0.3)  # fold 3 lives below the others' threshold
    res = k_fold_verification(scores, same, folds)
    assert res.per_fold[:2] == [1.0, 1.0] and res.per_fold[2] == 0.5
    assert res.mean == pytest.approx(2.5 / 3) and res.std > 0 and len(res.thresholds) == 3


def test_k_fold_needs_two_folds_and_matching_lengths():
    with pytest.raises(DataError, match="needs at least 2 folds, got 1"):
        k_fold_verification(np.ones(4), np.array([1, 0, 1, 0]), np.zeros(4))
    with pytest.raises(DataError, match="3 scores, 4 labels, 4 folds"):
        k_fold_verification(np.ones(3), np.array([1, 0, 1, 0]), np.zeros(4))
