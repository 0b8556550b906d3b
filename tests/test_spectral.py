"""The spectral core against independent references: scipy, closed forms and brute-force sums."""
import math

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import torch

from smlib import spectral as sp
from smlib.spectral import dct as sp_dct, filters as sp_filters, power as sp_power


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------------------------- DCT
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 1, 7, 12), (4, 5, 16)])
def test_dct2_matches_scipy_float64(rng, shape):
    x = rng.standard_normal(shape)
    ours = sp.dct2(torch.from_numpy(x)).numpy()
    ref = scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1))
    assert np.abs(ours - ref).max() < 1e-10


def test_dct2_matches_scipy_float32(rng):
    x = rng.standard_normal((3, 2, 32, 24)).astype(np.float32)
    ours = sp.dct2(torch.from_numpy(x)).numpy()
    ref = scipy.fft.dctn(x.astype(np.float64), type=2, norm="ortho", axes=(-2, -1))
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-5


def test_idct2_inverts_and_preserves_energy(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 9, 13)))
    c = sp.dct2(x)
    assert torch.allclose(sp.idct2(c), x, atol=1e-12)
    assert torch.allclose(c.square().sum(), x.square().sum())  # Parseval
    ref = scipy.fft.idctn(c.numpy(), type=2, norm="ortho", axes=(-2, -1))
    assert np.abs(sp.idct2(c).numpy() - ref).max() < 1e-10


def test_dct_dc_is_sqrt_t_times_mean(rng):
    x = torch.from_numpy(rng.standard_normal((5, 6)))
    assert math.isclose(sp.dct2(x)[0, 0].item(), math.sqrt(30) * x.mean().item(), rel_tol=1e-12)


def test_dct2_is_differentiable():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: sp.dct2(t).square().sum(), (x,))


def test_dct_rejects_integer_input():
    with pytest.raises(TypeError, match="floating-point"):
        sp.dct2(torch.ones(4, 4, dtype=torch.long))


# ------------------------------------------------------------------------------------------------- blocks
def test_block_split_merge_roundtrip_and_layout():
    x = torch.arange(2 * 16 * 24, dtype=torch.float64).reshape(2, 16, 24)
    blocks = sp.block_split(x, 8)
    assert blocks.shape == (2, 2, 3, 8, 8)
    assert torch.equal(blocks[1, 1, 2], x[1, 8:16, 16:24])  # block (i, j) is the slice it should be
    assert torch.equal(sp.block_merge(blocks), x)


def test_block_dct_matches_scipy_per_block(rng):
    x = rng.standard_normal((3, 16, 16))
    ours = sp.block_dct2(torch.from_numpy(x), 8).numpy()
    for i in range(2):
        for j in range(2):
            ref = scipy.fft.dctn(x[:, 8 * i:8 * i + 8, 8 * j:8 * j + 8], norm="ortho", axes=(-2, -1))
            assert np.abs(ours[:, i, j] - ref).max() < 1e-10
    assert np.abs(sp.block_idct2(torch.from_numpy(ours)).numpy() - x).max() < 1e-10


def test_block_split_rejects_indivisible_size():
    with pytest.raises(ValueError, match="cannot be cut into 8x8 blocks"):
        sp.block_split(torch.zeros(1, 12, 16), 8)


def test_zigzag_matches_jpeg_table():
    jpeg8 = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
             7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
             39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
    assert sp.zigzag_order(8).tolist() == jpeg8
    assert sp.zigzag_order(4).tolist() == [0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15]


@pytest.mark.parametrize("k,kept", [(0, 64), (8, 28), (10, 15), (12, 6), (15, 0)])
def test_lowpass_mask_counts_match_authors_family(k, kept):
    mask = sp.lowpass_mask(8, k)
    assert int(mask.sum()) == kept
    u, v = np.nonzero(mask.numpy())
    if kept:
        assert (u + v).max() == 14 - k  # keep u + v <= 14 - k, i.e. u + v < 2(b-1) - (k-1)


def test_block_lowpass_k0_is_identity_and_projection(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 16, 16)))
    assert torch.equal(sp.block_lowpass(x, 8, 0), x)
    y = sp.block_lowpass(x, 8, 10)
    assert torch.allclose(sp.block_lowpass(y, 8, 10), y, atol=1e-12)  # idempotent
    assert y.square().sum() < x.square().sum()


def test_block_lowpass_brute_force(rng):
    x = rng.standard_normal((8, 8))
    c = scipy.fft.dctn(x, norm="ortho")
    for u in range(8):
        for v in range(8):
            if u + v > 4:
                c[u, v] = 0.0
    ref = scipy.fft.idctn(c, norm="ortho")
    ours = sp.block_lowpass(torch.from_numpy(x), 8, 10).numpy()
    assert np.abs(ours - ref).max() < 1e-10


# ------------------------------------------------------------------------------------------------- power
def test_dct_power_channel_average_and_dc(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    ref = (scipy.fft.dctn(x, norm="ortho", axes=(-2, -1)) ** 2).mean(axis=1)
    ours = sp.dct_power(torch.from_numpy(x), remove_dc=False).numpy()
    assert np.abs(ours - ref).max() < 1e-10
    assert sp.dct_power(torch.from_numpy(x))[:, 0, 0].abs().max() == 0


def test_authors_bins_occupancy_matches_reference_notes():
    # papers.md section 1.5: bin occupancy of 16x16 and 32x32 latents under the authors' binning
    counts16 = torch.bincount(sp.dct_radial_bins(16, 16).flatten(), minlength=16).tolist()
    counts32 = torch.bincount(sp.dct_radial_bins(32, 32).flatten(), minlength=16).tolist()
    assert counts16 == [3, 5, 7, 13, 13, 15, 23, 19, 23, 31, 31, 31, 19, 11, 9, 3]
    assert counts32 == [8, 22, 32, 42, 58, 68, 78, 86, 106, 118, 128, 118, 74, 46, 28, 12]


def test_authors_bins_brute_force():
    h, w, n = 12, 10, 16
    bins = sp.dct_radial_bins(h, w, n)
    rmax = math.sqrt((h - 1) ** 2 + (w - 1) ** 2)
    for u in range(h):
        for v in range(w):
            assert bins[u, v] == min(int(n * math.sqrt(u * u + v * v) / rmax), n - 1)


def test_radial_pool_brute_force(rng):
    p = rng.random((2, 8, 8))
    bins = sp.dct_radial_bins(8, 8, 4)
    ours = sp.radial_pool(torch.from_numpy(p), bins, 4).numpy()
    for b in range(4):
        sel = bins.numpy() == b
        assert np.allclose(ours[:, b], p[:, sel].mean(axis=1))


def test_spectrum_distribution_sums_to_one_and_tilts(rng):
    x = torch.from_numpy(rng.standard_normal((3, 4, 16, 16)))
    p0 = sp.spectrum_distribution(x)
    p1 = sp.spectrum_distribution(x, delta=1.0)
    assert torch.allclose(p0.sum(-1), torch.ones(3, dtype=p0.dtype))
    assert (p1[:, -1] > p0[:, -1]).all()  # tilting by (b+1)^delta moves mass to high bins


def test_fft_power_parseval(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 16, 12)))
    xc = x - x.mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(sp.fft_power(x).mean(dim=(-2, -1)), xc.square().mean(dim=(1, 2, 3)))


def test_radial_average_brute_force(rng):
    p = rng.random((16, 16))
    freqs, ring = sp.radial_average(torch.from_numpy(p))
    f = np.sqrt(np.fft.fftfreq(16)[:, None] ** 2 + np.fft.fftfreq(16)[None, :] ** 2)
    for k in range(1, 9):
        sel = np.round(f * 16) == k
        assert np.isclose(ring[k - 1].item(), p[sel].mean())
        assert np.isclose(freqs[k - 1].item(), f[sel].mean())


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_radial_psd_recovers_known_power_law(alpha):
    g = torch.Generator().manual_seed(1)
    x = sp.power_law_field(16, 1, 64, alpha, generator=g)
    freqs, psd = sp.radial_psd(x)
    fit = sp.fit_power_law(freqs, psd, fmin=2 / 64, fmax=0.45)
    assert abs(fit.exponent - alpha) < 0.05, str(fit)
    assert fit.fmin == 2 / 64 and fit.fmax == 0.45 and fit.n_points > 10


def test_fit_power_law_exact_on_noise_free_data():
    f = np.linspace(0.02, 0.5, 40)
    fit = sp.fit_power_law(f, 3.0 * f ** -1.7, fmin=0.05, fmax=0.45)
    assert math.isclose(fit.exponent, 1.7, rel_tol=1e-10) and math.isclose(fit.amplitude, 3.0, rel_tol=1e-10)
    with pytest.raises(ValueError, match="at least 3"):
        sp.fit_power_law(f, f, fmin=0.49, fmax=0.5)


# ------------------------------------------------------------------------------------------------- filters
@pytest.mark.parametrize("sigma", [0.7, 1.5, 2.5])
def test_gaussian_blur_matches_scipy(rng, sigma):
    x = rng.standard_normal((2, 24, 20))
    ours = sp.gaussian_blur(torch.from_numpy(x), sigma).numpy()
    ref = np.stack([scipy.ndimage.gaussian_filter(xi, sigma, mode="mirror", truncate=4.0) for xi in x])
    assert np.abs(ours - ref).max() < 1e-10


def test_gaussian_blur_circular_response_matches_closed_form():
    # on a periodic grid the blur is a circular convolution, so its DFT is the DTFT of the sampled kernel: the
    # continuous response plus its aliases, sum_k H(f + k) (Poisson summation; exact up to the tiny truncation)
    n, sigma = 64, 1.5
    impulse = torch.zeros(1, n, n, dtype=torch.float64)
    impulse[0, 0, 0] = 1.0
    out = sp.gaussian_blur(impulse, sigma, radius=n // 2 - 1, mode="circular")
    measured = torch.fft.fft2(out)[0].real[0, : n // 2].numpy()
    f = np.arange(n // 2) / n
    aliased = sum(sp.gaussian_response(f + k, sigma) for k in range(-3, 4))
    assert np.abs(measured - aliased).max() < 1e-12
    assert np.abs(measured - sp.gaussian_response(f, sigma)).max() < 1e-5  # aliasing only matters near Nyquist


def test_dog_response_peak_and_zero_dc():
    s1, s2 = 1.0, 2.0
    f = np.linspace(0, 0.5, 20001)
    h = sp.dog_response(f, s1, s2)
    assert h[0] == 0.0
    assert abs(f[np.argmax(h)] - sp.dog_peak_frequency(s1, s2)) < 1e-4
    with pytest.raises(ValueError, match="sigma1 < sigma2"):
        sp.difference_of_gaussians(torch.zeros(4, 4), 2.0, 1.0)


def test_antialiased_downsampling_suppresses_aliasing():
    aa = sp.downsampling_response(64, 4, "antialias")
    naive = sp.downsampling_response(64, 4, "bicubic")
    high = aa["freqs"] > 0.5 / 4 + 0.05  # well above the new Nyquist
    assert aa["aliased"][high].max() < 0.1
    assert naive["aliased"][high].max() > 0.3
    low = aa["freqs"] < 0.03
    assert np.all(aa["passed"][low] > 0.9)


# ------------------------------------------------------------------------------------------------- as matrices
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_blur_matrices_reproduce_the_separable_blur(rng, mode):
    x = torch.from_numpy(rng.standard_normal((2, 3, 20, 24)))
    g_h, g_w = sp_filters.blur_matrix(20, 1.2, 3, mode), sp_filters.blur_matrix(24, 1.2, 3, mode)
    torch.testing.assert_close(g_h @ x @ g_w.T, sp.gaussian_blur(x, 1.2, radius=3, mode=mode), rtol=0, atol=1e-14)


@pytest.mark.parametrize("method", ["bicubic", "antialias", "area"])
@pytest.mark.parametrize("size", [(5, 6), (16, 12), (29, 40)])  # down by non-integer and integer factors, and up
def test_resize_matrices_reproduce_the_2d_resize(rng, method, size):
    x = torch.from_numpy(rng.standard_normal((2, 3, 20, 24)))
    r_h, r_w = sp_filters.resize_matrix(20, size[0], method), sp_filters.resize_matrix(24, size[1], method)
    torch.testing.assert_close(r_h @ x @ r_w.T, sp.resize(x, size, method), rtol=0, atol=1e-13)


def test_block_kernel_is_the_bicubic_half_pixel_kernel_and_refuses_overlaps():
    # Keys' cubic (a = -0.75) at offsets 1.5, 0.5, 0.5, 1.5: -3/32, 19/32, 19/32, -3/32, on pixels 2..5 of each 8
    k = sp_filters.block_kernel(sp_filters.resize_matrix(256, 32, "bicubic"))
    assert k.tolist() == [0, 0, -3 / 32, 19 / 32, 19 / 32, -3 / 32, 0, 0]
    blurred = sp_filters.resize_matrix(256, 16, "bicubic") @ sp_filters.blur_matrix(256, 1.2, 3, "zeros")
    assert sp_filters.block_kernel(blurred) is not None  # f16: 4 taps + 2 x 3 of blur fit in a block of 16
    for a in (sp_filters.resize_matrix(256, 32, "bicubic") @ sp_filters.blur_matrix(256, 1.2, 3, "zeros"),
              sp_filters.resize_matrix(64, 32, "bicubic"), sp_filters.resize_matrix(48, 10, "bicubic"),
              sp_filters.resize_matrix(256, 32, "antialias")):
        assert sp_filters.block_kernel(a) is None  # taps that reach into the neighbouring blocks


@pytest.mark.parametrize("image, latent, opts", [
    ((2, 3, 64, 64), (16, 16), {}),                              # blur on, dense matrices
    ((2, 3, 64, 64), (32, 32), {}),                              # latent 32: the authors skip the blur
    ((1, 3, 256, 256), (32, 32), {}),                            # f8 at 256^2: rows reduced block by block
    ((1, 3, 256, 256), (16, 16), {}),                            # f16 at 256^2: blur + resize block by block
    ((2, 3, 32, 128), (8, 8), {}),                               # non-square: dense columns, block rows
    ((2, 3, 48, 40), (12, 10), {"blur": "always", "blur_padding": "reflect"}),
    ((2, 3, 64, 64), (16, 16), {"resize_method": "antialias"}),
    ((2, 3, 64, 64), (8, 8), {"resize_method": "area", "blur": "never"}),
])
def test_esm_image_target_dct_is_the_dct_of_the_resampled_image(rng, image, latent, opts):
    x = torch.from_numpy(rng.uniform(-1, 1, image))
    ref = sp.dct2(sp.esm_image_target(x, latent, **opts))
    assert (sp_filters.esm_image_target_dct(x, latent, **opts) - ref).abs().max() < 1e-12 * ref.abs().max()
    ours32 = sp_filters.esm_image_target_dct(x.float(), latent, **opts).double()
    assert (ours32 - ref).abs().max() < 1e-6 * ref.abs().max()


@pytest.mark.parametrize("scheme, remove_dc, shape", [("authors", True, (16, 16)), ("authors", False, (12, 10)),
                                                      ("physical", True, (8, 12))])
def test_dct_band_power_is_the_radial_mean_of_floored_dct_power(rng, scheme, remove_dc, shape):
    x = torch.from_numpy(rng.standard_normal((3, 4, *shape)))
    x[0] = 0.0  # all power below the floor: every coefficient is clamped to eps
    power = sp.dct_power(x, remove_dc=False).clamp(min=1e-8)
    if remove_dc:
        power[:, 0, 0] = 0.0
    ref = sp.radial_pool(power, sp.dct_radial_bins(*shape, 16, scheme), 16)
    ours = sp_power.dct_band_power(sp.dct2(x), 16, scheme, remove_dc)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(sp_power.band_distribution(ours, delta=0.7),
                               sp.spectrum_distribution(x, delta=0.7, scheme=scheme, remove_dc=remove_dc))


def test_cached_matrices_built_under_inference_mode_serve_autograd():
    for cache in (sp_dct._dct_matrix, sp_filters._esm_target_plan, sp_power._radial_pool_matrix):
        cache.cache_clear()
    x = torch.rand(1, 3, 44, 44, dtype=torch.float64)
    with torch.inference_mode():  # the first call, e.g. from an evaluation, fills the caches
        sp_filters.esm_image_target_dct(x, (11, 11))
        sp_power.dct_band_power(sp.dct2(torch.rand(1, 2, 12, 12, dtype=torch.float64)))
    z = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    x.requires_grad_(True)
    y = sp_power.dct_band_power(sp.dct2(z)).sum() + sp_filters.esm_image_target_dct(x, (11, 11)).square().sum()
    y.backward()
    assert z.grad is not None and x.grad is not None


# ------------------------------------------------------------------------------------------------- RMSC
def test_rmsc_identity_random_tokens():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 32, 9, 7, generator=g, dtype=torch.float64) + 0.5
    r = sp.rmsc(x)
    u = sp.unit_tokens(x)
    mean_norm2 = u.mean(dim=(-2, -1)).square().sum(dim=1)
    assert torch.allclose(r**2, sp.directional_energy(x), atol=1e-12)
    assert torch.allclose(r**2, 1 - mean_norm2, atol=1e-12)
    # float32 still within 1e-6
    x32 = x.float()
    assert (sp.rmsc(x32) ** 2 - sp.directional_energy(x32)).abs().max() < 1e-6


def test_rmsc_brute_force_and_extremes():
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    toks = x[0].reshape(3, -1).T
    u = toks / toks.norm(dim=1, keepdim=True)
    ref = math.sqrt(((u - u.mean(0)) ** 2).sum(1).mean().item())
    assert math.isclose(sp.rmsc(x).item(), ref, rel_tol=1e-12)
    constant = torch.ones(1, 3, 4, 4)
    assert sp.rmsc(constant).item() < 1e-6  # all tokens point the same way: no spatial contrast


def test_spatial_normalize_removes_dc_when_gamma_one():
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64) + 3.0
    y = sp.spatial_normalize(x, gamma=1.0)
    assert y.mean(dim=(-2, -1)).abs().max() < 1e-12
    assert torch.allclose(y.std(dim=(-2, -1)), torch.ones(2, 8, dtype=y.dtype), atol=1e-5)   # unbiased, as iREPA
    pop = sp.spatial_normalize(x, gamma=1.0, correction=0)
    assert torch.allclose(pop.std(dim=(-2, -1), correction=0), torch.ones(2, 8, dtype=y.dtype), atol=1e-5)
    assert (sp.rmsc(y) > sp.rmsc(x)).all()  # removing the shared DC raises the contrast


def test_dog_normalize_is_band_pass():
    x = torch.randn(1, 4, 16, 16, dtype=torch.float64) + 5.0
    y = sp.dog_normalize(x, 0.5, 2.0)
    assert y.mean(dim=(-2, -1)).abs().max() < 1e-12  # the DCT-domain DoG removes DC exactly
    assert torch.allclose(y.std(dim=(-2, -1), correction=0), torch.ones(1, 4, dtype=y.dtype), atol=1e-5)
    assert torch.allclose(sp.dog_normalize(x, 0.5, 2.0, std=False), sp.dog_filter(x, 0.5, 2.0))


@pytest.mark.parametrize("shape,s1,s2", [((8, 8), 0.5, 2.0), ((16, 12), 1.0, 3.0), ((5, 7), 0.7, 6.0)])
def test_dct_domain_dog_equals_a_spatial_dog_with_half_sample_symmetric_padding(shape, s1, s2):
    """scipy.ndimage's mode="reflect" is the half-sample symmetric extension (d c b a | a b c d); at sigma 6 on a
    5-point grid the kernel reflects several times, and the DCT form still matches."""
    import scipy.ndimage

    x = np.random.default_rng(3).standard_normal((2, *shape))
    ref = np.stack([scipy.ndimage.gaussian_filter(c, s1, mode="reflect", truncate=4.0)
                    - scipy.ndimage.gaussian_filter(c, s2, mode="reflect", truncate=4.0) for c in x])
    ours = sp.dog_filter(torch.from_numpy(x), s1, s2).numpy()
    assert np.abs(ours - ref).max() < 1e-10
    assert sp.dog_dct_gain(*shape, s1, s2)[0, 0] == 0.0
