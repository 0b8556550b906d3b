"""An smlib EDM model learns a known distribution, no slower than the VP (DDPM) model on the same data, budget and
backbone, sampled with EDM's own Heun sampler (18 steps from sigma_max = 80, ``NVlabs/edm@008a4e5:generate.py``).

Data: 8 Gaussians of std 0.1 on the unit circle in 2-D (a known mixture). Backbone: a 3-layer SiLU MLP on
[x, sincos(1000 t)], the time convention of smlib's DiT and U-ViT (``t_scale`` 1000), built with the same seed for
every arm. Budget: 800 Adam steps of batch 256, one data stream for all arms.

Criterion, on 2000 samples: at least 90% of them lie within 4 std of their nearest mixture mean ("on a mode"), and
no mode holds less than half or more than twice its share 1/8 of the samples ("coverage"). Checks:

* EDM as smlib now builds it (the backbone's embedding sees c_noise = ln(sigma) / 4 as EDM's does) passes, and its
  on-mode share is at least DDPM's (measured when written: EDM 0.98 with modes at 0.79-1.22 x their share,
  DDPM 0.69; over three backbone seeds EDM 0.94-0.98, DDPM 0.61-0.75);
* the setup chapter 8 ran before issue 25 (the embedding of 1000 c_noise, DPM-Solver++ from t = 1, i.e.
  sigma = 152) passes as well: neither suspect breaks learning at this scale (measured 0.99, modes at 0.58-1.52 x
  their share; 0.97-0.99 over three seeds), which is what chapter 8's CIFAR-10 model showed too (gFID-250 within
  8 between the two inputs and within 4 between the two samplers, at 500 and 1000 steps);
* the criterion has teeth: the same trained EDM model sampled from sigma_max = 0.1, far below the data's own scale
  (a sampler that does not start from noise), fails it.
"""
import math

import pytest
import torch
from torch import nn

from smlib.diffusion import make_formulation, sample
from smlib.diffusion.edm import EDM, EDMPrecond, edm_formulation, edm_weight
from smlib.models.dit import timestep_embedding

pytestmark = pytest.mark.usefixtures("one_thread")

K, RADIUS, STD = 8, 1.0, 0.1
ANGLES = torch.arange(K, dtype=torch.float64) * 2 * math.pi / K
MEANS = torch.stack([ANGLES.cos(), ANGLES.sin()], 1) * RADIUS          # (K, 2)
STEPS, BATCH, N_SAMPLES = 800, 256, 2000


def mixture(n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws (n, 2) of the mixture."""
    k = torch.randint(0, K, (n,), generator=generator)
    return (MEANS[k] + STD * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()


def mode_scores(x: torch.Tensor) -> tuple[float, float, float]:
    """(share of samples within 4 std of their nearest mean, smallest and largest per-mode share x K) of x (N, 2)."""
    d = torch.cdist(x.double(), MEANS)
    nearest, k = d.min(1)
    on = nearest < 4 * STD
    share = torch.bincount(k[on], minlength=K).double() / x.shape[0]
    return float(on.double().mean()), float(share.min() * K), float(share.max() * K)


def passes(scores) -> bool:
    on_mode, lo, hi = scores
    return on_mode >= 0.9 and lo >= 0.5 and hi <= 2.0


class TinyNet(nn.Module):
    """x (B, 2), t (B,) -> (B, 2): an MLP on [x, sincos(t_scale t)] (32 features), like smlib's backbones."""

    def __init__(self, width: int = 128, t_scale: float = 1000.0):
        super().__init__()
        self.t_scale = t_scale
        self.net = nn.Sequential(nn.Linear(2 + 32, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x, t, y=None):
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return self.net(torch.cat([x, timestep_embedding(self.t_scale * t, 32)], 1))


def train(kind: str, t_scale: float | None = None):
    """(model, formulation) after the shared budget: "ddpm" (linear-beta VP, eps-MSE) or "edm" (EDMPrecond on the
    continuous VP path, lambda_EDM-weighted x0-MSE = EDM's loss)."""
    torch.manual_seed(0)
    net = TinyNet()
    if kind == "ddpm":
        formulation, model = make_formulation("ddpm-linear"), net
    else:
        formulation = edm_formulation("vp-continuous")
        model = EDMPrecond(net, formulation.path, t_scale=t_scale)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        loss, logs = formulation.loss(model, mixture(BATCH, g), generator=g)
        if kind == "edm":
            loss = edm_weight(formulation, logs["t"]) * loss
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
    return model.eval(), formulation


@pytest.fixture(scope="module")
def edm_model():
    return train("edm")


def test_edm_learns_the_mixture_no_slower_than_ddpm(edm_model):
    edm_scores = mode_scores(sample(*edm_model, (N_SAMPLES, 2), sampler="edm", steps=18, seed=7))
    ddpm_scores = mode_scores(sample(*train("ddpm"), (N_SAMPLES, 2), sampler="edm", steps=18, seed=7))
    assert passes(edm_scores), edm_scores
    assert edm_scores[0] >= ddpm_scores[0] - 0.02, (edm_scores, ddpm_scores)


def test_chapter_eights_former_setup_also_learns_it():
    model, formulation = train("edm", t_scale=1.0)          # the backbone embeds 1000 c_noise
    x = sample(model, formulation, (N_SAMPLES, 2), sampler="dpmpp_2m", steps=25, seed=7)   # from t = 1, sigma 152
    assert passes(mode_scores(x)), mode_scores(x)


def test_the_criterion_rejects_a_sampler_that_does_not_start_from_noise(edm_model):
    x = sample(*edm_model, (N_SAMPLES, 2), sampler="edm", steps=18, seed=7, edm=EDM(sigma_max=0.1))
    assert not passes(mode_scores(x)), mode_scores(x)
