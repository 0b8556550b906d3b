"""smlib.experiments.latent_spectra against closed forms: the noise model's variance, the white-noise limit of the
descriptor, recovery of a planted noise ratio, and the descriptor's dependence on scale."""
import numpy as np
import pytest
import torch

from smlib import spectral
from smlib.experiments import latent_spectra as ls
from smlib.metrics.latent import latent_distribution


def field(n=64, size=16, alpha=2.5, seed=0):
    return spectral.power_law_field(n, 4, size, alpha, generator=torch.Generator().manual_seed(seed)).double()


def test_noisy_posterior_adds_white_noise_at_the_requested_ratio():
    mu = field()
    for r in (0.1, 1.0, 4.0):
        z = ls.noisy_posterior(mu, r, torch.Generator().manual_seed(1))
        assert float((z - mu).var() / mu.var()) == pytest.approx(r, rel=0.02)


def test_ideal_latent_is_standardised_per_channel():
    x = torch.rand(8, 3, 64, 64) * 2 - 1
    z = ls.ideal_latent(x, (16, 16))
    assert z.shape == (8, 3, 16, 16)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5)


def test_white_noise_limit_is_uniform_over_the_occupied_bins():
    # pure white noise: every DCT coefficient has the same expected power, so log1p of each band's mean power is
    # the same number and the distribution is uniform over the bins that hold coefficients
    mu = field(n=256)
    p = ls.whitening_curve(mu, [1e6])[0]
    occupied = p > 0
    expected = np.where(occupied, 1 / occupied.sum(), 0)
    assert np.abs(p - expected).max() < 0.01


def test_more_noise_moves_mass_to_high_bins():
    p = ls.whitening_curve(field(), [0.0, 0.1, 1.0, 10.0])
    mass = [ls.high_band_mass(q) for q in p]
    assert all(a < b for a, b in zip(mass, mass[1:]))


def test_fit_noise_ratio_recovers_a_planted_ratio():
    mu = field()
    ratios = np.array([0.0, 0.1, 0.3, 1.0, 3.0])
    planted = ls.whitening_curve(mu, [0.3], remove_dc=False, seed=5)[0]
    fit = ls.fit_noise_ratio(mu, planted, ratios, remove_dc=False, seed=5)
    assert fit["ratio"] == 0.3 and fit["l1"] < 1e-12


def test_descriptor_is_not_scale_invariant_but_kl_is_zero_at_its_own_scale():
    z = field()
    target = latent_distribution(z)
    kl = ls.scale_sensitivity(z, target, [0.1, 1.0, 10.0])
    assert kl[1] == pytest.approx(0.0, abs=1e-12)
    assert kl[0] > 1e-3 and kl[2] > 1e-3


def test_high_band_mass_of_a_uniform_distribution():
    assert ls.high_band_mass(np.full(16, 1 / 16)) == pytest.approx(0.5)


def test_fit_scale_and_noise_recovers_a_planted_pair_and_reports_its_spread():
    mu = field()
    scales, ratios = np.array([0.5, 1.0, 2.0, 4.0]), np.array([0.0, 0.1, 0.3, 1.0, 3.0])
    z = ls.noisy_posterior(mu, 0.3, torch.Generator().manual_seed(5))
    planted = latent_distribution(2.0 * z, remove_dc=False).mean(0).numpy()
    fit = ls.fit_scale_and_noise(mu, planted, scales, ratios, remove_dc=False, seed=5)
    assert (fit["scale"], fit["ratio"]) == (2.0, 0.3) and fit["l1"] < 1e-12
    assert fit["l1_grid"].shape == (4, 5) and fit["near_ratios"] == (0.3, 0.3)     # an exact fit: nothing is near
    # the s = 1 column is fit_noise_ratio's search
    alone = ls.fit_noise_ratio(mu, planted, ratios, remove_dc=False, seed=5)
    assert np.allclose(fit["l1_grid"][1], alone["l1_all"])
    # a loose tolerance admits the cells the data cannot tell apart (another noise draw: the best L1 is not 0)
    loose = ls.fit_scale_and_noise(mu, planted, scales, ratios, remove_dc=False, seed=6, tol=1e9)
    assert 0 < loose["l1"] < 0.05
    assert loose["near_ratios"] == (0.0, 3.0) and loose["near_scales"] == (0.5, 4.0)


def test_excess_over_target_matches_scipys_one_sample_t():
    values = {0: 0.44, 1: 0.37, 2: 0.38, 3: 0.29}
    target = 0.27
    out = ls.excess_over_target(values, target)
    d = np.array(list(values.values())) - target
    ref = __import__("scipy").stats.ttest_1samp(d, 0.0)
    ci = ref.confidence_interval(0.95)
    assert out["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert out["mean"] == pytest.approx(d.mean()) and out["every_seed"]


def test_excess_over_target_reads_each_seeds_own_target_and_flags_a_seed_below_it():
    out = ls.excess_over_target({0: 0.5, 1: 0.2, 2: 0.4}, {0: 0.3, 1: 0.3, 2: 0.3, 5: 0.3})
    assert out["seeds"] == [0, 1, 2] and not out["every_seed"]
    assert out["excess"][1] == pytest.approx(-0.1)
    one = ls.excess_over_target({0: 0.5}, 0.3)
    assert one["every_seed"] and np.isnan(one["p"]) and np.isnan(one["ci_low"])
    with pytest.raises(ValueError, match="no seed"):
        ls.excess_over_target({0: 0.5}, {1: 0.3})
