"""DCTdiff's token representation against independent references: PIL's YCbCr, OpenCV's resize and DCT (the
library the released code calls, in the loops the released code runs), scipy's DCT, a brute-force zig-zag, and a
plain numpy computation of eta and the entropies."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.fft
import torch
from PIL import Image

from smlib.spectral import dct_tokens as dt
from smlib.spectral import zigzag_order


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (3, 3, 16, 16), generator=g, dtype=torch.uint8)
    return u8, u8.double() / 127.5 - 1


def test_ycbcr_matches_pil_to_its_rounding(images):
    u8, _ = images
    rgb = u8[0].permute(1, 2, 0).numpy()
    pil = np.asarray(Image.fromarray(rgb).convert("YCbCr"), dtype=np.float64)
    ours = dt.rgb_to_ycbcr(u8[0].double()).permute(1, 2, 0).numpy()
    assert np.abs(ours - pil).max() <= 1.0                     # PIL works in fixed point and truncates
    assert np.abs(np.floor(ours) - pil).mean() < 0.05             # off by one level at a few fixed-point edges


def test_ycbcr_inverse_is_exact_in_float64(images):
    _, x = images
    v = (x + 1) * 127.5
    assert torch.allclose(dt.ycbcr_to_rgb(dt.rgb_to_ycbcr(v)), v, atol=1e-10)


def test_chroma_resampling_matches_opencv_linear():
    c = np.random.default_rng(1).uniform(0, 255, (8, 12))
    half = cv2.resize(c, (6, 4), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(dt.subsample_chroma(torch.from_numpy(c)).numpy(), half, atol=1e-9)
    up = cv2.resize(half, (12, 8), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(dt.upsample_chroma(torch.from_numpy(half)).numpy(), up, atol=1e-4)  # cv2: fixed-point weights


def test_zigzag_matches_a_brute_force_scan():
    for b in (2, 3, 4, 8):
        cells = sorted(((u, v) for u in range(b) for v in range(b)),
                       key=lambda uv: (uv[0] + uv[1], uv[0] if (uv[0] + uv[1]) % 2 else -uv[0]))
        assert zigzag_order(b).tolist() == [u * b + v for u, v in cells]


def _released_tokens(u8: np.ndarray, block: int, eta: float, keep: int) -> np.ndarray:
    """DCTdiff's ``DCT_4YCbCr.__getitem__`` without the flip, as loops over OpenCV calls: (H, W, 3) -> (T, 6 keep)."""
    r, g, b = (u8[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    h, w = y.shape
    cb, cr = (cv2.resize(c, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR) for c in (cb, cr))

    def blocks(p):
        return [cv2.dct(np.float32(p[i:i + block, j:j + block]) - 128)
                for i in range(0, p.shape[0], block) for j in range(0, p.shape[1], block)]

    yb, cbb, crb = blocks(y), blocks(cb), blocks(cr)
    per_row = w // block
    tops = [row + col for row in range(0, len(yb), 2 * per_row) for col in range(0, per_row, 2)]
    tokens = np.array([[yb[t], yb[t + 1], yb[t + per_row], yb[t + per_row + 1], cbb[i], crb[i]]
                       for i, t in enumerate(tops)]).reshape(len(tops), 6, block * block) / eta
    return tokens[:, :, zigzag_order(block).numpy()][:, :, :keep].reshape(len(tops), -1)


@pytest.mark.parametrize("block,keep", [(2, 4), (4, 16), (4, 10)])
def test_tokens_match_the_released_layout(images, block, keep):
    u8, x = images
    tok = dt.DCTTokenizer(block=block, keep=keep, scale=242.382)
    ours = tok.encode(x)
    assert ours.shape == (3, *tok.token_shape(16))
    for i in range(3):
        ref = _released_tokens(u8[i].permute(1, 2, 0).numpy(), block, 242.382, keep)
        assert np.abs(ours[i].numpy() - ref).max() < 2e-5    # cv2 computes in float32


def test_block_coefficients_match_scipy(images):
    _, x = images
    coeffs = dt.channel_coefficients(x, 4)["y"].numpy()
    y = dt.rgb_to_ycbcr((x + 1) * 127.5)[:, 0].numpy() - 128
    ref = [scipy.fft.dctn(y[n, i:i + 4, j:j + 4], norm="ortho").ravel()
           for n in range(3) for i in range(0, 16, 4) for j in range(0, 16, 4)]
    assert np.allclose(coeffs, np.array(ref), atol=1e-10)


@pytest.mark.parametrize("colour,dct", [("ycbcr", True), ("ycbcr", False), ("rgb", True), ("rgb", False)])
def test_round_trip_is_exact_without_subsampling_and_truncation(images, colour, dct):
    _, x = images
    tok = dt.DCTTokenizer(block=2, colour=colour, chroma_subsampling=False, dct=dct)
    tokens = tok.encode(x)
    assert tokens.shape == (3, 16, 48)
    assert torch.allclose(tok.decode(tokens, 16), x, atol=1e-10)


def test_grid_layout_round_trips_in_raster_order(images):
    _, x = images
    tok = dt.DCTTokenizer(block=2)
    tokens = tok.encode(x)
    grid = tok.to_grid(tokens, 16)
    assert grid.shape == (3, 24, 4, 4) and torch.equal(grid[1, :, 2, 3], tokens[1, 2 * 4 + 3])
    assert torch.equal(tok.from_grid(grid), tokens)


def test_raw_rgb_tokens_are_patch4_pixels_up_to_a_permutation(images):
    _, x = images
    tok = dt.DCTTokenizer(block=2, colour="rgb", chroma_subsampling=False, dct=False, scale=127.5, level_shift=127.5)
    tokens = tok.encode(x)
    patches = x.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).reshape(3, 16, 48)
    assert torch.allclose(tokens.sort(dim=-1).values, patches.sort(dim=-1).values, atol=1e-12)


def test_truncation_zero_fills_the_highest_zigzag_coefficients(images):
    _, x = images
    full, cut = dt.DCTTokenizer(block=4), dt.DCTTokenizer(block=4, keep=6)
    tokens = full.encode(x).unflatten(2, (6, 16))
    tokens[..., 6:] = 0
    assert torch.allclose(cut.decode(cut.encode(x), 16), full.decode(tokens.flatten(2), 16), atol=1e-10)


def test_eta_and_entropies_match_a_plain_numpy_computation(images):
    _, x = images
    coeffs = dt.channel_coefficients(x, 2)
    dc = coeffs["y"][:, 0].numpy()
    lo, hi = np.percentile(dc, 1.75), np.percentile(dc, 98.25)
    eta = max(abs(lo), abs(hi))
    assert dt.entropy_consistent_scale(coeffs["y"][:, 0]) == pytest.approx(eta, rel=1e-12)
    ours = dt.coefficient_entropies(coeffs["cb"], eta)
    for k in range(4):
        col = coeffs["cb"][:, k].numpy()
        a, b = np.percentile(col, [1.75, 98.25])
        kept = col[(col > a) & (col < b)] / eta
        p = np.array([((kept >= -1 + 0.02 * i) & ((kept < -1 + 0.02 * (i + 1)) | (i == 99) & (kept <= 1))).sum()
                      for i in range(100)], dtype=float) / kept.size
        assert ours[k] == pytest.approx(-sum(q * math.log2(q) for q in p if q > 0), abs=1e-9)


def test_ebfr_weights_from_the_released_config():
    c = dt.DCTDIFF_CIFAR10
    w = dt.ebfr_weights(c["entropy_y"], c["entropy_cb"], c["entropy_cr"], block=2).numpy()
    assert w.shape == (24,) and np.allclose(w[0:4], w[4:8]) and np.allclose(w[0:4], w[12:16])
    assert np.allclose(w[0:4], [1.594, 0.884, 0.928, 0.594], atol=1e-3)       # ../shared/reference §3.2
    assert np.allclose(w[16:20], [2.125, 0.649, 0.733, 0.493], atol=1e-3)
    assert np.allclose(w[20:24], [2.076, 0.664, 0.742, 0.517], atol=1e-3)
    cut = dt.ebfr_weights(range(1, 17), range(1, 17), range(1, 17), block=4, keep=3).numpy()
    assert np.allclose(cut[:3], np.array([1, 2, 5]) / (8 / 3))               # zig-zag 0, 1, 4 then the mean


def test_largest_truncation_is_the_largest_m_below_gamma():
    assert dt.largest_truncation({0: 0.1, 4: 0.3, 8: 0.7, 6: 0.45}, gamma=0.5) == 6
    with pytest.raises(ValueError, match="raise gamma"):
        dt.largest_truncation({0: 0.8}, gamma=0.5)


def test_dct_upsampling_matches_the_released_loops():
    x = np.random.default_rng(2).uniform(0, 255, (8, 12))
    ours = dt.dct_upsample(torch.from_numpy(x), 4).numpy()
    ref = np.zeros((16, 24))
    for i in range(0, 8, 4):
        for j in range(0, 12, 4):
            d = scipy.fft.dctn(x[i:i + 4, j:j + 4] - 128, norm="ortho")
            up = np.zeros((8, 8))
            for k in range(4):
                for m in range(4):
                    up[k, m] = d[k, m] / (math.cos(math.pi * k / 16) * math.cos(math.pi * m / 16) * 0.5)
            ref[2 * i:2 * i + 8, 2 * j:2 * j + 8] = scipy.fft.idctn(up, norm="ortho") + 128
    assert np.allclose(ours, ref, atol=1e-9)
    # the DC gain is exact: every 2 x 2 mean of the upsampled block-mean equals the block mean of x
    means = ours.reshape(2, 8, 3, 8).mean(axis=(1, 3))
    assert np.allclose(means, x.reshape(2, 4, 3, 4).mean(axis=(1, 3)), atol=1e-9)


def test_bad_input_says_what_to_do(images):
    _, x = images
    with pytest.raises(ValueError, match="divisible by 4"):
        dt.DCTTokenizer(block=2).encode(x[:, :, :14, :14])
    with pytest.raises(ValueError, match=r"m\* in \[0, 4\)"):
        dt.DCTTokenizer(block=2, keep=0)
    with pytest.raises(ValueError, match="expected"):
        dt.DCTTokenizer(block=2).decode(torch.zeros(1, 16, 23), 16)
    with pytest.raises(ValueError, match="needs dct=True"):
        dt.DCTTokenizer(block=2, keep=2, dct=False)
    with pytest.raises(ValueError, match="colour='ycbcr'"):
        dt.DCTTokenizer(colour="rgb")
