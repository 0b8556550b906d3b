"""The training loss by noise band: per-sample losses averaged within bins of ln(sigma), for a training loop to log.

A diffusion loss is a mean over noise levels of very different difficulty, so its total can stall while one band
still learns, or fall while another (often the highest noise, which sets an image's lowest frequencies) never does.
Binning the per-sample loss by EDM's noise level sigma (Karras et al. 2022: x = y + sigma n; for a VP path
x_t = alpha y + s eps this is sigma = s / alpha, so sigma^-2 is the SNR) puts every formulation on one axis:

    bands   (-inf, e_1), [e_1, e_2), ..., [e_K, inf)       edges e_k in ln(sigma), default -4, -3, ..., 3
    logs    {"loss_band/<lo>..<hi>": mean of the per-sample loss over the batch's samples in that band}

EDM draws ln(sigma) ~ N(-1.2, 1.2^2) (``NVlabs/edm@008a4e5:training/loss.py::EDMLoss``), so with batch 64 the bands
within about two standard deviations (-3.6 ... 1.2) hold samples at every step and the outer ones now and then; a
band without samples this step is left out of the logs (:class:`smlib.train.logs.WindowMean` then averages a band
over the steps that drew it). :class:`BandMeter` pools samples exactly, for loops of one's own.

    bands = SigmaBands()
    logs.update(bands.means(per_sample_loss.detach(), edm_sigma(formulation, t)))
"""
from __future__ import annotations

import math

import torch

#: default edges in ln(sigma): unit bins over EDM's training bulk and its sampling range (ln 0.002 = -6.2,
#: ln 80 = 4.4), open at both ends
DEFAULT_EDGES: tuple[float, ...] = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)


def edm_sigma(formulation, t: torch.Tensor) -> torch.Tensor:
    """EDM's noise level of a path's times, sigma = sigma(t) / alpha(t) = exp(-log SNR(t) / 2): t (B,) -> (B,)
    float64 (finite for alpha > 0; the linear interpolant's t = 1 gives inf, which falls in the top band)."""
    path = getattr(formulation, "path", formulation)
    return torch.exp(-0.5 * path.log_snr(torch.as_tensor(t).double()))


def _fmt(v: float) -> str:
    return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:+g}"


class SigmaBands:
    """Bins of ln(sigma) given by increasing ``edges`` (K edges -> K + 1 bands, open at both ends).

    ``labels[k]`` is ``"<prefix>/<lo>..<hi>"`` with the band's ln(sigma) ends, e.g. ``"loss_band/-1..+0"``."""

    def __init__(self, edges=DEFAULT_EDGES, prefix: str = "loss_band"):
        edges = tuple(float(e) for e in edges)
        if not edges or any(not math.isfinite(e) for e in edges) or any(a >= b for a, b in zip(edges, edges[1:])):
            raise ValueError(f"edges must be a non-empty, finite, strictly increasing sequence of ln(sigma), got {edges}.")
        self.edges, self.prefix = edges, prefix
        ends = (-math.inf, *edges, math.inf)
        self.labels = [f"{prefix}/{_fmt(lo)}..{_fmt(hi)}" for lo, hi in zip(ends[:-1], ends[1:])]

    def __len__(self) -> int:
        return len(self.edges) + 1

    def index(self, sigma: torch.Tensor) -> torch.Tensor:
        """The band of each noise level: sigma (B,) > 0 -> (B,) long in [0, K]; band k holds e_k <= ln sigma < e_k+1."""
        sigma = torch.as_tensor(sigma).reshape(-1).double()
        if bool((sigma <= 0).any()) or bool(sigma.isnan().any()):
            raise ValueError("sigma must be > 0 (EDM's noise level, sigma(t) / alpha(t)); got a value <= 0 or NaN.")
        edges = torch.tensor(self.edges, dtype=torch.float64, device=sigma.device)
        return torch.bucketize(sigma.log(), edges, right=True)

    def sums_counts(self, loss: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per band, the sum of ``loss`` and the number of samples: loss (B,), sigma (B,) -> ((K+1,), (K+1,))
        float64 on the CPU."""
        loss = torch.as_tensor(loss).detach().reshape(-1).double().cpu()
        idx = self.index(sigma).cpu()
        if loss.shape != idx.shape:
            raise ValueError(f"loss and sigma must both be (B,), got {tuple(loss.shape)} and {tuple(idx.shape)}.")
        sums = torch.zeros(len(self), dtype=torch.float64).index_add_(0, idx, loss)
        counts = torch.zeros(len(self), dtype=torch.float64).index_add_(0, idx, torch.ones_like(loss))
        return sums, counts

    def means(self, loss: torch.Tensor, sigma: torch.Tensor) -> dict[str, float]:
        """{label: mean loss of the samples in that band} for the bands that hold any: loss (B,), sigma (B,)."""
        sums, counts = self.sums_counts(loss, sigma)
        return {self.labels[k]: float(sums[k] / counts[k]) for k in range(len(self)) if counts[k] > 0}


class BandMeter:
    """Pools (loss, sigma) over many batches; :meth:`means` is the exact per-band mean of every sample seen."""

    def __init__(self, bands: SigmaBands | None = None):
        self.bands = bands or SigmaBands()
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(len(self.bands), dtype=torch.float64)
        self.counts = torch.zeros(len(self.bands), dtype=torch.float64)

    def update(self, loss: torch.Tensor, sigma: torch.Tensor) -> None:
        """Add a batch: loss (B,), sigma (B,)."""
        s, c = self.bands.sums_counts(loss, sigma)
        self.sums += s
        self.counts += c

    def means(self) -> dict[str, float]:
        """{label: pooled mean} for the bands with samples so far."""
        return {lab: float(s / c) for lab, s, c in zip(self.bands.labels, self.sums, self.counts) if c > 0}


__all__ = ["DEFAULT_EDGES", "edm_sigma", "SigmaBands", "BandMeter"]
