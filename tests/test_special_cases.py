"""smlib.experiments.autoencoders.special_cases: DCT-domain resizing against scipy, and its invariants."""
import math

import numpy as np
import pytest
import scipy.fft
import torch

from smlib.experiments.autoencoders.special_cases import dct_resize, resize_agreement


def test_dct_resize_matches_scipy_truncation():
    x = torch.randn(2, 3, 16, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = dct_resize(x, (8, 6)).numpy()
    c = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))[..., :8, :6] * math.sqrt(48 / 192)
    ref = scipy.fft.idctn(c, type=2, norm="ortho", axes=(-2, -1))
    assert np.abs(ours - ref).max() < 1e-12


def test_constant_and_identity():
    x = torch.full((1, 1, 8, 8), 0.37, dtype=torch.float64)
    assert torch.allclose(dct_resize(x, (4, 4)), torch.full((1, 1, 4, 4), 0.37, dtype=torch.float64))
    y = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    assert torch.allclose(dct_resize(y, (8, 8)), y)
    with pytest.raises(ValueError, match="only downsamples"):
        dct_resize(y, (16, 16))


def test_smooth_images_agree_with_bilinear_better_than_noise():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    smooth = torch.nn.functional.avg_pool2d(torch.nn.functional.avg_pool2d(noise, 3, 1, 1), 3, 1, 1)
    assert resize_agreement(smooth, (2,))[2] > resize_agreement(noise, (2,))[2] + 5
