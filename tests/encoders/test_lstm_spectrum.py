"""The LSTM's spectrum branch, computed as DFT matmuls (exportable), is torch.fft's spectrum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.encoders import create_encoder, lstm
from siamese.model import SiameseModel


def fft_spectrum(z, lengths, bins):
    """The spectrum as saved models before the DFT form computed it (torch.fft.rfft per length)."""
    B, T, C = z.shape
    mag = z.new_zeros(B, bins, C)
    groups = (
        [(None, slice(None))]
        if lengths is None
        else [(int(n), lengths == n) for n in lengths.unique()]
    )
    for n, rows in groups:
        f = torch.fft.rfft(z[rows, : (T if n is None else n)], dim=1).abs()[:, 1 : 1 + bins]
        mag[rows, : f.shape[1]] = f
    mag = mag / (mag.sum(1, keepdim=True) + 1e-6)
    return mag.transpose(1, 2).flatten(1)


@pytest.mark.parametrize("T,bins", [(24, 12), (96, 24), (31, 7)])
def test_dft_form_matches_torch_fft(T, bins):
    g = torch.Generator().manual_seed(T)
    z = torch.randn(9, T, 3, generator=g) * 3 + 1
    lengths = torch.tensor([T, T, 1, 2, 3, T // 2, 2 * bins, 2 * bins - 1, T - 1])
    np.testing.assert_allclose(
        lstm._spectrum(z, None, bins), fft_spectrum(z, None, bins), atol=1e-6
    )
    for n in range(len(lengths)):  # padding past a series' length does not count
        z[n, int(lengths[n]) :] = torch.randn(T - int(lengths[n]), 3, generator=g)
    got, want = lstm._spectrum(z, lengths, bins), fft_spectrum(z, lengths, bins)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[2].abs().max() == 0  # one step: no frequency 1 and up, as rfft
    short = z[:, : bins + 3]  # a batch shorter than 2 x bins: frequencies past T // 2 are 0
    np.testing.assert_allclose(
        lstm._spectrum(short, None, bins), fft_spectrum(short, None, bins), atol=1e-6
    )


def test_models_saved_before_embed_as_before(tmp_path, monkeypatch):
    args = {"input_shape": [40, 3], "hidden_size": 6, "num_layers": 1, "dense": [8],
            "embedding_dim": 4, "spectrum": 5, "fixed_features": 0.7, "summary_stats": True}  # fmt: skip
    torch.manual_seed(0)
    model = SiameseModel(create_encoder("lstm", **args), encoder_name="lstm", encoder_args=args)
    model.train()
    for _ in range(3):  # running statistics of the fixed features away from 0 / 1
        model(torch.rand(16, 40, 3) * 5)
    model.save(tmp_path)
    x = torch.rand(10, 40, 3) * 5
    lengths = torch.tensor([40, 39, 20, 7, 2, 40, 33, 12, 3, 25])
    loaded = SiameseModel.load(tmp_path)
    new = loaded.embed(x), loaded.embed(x, lengths)
    monkeypatch.setattr(lstm, "_spectrum", fft_spectrum)
    old = loaded.embed(x), loaded.embed(x, lengths)
    for a, b in zip(new, old, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
