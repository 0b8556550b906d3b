"""Loss by noise band against brute force: band edges, per-band means by a Python loop, pooling across batches, and
EDM's sigma of a VP path's times against sigma(t) / alpha(t)."""
import math

import pytest
import torch

from smlib.diffusion import make_formulation
from smlib.diffusion.edm import EDM, edm_formulation
from smlib.diffusion.sigma_bands import BandMeter, SigmaBands, edm_sigma

pytestmark = pytest.mark.usefixtures("one_thread")


def _brute_means(loss, sigma, edges):
    ends = [-math.inf, *edges, math.inf]
    out = {}
    for k, (lo, hi) in enumerate(zip(ends[:-1], ends[1:])):
        vals = [float(v) for v, s in zip(loss, sigma) if lo <= math.log(float(s)) < hi]
        if vals:
            out[k] = sum(vals) / len(vals)
    return out


def test_band_means_match_a_loop_and_empty_bands_are_left_out():
    g = torch.Generator().manual_seed(0)
    sigma = EDM().sample_sigma(500, g).double()
    loss = torch.rand(500, generator=g, dtype=torch.float64) + sigma.log()
    bands = SigmaBands()
    got = bands.means(loss, sigma)
    ref = _brute_means(loss, sigma, bands.edges)
    assert set(got) == {bands.labels[k] for k in ref}
    for k, v in ref.items():
        assert got[bands.labels[k]] == pytest.approx(v, rel=1e-12)
    one = bands.means(torch.tensor([2.0]), torch.tensor([1.0]))          # ln 1 = 0 opens the band [0, 1)
    assert one == {"loss_band/+0..+1": 2.0}


def test_edges_are_closed_below_and_the_ends_are_open():
    bands = SigmaBands(edges=(-1.0, 0.0, 1.0))
    sigma = torch.tensor([math.exp(-5), math.exp(-1), math.exp(-0.5), 1.0, math.exp(1), math.exp(9)],
                         dtype=torch.float64)
    assert bands.index(sigma).tolist() == [0, 1, 1, 2, 3, 3]
    assert bands.labels == ["loss_band/-inf..-1", "loss_band/-1..+0", "loss_band/+0..+1", "loss_band/+1..inf"]
    with pytest.raises(ValueError, match="increasing"):
        SigmaBands(edges=(1.0, 0.0))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        bands.index(torch.tensor([0.0]))


def test_the_meter_pools_samples_exactly():
    g = torch.Generator().manual_seed(1)
    meter = BandMeter()
    all_loss, all_sigma = [], []
    for _ in range(4):
        sigma = EDM().sample_sigma(37, g)
        loss = torch.rand(37, generator=g)
        meter.update(loss, sigma)
        all_loss.append(loss)
        all_sigma.append(sigma)
    pooled = meter.bands.means(torch.cat(all_loss), torch.cat(all_sigma))
    assert meter.means().keys() == pooled.keys()
    for k in pooled:
        assert meter.means()[k] == pytest.approx(pooled[k], rel=1e-12)
    meter.reset()
    assert meter.means() == {}


@pytest.mark.parametrize("formulation", [make_formulation("ddpm-linear"), edm_formulation("vp-continuous")])
def test_edm_sigma_is_sigma_over_alpha(formulation):
    t = torch.tensor([0.01, 0.2, 0.5, 0.9, 1.0], dtype=torch.float64)
    ref = formulation.sigma(t) / formulation.alpha(t)
    assert torch.allclose(edm_sigma(formulation, t), ref, rtol=1e-9)
