"""smlib.spectral.latent_transforms against independent references: scipy's orthonormal DCT, brute-force radial
pooling, the descriptor ESM trains on (smlib.spectral.band_power / band_distribution), and closed forms."""
import json
import math

import numpy as np
import pytest
import scipy.fft
import torch

from smlib import spectral
from smlib.spectral import latent_transforms as lt
from smlib.spectral.power import band_distribution

SPECTRAL = ("white", "image", "esm", "steeper")


def latents(n, size=8, seed=0, channels=4):
    """Channels with different slopes, scales and means: a latent whose channels have different spectra."""
    g = torch.Generator().manual_seed(seed)
    chans = [0.3 * c - 0.4 + (0.5 + 0.4 * c) * spectral.power_law_field(n, 1, size, 1.0 + 0.6 * c, generator=g)
             for c in range(channels)]
    return torch.cat(chans, dim=1)


def images(n=48, size=32, seed=5):
    x = spectral.power_law_field(n, 3, size, 2.2, generator=torch.Generator().manual_seed(seed))
    return (0.4 * x).clamp(-1, 1)


@pytest.fixture(scope="module")
def data(one_thread):
    return {"train": latents(1024), "test": latents(1024, seed=1), "x": images()}


@pytest.fixture(scope="module")
def fitted(data):
    return {k: lt.fit_transform(k, data["train"], data["x"]) for k in lt.KINDS}


def brute_radial_power(z, n_bins=16):
    """Radial power with scipy's DCT and explicit bins: r = |(u, v)|, bin = min(floor(n r / r_max), n - 1), DC out."""
    coeffs = scipy.fft.dctn(z.numpy(), axes=(-2, -1), norm="ortho")
    power = (coeffs**2).mean(axis=0)                                     # (C, h, w)
    h, w = power.shape[-2:]
    r_max = math.hypot(h - 1, w - 1)
    sums, counts = np.zeros((power.shape[0], n_bins)), np.zeros(n_bins)
    for u in range(h):
        for v in range(w):
            if u == v == 0:
                continue
            b = min(int(math.floor(n_bins * math.hypot(u, v) / r_max)), n_bins - 1)
            sums[:, b] += power[:, u, v]
            counts[b] += 1
    return sums / np.maximum(counts, 1), counts


def scipy_forward(t, z):
    """T z with scipy's DCT, the gains and the permutation, composed independently of the module."""
    c = scipy.fft.dctn(z.numpy(), axes=(-2, -1), norm="ortho")
    b, ch, h, w = c.shape
    if t.perm is not None:
        c = c.reshape(b, ch, h * w)[..., t.perm.numpy()].reshape(b, ch, h, w)
    return scipy.fft.idctn(c * t.gains.numpy(), axes=(-2, -1), norm="ortho")


# ----------------------------------------------------------------------------------------------- the pieces
@pytest.mark.parametrize("n", [5, 8, 16])
def test_dct_is_orthonormal_and_is_scipys(n):
    d = spectral.dct_matrix(n, torch.float64)
    assert torch.allclose(d @ d.T, torch.eye(n, dtype=torch.float64), atol=1e-14)
    x = torch.randn(2, 3, n, n + 2, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    ref = scipy.fft.dctn(x.numpy(), axes=(-2, -1), norm="ortho")
    assert np.abs(spectral.dct2(x).numpy() - ref).max() < 1e-13


@pytest.mark.parametrize("shape", [(8, 8), (16, 16), (6, 10)])
def test_radial_power_matches_brute_force(shape):
    z = torch.randn(7, 3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref, counts = brute_radial_power(z)
    assert np.abs(lt.radial_power(z).numpy() - ref).max() < 1e-13
    assert np.array_equal(lt.band_counts(*shape).numpy(), counts)


def test_radial_power_is_the_descriptors_band_power_up_to_bin_zeros_count():
    # the descriptor zeroes DC but counts it in bin 0; here DC is out of bin 0's count too
    z = latents(16, size=16)
    n0 = int(lt.band_counts(16, 16)[0])
    assert n0 >= 2
    ours = lt.radial_power(z).mean(0)
    theirs = spectral.band_power(z).mean(0)
    theirs[0] *= (n0 + 1) / n0
    assert torch.allclose(ours, theirs, rtol=1e-12, atol=0)


def test_scramble_reverse_is_the_brute_force_low_high_swap():
    h, w = 6, 5
    order = sorted(((u * u + v * v, u, v) for u in range(h) for v in range(w) if (u, v) != (0, 0)))
    expected = np.arange(h * w)
    for k, (_, u, v) in enumerate(order):
        _, su, sv = order[-1 - k]
        expected[u * w + v] = su * w + sv
    perm = lt.scramble_permutation(h, w, "reverse")
    assert np.array_equal(perm.numpy(), expected)
    assert torch.equal(perm[perm], torch.arange(h * w))             # an involution: low <-> high
    rnd = lt.scramble_permutation(h, w, "random", seed=3)
    assert rnd[0] == 0 and torch.equal(rnd.sort().values, torch.arange(h * w)) and not torch.equal(rnd, perm)


# ----------------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("kind", lt.KINDS)
@pytest.mark.parametrize("per_channel", [True, False])
def test_inverse_is_exact_to_float64(data, kind, per_channel):
    t = lt.fit_transform(kind, data["train"], data["x"], per_channel=per_channel)
    z = data["test"]
    assert (t.inverse(t.forward(z)) - z).abs().max() < 1e-12
    assert (t.forward(t.inverse(z)) - z).abs().max() < 1e-12
    # applied in float64, the float32 latent the decoder reads comes back to within one float32 rounding
    z32 = z.float()
    back = t.inverse(t.forward(z32.double())).float()
    assert ((back - z32).abs() <= 1e-7 * z32.abs().max()).all()


@pytest.mark.parametrize("kind", lt.KINDS)
def test_forward_matches_a_scipy_composition(fitted, data, kind):
    t, z = fitted[kind], data["test"][:16]
    assert np.abs(t.forward(z).numpy() - scipy_forward(t, z)).max() < 1e-12


@pytest.mark.parametrize("kind", lt.KINDS)
def test_transforms_are_linear(fitted, data, kind):
    t, x, y = fitted[kind], data["test"][:8], data["test"][8:16]
    a, b = 1.7, -0.3
    assert (t.forward(a * x + b * y) - (a * t.forward(x) + b * t.forward(y))).abs().max() < 1e-12


def test_non_square_grid_round_trip():
    z = latents(64, size=12)[..., :10]                                   # (64, 4, 12, 10)
    for kind in ("white", "scramble"):
        t = lt.fit_transform(kind, z)
        assert (t.inverse(t.forward(z)) - z).abs().max() < 1e-12
        assert torch.allclose(lt.radial_power(t.forward(z))[:, 1:], t.target_power[:, 1:],
                              rtol=1e-10)


# ----------------------------------------------------------------------------------------------- targets
def expected_shape(kind, x, size, delta=1.0, steepen=1.0):
    """The target's shape from first principles: flat, or the ESM image target's band power, tilted."""
    s_x = torch.tensor(brute_radial_power(spectral.esm_image_target(x.double(), size))[0].mean(0))
    b1 = torch.arange(1, 17, dtype=torch.float64)
    return {"white": torch.ones(16, dtype=torch.float64), "image": s_x, "esm": s_x * b1**delta,
            "steeper": s_x * b1**-steepen}[kind]


@pytest.mark.parametrize("kind", SPECTRAL)
def test_target_reached_bin_by_bin_on_the_fitting_latents(fitted, data, kind):
    t, z = fitted[kind], data["train"]
    after = lt.radial_power(t.forward(z))
    occupied = lt.band_counts(8, 8) > 0
    assert not occupied[0] and occupied[1:].all()                        # 8 x 8: bin 0 holds DC alone
    assert torch.allclose(after, t.target_power, rtol=1e-10, atol=0)
    shape = expected_shape(kind, data["x"], (8, 8))[occupied]
    ratio = after[:, occupied] / shape
    assert (ratio.std(dim=1) / ratio.mean(dim=1)).max() < 1e-10           # the right shape, per channel
    before = lt.radial_power(z)[:, occupied] / shape
    assert (before.std(dim=1) / before.mean(dim=1) > 0.1).all()           # which the latents did not have


@pytest.mark.parametrize("kind", SPECTRAL)
def test_target_reached_approximately_on_held_out_latents(fitted, data, kind):
    t, z = fitted[kind], data["test"]
    occupied = lt.band_counts(8, 8) > 0
    target = t.target_power[:, occupied]
    rel = (lt.radial_power(t.forward(z))[:, occupied] / target - 1).abs()
    # 1024 latents each side: a one-coefficient bin (bins 2 and 15 on 8 x 8) has ~6% sampling error on the ratio
    assert rel.max() < 0.3
    if kind in ("white", "steeper"):           # and the untransformed latent is far from the target
        assert (lt.radial_power(z)[:, occupied] / target - 1).abs().max() > 1.0


def test_esm_at_absolute_level_gives_esms_descriptor_target(data):
    # the descriptor ESM trains on, computed by the library's own pieces on the image side
    z, x = data["train"], data["x"]
    t = lt.fit_transform("esm", z, x, level="absolute", delta=1.0)
    s_z = spectral.band_power(t.forward(z)).mean(0)
    s_x = spectral.band_power(spectral.esm_image_target(x.double(), (8, 8))).mean(0)
    assert torch.allclose(band_distribution(s_z), band_distribution(s_x, delta=1.0), rtol=1e-10, atol=1e-14)
    assert not torch.allclose(band_distribution(spectral.band_power(z).mean(0)), band_distribution(s_x, delta=1.0),
                              rtol=1e-2)


def test_shared_gains_reach_the_target_in_the_channel_mean(data):
    t = lt.fit_transform("white", data["train"], per_channel=False)
    assert t.gains.shape == (1, 8, 8)
    mean = lt.radial_power(t.forward(data["train"])).mean(0)[1:]
    assert torch.allclose(mean, mean[0].expand_as(mean), rtol=1e-10)
    per = lt.radial_power(t.forward(data["train"]))[:, 1:]
    assert (per.std(dim=1) / per.mean(dim=1)).max() > 0.1                   # channels keep their differences


@pytest.mark.parametrize("kind", lt.KINDS)
def test_dc_untouched_and_channel_moments_kept(fitted, data, kind):
    # preserve level: every arm has the same per-channel mean and variance on the fitting latents, so one
    # normaliser (a global 1/std or per channel) fits every arm
    t, z = fitted[kind], data["train"]
    y = t.forward(z)
    assert (spectral.dct2(y)[..., 0, 0] - spectral.dct2(z)[..., 0, 0]).abs().max() < 1e-12
    assert torch.allclose(y.mean(dim=(0, 2, 3)), z.mean(dim=(0, 2, 3)), rtol=0, atol=1e-12)
    assert torch.allclose(y.transpose(0, 1).reshape(4, -1).std(dim=1), z.transpose(0, 1).reshape(4, -1).std(dim=1),
                          rtol=1e-11)
    assert y.std().item() == pytest.approx(z.std().item(), rel=1e-11)


# ----------------------------------------------------------------------------------------------- the scramble
def test_scramble_keeps_the_spectrum(fitted, data):
    t = fitted["scramble"]
    z = data["train"]
    y = t.forward(z)
    assert torch.allclose(lt.coefficient_power(y), lt.coefficient_power(z), rtol=1e-10)   # every coefficient
    assert torch.allclose(lt.radial_power(y), lt.radial_power(z), rtol=1e-10)             # so every radial bin
    held = data["test"]
    rel = (lt.radial_power(t.forward(held))[:, 1:] / lt.radial_power(held)[:, 1:] - 1).abs()
    assert rel.max() < 0.3
    r = lt.fit_transform("scramble", z, order="random", seed=1)
    assert torch.allclose(lt.radial_power(r.forward(z)), lt.radial_power(z), rtol=1e-10)


def band_indicator(band, size=8, channels=4):
    """Latents whose DCT is 1 on the AC coefficients of one radial band and 0 elsewhere (via scipy)."""
    coeffs = np.zeros((1, channels, size, size))
    coeffs[..., (lt.ac_bins(size, size) == band).numpy()] = 1.0
    return torch.from_numpy(scipy.fft.idctn(coeffs, axes=(-2, -1), norm="ortho"))


def test_scramble_moves_band_content(fitted):
    t = fitted["scramble"]
    counts = lt.band_counts(8, 8)
    for band, far in ((1, (14, 15)), (15, (1,)), (14, (1, 2))):           # lowest AC band <-> highest
        out = lt.radial_power(t.forward(band_indicator(band))).mean(0)
        lit = set(torch.nonzero(out > 1e-20).flatten().tolist())
        assert lit <= set(far) and lit, (band, lit)
    # a band-limited input stays band-limited: all its energy lands in as many coefficients as it had
    assert int((spectral.dct2(t.forward(band_indicator(9)))[0, 0].abs() > 1e-12).sum()) == int(counts[9])
    # the spectral kinds keep content where it was
    out = lt.radial_power(fitted["white"].forward(band_indicator(1))).mean(0)
    assert set(torch.nonzero(out > 1e-20).flatten().tolist()) == {1}


# ----------------------------------------------------------------------------------------------- the record
@pytest.mark.parametrize("kind", ["esm", "scramble", "identity"])
def test_json_round_trip_is_bit_exact(fitted, data, kind):
    t = fitted[kind]
    d = json.loads(json.dumps(t.to_dict()))
    back = lt.LatentTransform.from_dict(d)
    assert back.kind == kind and d["dc"] == "untouched" and d["level"] == "preserve"
    assert torch.equal(back.gains, t.gains)
    assert torch.equal(back.forward(data["test"]), t.forward(data["test"]))
    assert torch.equal(back.inverse(data["test"]), t.inverse(data["test"]))
    assert json.loads(json.dumps(back.to_dict())) == d


def test_transform_spectra_for_a_figure(fitted, data):
    s = lt.transform_spectra(fitted["esm"], data["train"])
    assert s["before"].shape == s["after"].shape == s["target"].shape == (4, 16)
    assert np.allclose(s["before"], brute_radial_power(data["train"])[0], rtol=1e-12)
    assert np.allclose(s["after"], s["target"], rtol=1e-10)
    assert np.isnan(s["frequency"][0]) and np.all(np.diff(s["frequency"][1:]) > 0)
    assert s["frequency"][-1] == pytest.approx(math.hypot(7, 7) / 16)
    assert s["counts"].sum() == 63


def test_bad_input_gets_a_clear_error(data):
    z = data["train"][:16]
    with pytest.raises(ValueError, match="unknown transform kind"):
        lt.fit_transform("pink", z)
    with pytest.raises(ValueError, match="needs the training images"):
        lt.fit_transform("esm", z)
    with pytest.raises(ValueError, match="uses no images"):
        lt.fit_transform("white", z, blur="never")
    with pytest.raises(ValueError, match="level='absolute'"):
        lt.fit_transform("white", z, level="absolute")
    with pytest.raises(ValueError, match="floating point"):
        lt.fit_transform("white", z.long())
    t = lt.fit_transform("white", z)
    with pytest.raises(ValueError, match="fitted on"):
        t.forward(torch.zeros(2, 4, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="fitted on"):
        t.forward(torch.zeros(2, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="missing"):
        lt.LatentTransform.from_dict({"kind": "white"})
    with pytest.raises(ValueError, match="no inverse"):
        lt.LatentTransform("white", torch.zeros(1, 8, 8))
