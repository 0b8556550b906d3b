"""Readouts of representation alignment (chapter 6): the target's directional spectrum before training, and what
the tapped hidden state does during training.

Prop. 3.2 makes the target side exact: the RMS spatial contrast of a token field is the DC-free DCT energy of its
direction field, RMSC^2 = sum_{(u, v) != 0} E(u, v) / T with E = |DCT2(x / ||x||)|^2 summed over channels
(:mod:`smlib.spectral.contrast`). :func:`directional_profile` splits that energy into radial bins (the authors'
16-bin scheme) and gives each bin's physical frequency, so every target variant (raw, iREPA's normalisation, a DoG)
and the model's own hidden state are compared on one axis. :func:`mid_band_share` is the one number per target the
chapter's rank correlation uses; the band (the middle third of the bins) is our choice, declared before any run.

During training the alignment cosine is logged by :class:`smlib.diffusion.alignment.AlignedModel`;
:func:`hidden_readout` evaluates the tapped state on fixed held-out latents at fixed t (RMSC, directional profile,
cosine to the target), at every evaluation during training (:class:`ReadoutEvaluator`, scalars) and in full at the
end; the per-frequency x0-error is :func:`smlib.metrics.frequency_errors.frequency_errors`.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from smlib.diffusion.alignment import tokens_to_grid
from smlib.diffusion.losses import Formulation
from smlib.spectral import directional_spectrum, rmsc
from smlib.spectral.power import dct_radial_bins, radial_pool

N_BINS = 16
MID_BAND = (1 / 3, 2 / 3)   # the middle third of the radial bins (declared before the runs)
#: held-out latents a trained model's tapped state is read out on (every evaluation and at the end)
READOUT_N = 256


def directional_profile(x: torch.Tensor, n_bins: int = N_BINS) -> dict:
    """The direction field's DCT energy of feature maps x (B, C, h, w), pooled into radial bins.

    Returns (float tensors, batch-averaged): ``rmsc`` (B,) per map; ``energy`` = the mean DC-free directional
    energy per token (= mean RMSC^2); ``dc`` = the DC share ||mean(u)||^2 (so ``energy + dc = 1``); ``profile``
    (n_bins,) = the *sum* of E(u, v) / T over each bin's coefficients, DC excluded (so it sums to ``energy``);
    ``frequency`` (n_bins,) = each bin's mean radial frequency in cycles per token, u / (2h) along an axis.
    """
    if x.ndim != 4:
        raise ValueError(f"expected feature maps (B, C, h, w), got {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    spec = directional_spectrum(x.double()) / (h * w)             # (B, h, w), sums to 1 per map
    dc = spec[:, 0, 0].clone()
    spec[:, 0, 0] = 0.0
    bins = dct_radial_bins(h, w, n_bins, "authors", device=x.device)
    counts = torch.bincount(bins.reshape(-1), minlength=n_bins).double()
    profile = radial_pool(spec, bins, n_bins) * counts.to(spec.device)
    u = torch.arange(h, dtype=torch.float64)[:, None] / (2 * h)
    v = torch.arange(w, dtype=torch.float64)[None, :] / (2 * w)
    freq = radial_pool(torch.sqrt(u**2 + v**2), bins.cpu(), n_bins)
    return {"rmsc": rmsc(x.double()), "energy": float(spec.sum(dim=(-2, -1)).mean()), "dc": float(dc.mean()),
            "profile": profile.mean(dim=0).cpu(), "frequency": freq}


def mid_band_share(profile: torch.Tensor, band: tuple[float, float] = MID_BAND) -> float:
    """Share of the DC-free directional energy in the bins [band[0] n_bins, band[1] n_bins) of a profile (n_bins,)."""
    n = profile.shape[-1]
    lo, hi = round(band[0] * n), round(band[1] * n)
    total = float(profile.sum())
    return float(profile[lo:hi].sum()) / total if total > 0 else 0.0


@torch.no_grad()
def hidden_readout(model, formulation: Formulation, x0: torch.Tensor, raw_target: torch.Tensor,
                   t_values=(0.25, 0.5, 0.75), seed: int = 0, n_bins: int = N_BINS) -> dict:
    """The tapped hidden state of an :class:`~smlib.diffusion.alignment.AlignedModel` on fixed data.

    x0: (B, d, h, w) normalised held-out latents; raw_target: (B, T, C) their encoder tokens. For each t: noise
    x0 (seeded), run the backbone, take block k's tokens. Returns {t: {"rmsc": mean RMSC of the hidden state,
    "energy", "profile", "frequency" (as :func:`directional_profile`), "cosine": mean cosine of the projected state
    to the target}}."""
    head = model.alignment
    out = {}
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    for t in t_values:
        eps = torch.randn(x0.shape, generator=g).to(x0.device)
        tt = torch.full((x0.shape[0],), float(t), device=x0.device)
        _, hidden = model.backbone(formulation.add_noise(x0, tt, eps), tt, None, return_hidden=True)
        h = hidden[head.depth - 1]
        prof = directional_profile(tokens_to_grid(h, head.grid), n_bins)
        _, cos = head(hidden, raw_target)
        out[float(t)] = {"rmsc": float(prof["rmsc"].mean()), "energy": prof["energy"], "profile": prof["profile"],
                         "frequency": prof["frequency"], "cosine": float(cos.mean())}
    return out


class ReadoutEvaluator:
    """A training evaluator (:func:`smlib.train.fit`'s ``task.evaluate``) that adds the tapped state's readout at one
    t to whatever ``inner`` (e.g. the gFID evaluator, or None) reports: ``hidden_rmsc``, ``hidden_mid_band`` and
    ``hidden_cos`` on fixed held-out latents x0 (B, d, h, w) with their raw target tokens (B, T, C)."""

    def __init__(self, inner, formulation: Formulation, x0: torch.Tensor, raw_target: torch.Tensor, t: float = 0.5,
                 seed: int = 0):
        self.inner, self.formulation, self.x0, self.raw_target = inner, formulation, x0, raw_target
        self.t, self.seed = float(t), int(seed)

    @property
    def last_images(self):
        return getattr(self.inner, "last_images", None)

    @property
    def n(self) -> int:
        return getattr(self.inner, "n", 0)

    def to(self, device):
        self.x0, self.raw_target = self.x0.to(device), self.raw_target.to(device)
        if hasattr(self.inner, "to"):
            self.inner.to(device)
        return self

    def __call__(self, model, step: int, **kwargs) -> dict:
        out = dict(self.inner(model, step, **kwargs)) if self.inner is not None else {}
        r = hidden_readout(model, self.formulation, self.x0, self.raw_target, (self.t,), seed=self.seed)[self.t]
        out.update(hidden_rmsc=r["rmsc"], hidden_mid_band=mid_band_share(r["profile"]), hidden_cos=r["cosine"])
        return out


def checkpoint_readouts(model: nn.Module, checkpoint, formulation: Formulation,
                        readout: tuple[torch.Tensor, torch.Tensor], ts, seed: int) -> dict:
    """The EMA weights of a training ``checkpoint`` (a :func:`smlib.train.fit` file) loaded into a copy of the
    aligned ``model``, then its tapped state on the held-out ``readout`` = (latents, raw target tokens): for each t
    of ``ts``, :func:`hidden_readout` (RMSC, directional profile, cosine to the target), JSON-ready."""
    ema = copy.deepcopy(model).eval()                          # backbone + head, then the EMA of both
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    ema.load_state_dict(ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"])
    del ckpt
    device = next(ema.parameters()).device
    x0, raw = (t.to(device) for t in readout)
    out = hidden_readout(ema, formulation, x0, raw, ts, seed=seed)
    return {str(t): {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in r.items()}
            for t, r in out.items()}


__all__ = ["N_BINS", "MID_BAND", "READOUT_N", "directional_profile", "mid_band_share", "hidden_readout",
           "ReadoutEvaluator", "checkpoint_readouts"]
