"""Invertible spectral maps of a latent grid: one autoencoder's latent, its spectrum changed, nothing else.

Every map here is linear, acts on each channel's orthonormal 2-D DCT, and has an exact inverse:

    T z    = IDCT2( G * Pi DCT2(z) )          z: (B, C, h, w); G: (C, h, w) positive gains; Pi: coefficient permutation
    T^-1 y = IDCT2( Pi^T (DCT2(y) / G) )

DCT2 is smlib's orthonormal DCT-II (:func:`smlib.spectral.dct2`, ``D x D^T`` with ``D D^T = I``) and Pi only moves
coefficients, so both are orthogonal; the diagonal G is the only part that changes lengths. A decoder D therefore
sees exactly the same latents through ``D(T^-1(T z)) = D(z)``: every arm shares one decoder and one floor.

**Radial bins.** Chapter 3's descriptor bins (:func:`smlib.spectral.dct_radial_bins`, ``scheme="authors"``:
``bin = min(floor(n r / r_max), n - 1)``, r = ||(u, v)|| with DC at (0, 0), r_max = ||(h - 1, w - 1)||). The band
power (:func:`radial_power`) is the mean of the squared DCT coefficient over the batch and over the **AC**
coefficients of a bin, per channel. DC is left out of bin 0's count as well as its sum; the descriptor
(:func:`smlib.spectral.band_power`) zeroes DC but still counts it, so its bin 0 is (n_0 - 1) / n_0 of ours. That factor
is the same for the latent and the image, so ESM's target is reached in either convention. On the 8 x 8 latents of
the small preset bin 0 holds DC alone: it is empty here (0) and its gain is 1.

**DC is never touched** (gain 1, never moved). It is sqrt(h w) times a channel's spatial mean: the colour and
brightness of an image, which the descriptor removes and the spectra here do not describe. Leaving it alone is also
what makes the normalisation below exact.

**Kinds** (target band power per channel; S_x(b) is the image's band power, resampled to the latent grid exactly as
the ESM loss does, :func:`smlib.spectral.esm_image_target`, averaged over its colour channels):

* ``white``: flat (the over-whitened end; the latent of a KL-heavy VAE in the limit);
* ``image``: S_x(b), the image's own spectrum;
* ``esm``: S_x(b) (b + 1)^delta, ESM's target (``smlib/regularizers/esm.py``: the authors' ``latent_spectral_reg_dct``
  tilts the image band power by (bin + 1)^delta, bins 1-based); delta = 1.0, the released ESM-AE recipe;
* ``steeper``: S_x(b) (b + 1)^-steepen, steepen = 1.0 by default: as much steeper than the image as ESM is flatter;
* ``scramble``: a permutation Pi of the AC coefficient positions across radial bands (``order="reverse"``: the k-th
  lowest frequency swaps with the k-th highest, ordered by (u^2 + v^2, u); ``"random"``: a seeded permutation),
  then per-coefficient gains that restore each position's ORIGINAL power. The whole 2-D power spectrum, hence the
  radial one, is kept; only which content sits at which frequency moves;
* ``identity``: G = 1, the control arm through the same code.

The spectral kinds use one gain per (channel, radial band): within a band the latent's anisotropy is kept.

**Level.** ``level="preserve"`` (default): each channel's target is scaled so that its total AC power over the
fitting latents is unchanged. With DC untouched, every channel's mean and variance over the fitting latents are then
exactly those of z, so a normaliser fitted on them (a global 1/std or per channel) is the same for every arm and
only the spectral shape differs. ``level="absolute"`` (image kinds): the target in the image's own units; the
batch-mean band powers of T z then give exactly ESM's descriptor target p_x^delta (the descriptor is not
scale-invariant, so only this level reproduces its value; a linear T cannot set per-image descriptors).

**Per channel** (``per_channel=True``, default): gains fitted per channel, so every channel the diffusion model sees
has the target spectrum (autoencoder channels have different spectra). ``per_channel=False``: one gain map from the
channel-mean power, so the channel-mean spectrum (what the descriptor measures) reaches the target while channels
keep their differences; ``preserve`` then keeps the AC power summed over channels, not each channel's.
"""
from __future__ import annotations

import math

import torch

from smlib.spectral.dct import dct2, idct2
from smlib.spectral.filters import esm_image_target
from smlib.spectral.power import band_tilt, dct_radial_bins

KINDS = ("identity", "white", "image", "esm", "steeper", "scramble")
IMAGE_KINDS = ("image", "esm", "steeper")
LEVELS = ("preserve", "absolute")
ORDERS = ("reverse", "random")
_CHUNK = 1024  # latents per DCT batch while fitting: bounded memory for caches of any size


# ----------------------------------------------------------------------------------------------- measurement
def _check_grid(z: torch.Tensor, what: str = "latents") -> None:
    if z.ndim != 4:
        raise ValueError(f"{what} must be (B, C, h, w), got shape {tuple(z.shape)}.")
    if not torch.is_floating_point(z):
        raise ValueError(f"{what} must be floating point, got {z.dtype}; call .double() first.")
    if z.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch; pass at least one latent.")


def coefficient_power(z: torch.Tensor) -> torch.Tensor:
    """Mean squared orthonormal DCT coefficient per channel and position, over the batch, in float64.

    z: (B, C, h, w) -> (C, h, w). Computed in chunks of the batch, so a whole latent cache fits in memory.
    """
    _check_grid(z)
    total = torch.zeros(z.shape[1:], dtype=torch.float64, device=z.device)
    for chunk in z.split(_CHUNK):
        total += dct2(chunk.double()).square().sum(dim=0)
    return total / z.shape[0]


def ac_bins(h: int, w: int, n_bins: int = 16, scheme: str = "authors", device=None) -> torch.Tensor:
    """The descriptor's radial bin of every DCT coefficient with DC set apart: (h, w) long, DC = ``n_bins``."""
    bins = dct_radial_bins(h, w, n_bins, scheme, device=device).clone()
    bins[0, 0] = n_bins
    return bins


def band_counts(h: int, w: int, n_bins: int = 16, scheme: str = "authors") -> torch.Tensor:
    """Number of AC coefficients in each radial bin: (n_bins,) long (0 for an empty bin)."""
    return torch.bincount(ac_bins(h, w, n_bins, scheme).reshape(-1), minlength=n_bins + 1)[:n_bins]


def pool_bands(power: torch.Tensor, n_bins: int = 16, scheme: str = "authors") -> torch.Tensor:
    """Mean of a per-coefficient power over the AC coefficients of each radial bin. (..., h, w) -> (..., n_bins).

    Empty bins give 0 (as :func:`smlib.spectral.radial_pool`).
    """
    h, w = power.shape[-2:]
    idx = ac_bins(h, w, n_bins, scheme, device=power.device).reshape(-1)
    flat = power.reshape(*power.shape[:-2], h * w)
    sums = torch.zeros(*flat.shape[:-1], n_bins + 1, dtype=flat.dtype, device=flat.device).index_add(-1, idx, flat)
    counts = torch.bincount(idx, minlength=n_bins + 1).to(flat.dtype)
    return (sums / counts.clamp(min=1))[..., :n_bins]


def radial_power(z: torch.Tensor, n_bins: int = 16, scheme: str = "authors") -> torch.Tensor:
    """Radial power spectrum of latents per channel: (B, C, h, w) -> (C, n_bins) float64.

    Entry [c, b] is the mean of DCT2(z[:, c])[u, v]^2 over the batch and over the AC coefficients (u, v) != (0, 0)
    in radial bin b (:func:`ac_bins`); empty bins are 0. ``.mean(0)`` is the channel-mean spectrum the descriptor
    pools (``band_power(z).mean(0)`` up to bin 0's count, see the module docstring).
    """
    return pool_bands(coefficient_power(z), n_bins, scheme)


def bin_frequencies(h: int, w: int, n_bins: int = 16, scheme: str = "authors") -> torch.Tensor:
    """Mean physical frequency of each bin's AC coefficients, in cycles/sample (DCT index u is u / 2h): (n_bins,)
    float64, NaN for an empty bin. The x axis of a spectrum figure."""
    u = torch.arange(h, dtype=torch.float64)[:, None] / (2 * h)
    v = torch.arange(w, dtype=torch.float64)[None, :] / (2 * w)
    f = pool_bands(torch.sqrt(u**2 + v**2), n_bins, scheme)
    return torch.where(band_counts(h, w, n_bins, scheme) > 0, f, torch.full_like(f, math.nan))


def image_band_power(images: torch.Tensor, size: tuple[int, int], n_bins: int = 16, scheme: str = "authors",
                     **resample) -> torch.Tensor:
    """S_x: the images' radial power on the latent grid, resampled exactly as the ESM loss resamples them.

    images: (N, 3, H, W) in [-1, 1] -> (n_bins,) float64, the mean over colour channels of :func:`radial_power` of
    :func:`smlib.spectral.esm_image_target` (bicubic + the authors' 7x7 blur rule unless ``resample`` says otherwise).
    """
    _check_grid(images, "images")
    total = torch.zeros(n_bins, dtype=torch.float64, device=images.device)
    for chunk in images.split(_CHUNK):
        x_ds = esm_image_target(chunk.double(), tuple(size), **resample)
        total += radial_power(x_ds, n_bins, scheme).mean(dim=0) * chunk.shape[0]
    return total / images.shape[0]


# ----------------------------------------------------------------------------------------------- the map
class LatentTransform:
    """T z = IDCT2(gains * Pi DCT2(z)) and its exact inverse; built by :func:`fit_transform`.

    gains: (G, h, w) positive float64, G = C (per channel) or 1 (shared), gains[:, 0, 0] = 1 (DC untouched).
    perm: (h w,) long or None: output coefficient k (row-major) takes input coefficient perm[k]; perm[0] = 0.
    info: what :meth:`to_dict` records besides the map (kind, settings, fitted and target band powers).
    """

    def __init__(self, kind: str, gains: torch.Tensor, perm: torch.Tensor | None = None, channels: int | None = None,
                 info: dict | None = None):
        gains = torch.as_tensor(gains, dtype=torch.float64).cpu()
        if gains.ndim != 3:
            raise ValueError(f"gains must be (G, h, w), got shape {tuple(gains.shape)}.")
        if not bool((gains > 0).all()) or not bool(torch.isfinite(gains).all()):
            raise ValueError("every gain must be finite and positive, or T has no inverse; refit the transform.")
        if not bool((gains[:, 0, 0] == 1).all()):
            raise ValueError("the DC gain must be 1 (T leaves each channel's mean alone).")
        h, w = gains.shape[-2:]
        if perm is not None:
            perm = torch.as_tensor(perm, dtype=torch.long).cpu()
            if perm.shape != (h * w,) or not torch.equal(perm.sort().values, torch.arange(h * w)) or perm[0] != 0:
                raise ValueError(f"perm must be a permutation of range({h * w}) that keeps DC (perm[0] = 0).")
        self.kind, self.gains, self.perm = kind, gains, perm
        self.channels = int(channels if channels is not None else gains.shape[0])
        if gains.shape[0] not in (1, self.channels):
            raise ValueError(f"gains for {gains.shape[0]} channels cannot serve {self.channels}; use 1 or C maps.")
        self.info = dict(info or {})
        self._inv_perm = None if perm is None else torch.argsort(perm)
        self._cast: dict = {}

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w), the latent grid this map was fitted on."""
        return tuple(self.gains.shape[-2:])

    @property
    def source_power(self) -> torch.Tensor:
        """(G, n_bins) float64: the fitting latents' radial power before T (:func:`radial_power`)."""
        return torch.tensor(self.info["source_power"], dtype=torch.float64)

    @property
    def target_power(self) -> torch.Tensor:
        """(G, n_bins) float64: the radial power T gives the fitting latents (0 in empty bins)."""
        return torch.tensor(self.info["target_power"], dtype=torch.float64)

    @property
    def gain_range(self) -> tuple[float, float]:
        """(smallest, largest) gain: their ratio bounds how much T amplifies float round-off."""
        return float(self.gains.min()), float(self.gains.max())

    def _on(self, z: torch.Tensor):
        key = (z.dtype, z.device)
        if key not in self._cast:  # one copy per dtype and device, not one per call
            perm = None if self.perm is None else (self.perm.to(z.device), self._inv_perm.to(z.device))
            self._cast[key] = (self.gains.to(dtype=z.dtype, device=z.device), perm)
        return self._cast[key]

    def _check(self, z: torch.Tensor) -> None:
        _check_grid(z)
        if tuple(z.shape[-2:]) != self.grid or z.shape[1] != self.channels:
            raise ValueError(f"this transform was fitted on (C, h, w) = {(self.channels, *self.grid)}, got latents "
                             f"{tuple(z.shape)}; fit one on latents of this shape.")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, h, w) -> T z, same shape and dtype (apply it in float64 for exact round trips)."""
        self._check(z)
        gains, perm = self._on(z)
        coeffs = dct2(z)
        if perm is not None:
            coeffs = coeffs.flatten(-2)[..., perm[0]].view_as(coeffs)
        return idct2(coeffs * gains)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, C, h, w) -> T^-1 y, same shape and dtype."""
        self._check(y)
        gains, perm = self._on(y)
        coeffs = dct2(y) / gains
        if perm is not None:
            coeffs = coeffs.flatten(-2)[..., perm[1]].view_as(coeffs)
        return idct2(coeffs)

    __call__ = forward

    def to_dict(self) -> dict:
        """JSON-ready record: the exact map (gains, perm) and how it was fitted. ``from_dict`` rebuilds it bit for bit
        (Python's float repr round-trips float64)."""
        return {"kind": self.kind, "grid": list(self.grid), "channels": self.channels, "dc": "untouched",
                "gain_range": list(self.gain_range), **self.info,
                "gains": self.gains.tolist(), "perm": None if self.perm is None else self.perm.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> LatentTransform:
        """Inverse of :meth:`to_dict`."""
        missing = {"kind", "gains", "perm", "channels"} - set(d)
        if missing:
            raise ValueError(f"not a LatentTransform record: missing {sorted(missing)}; pass what to_dict() wrote.")
        skip = {"kind", "grid", "channels", "dc", "gain_range", "gains", "perm"}
        return cls(d["kind"], torch.tensor(d["gains"], dtype=torch.float64),
                   None if d["perm"] is None else torch.tensor(d["perm"], dtype=torch.long), int(d["channels"]),
                   {k: v for k, v in d.items() if k not in skip})

    def __repr__(self) -> str:
        lo, hi = self.gain_range
        return (f"LatentTransform({self.kind!r}, grid={self.grid}, channels={self.channels}, "
                f"gain maps={self.gains.shape[0]}, gains in [{lo:.3g}, {hi:.3g}])")


# ----------------------------------------------------------------------------------------------- fitting
def scramble_permutation(h: int, w: int, order: str = "reverse", seed: int = 0) -> torch.Tensor:
    """A permutation of the AC positions of an h x w DCT grid that moves content across radial bands.

    Positions are ordered by (u^2 + v^2, u). ``reverse``: the k-th lowest takes the content of the k-th highest and
    vice versa (an involution: low <-> high). ``random``: a seeded random permutation of the AC positions.
    Returns perm (h w,) long with perm[0] = 0: output position k (row-major) takes input position perm[k].
    """
    if order not in ORDERS:
        raise ValueError(f"unknown scramble order {order!r}; use one of {ORDERS}.")
    u = torch.arange(h)[:, None].expand(h, w).reshape(-1)
    v = torch.arange(w)[None, :].expand(h, w).reshape(-1)
    key = (u**2 + v**2) * h + u  # exact integers: a total order with no ties
    ranked = torch.argsort(key)[1:]  # AC positions from lowest to highest frequency (position 0 is DC)
    if order == "reverse":
        source = ranked.flip(0)
    else:
        source = ranked[torch.randperm(ranked.numel(), generator=torch.Generator().manual_seed(int(seed)))]
    perm = torch.arange(h * w)
    perm[ranked] = source
    return perm


def _target_shape(kind: str, n_bins: int, image_power: torch.Tensor | None, delta: float,
                  steepen: float) -> torch.Tensor:
    if kind == "white":
        return torch.ones(n_bins, dtype=torch.float64)
    if kind == "image":
        return image_power
    if kind == "esm":
        return image_power * band_tilt(n_bins, delta, torch.float64)
    return image_power * band_tilt(n_bins, -steepen, torch.float64)


def fit_transform(kind: str, train_latents: torch.Tensor, images: torch.Tensor | None = None, *,
                  n_bins: int = 16, scheme: str = "authors", per_channel: bool = True, level: str = "preserve",
                  delta: float = 1.0, steepen: float = 1.0, order: str = "reverse", seed: int = 0,
                  image_power=None, **resample) -> LatentTransform:
    """Fit the map of one ``kind`` (see the module docstring) on training latents.

    train_latents: (N, C, h, w), what the diffusion model will train on (posterior samples of the cache).
    images: (M, 3, H, W) in [-1, 1] for the image kinds (``image``, ``esm``, ``steeper``), resampled to (h, w) as ESM
    does (``resample`` goes to :func:`smlib.spectral.esm_image_target`); or ``image_power`` (n_bins,), S_x measured
    once by :func:`image_band_power`. ``delta``: ESM's tilt; ``steepen``: the ``steeper`` tilt; ``order``/``seed``: the
    scramble's permutation. Returns a :class:`LatentTransform` whose band powers on ``train_latents`` equal the
    target bin by bin (to float64 round-off).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown transform kind {kind!r}; use one of {KINDS}.")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {LEVELS}.")
    if level == "absolute" and kind not in IMAGE_KINDS:
        raise ValueError(f"level='absolute' needs an image target; kind {kind!r} takes level='preserve'.")
    if resample and kind not in IMAGE_KINDS:
        raise ValueError(f"kind {kind!r} uses no images; drop the resampling options {sorted(resample)}.")
    _check_grid(train_latents, "train_latents")
    c, h, w = train_latents.shape[1:]
    power = coefficient_power(train_latents).cpu()                       # (C, h, w)
    if not per_channel:
        power = power.mean(dim=0, keepdim=True)                          # (1, h, w)
    bins = ac_bins(h, w, n_bins, scheme)
    counts = band_counts(h, w, n_bins, scheme)
    occupied = counts > 0
    source = pool_bands(power, n_bins, scheme)                           # (G, n_bins)
    info = {"n_bins": int(n_bins), "scheme": scheme, "per_channel": bool(per_channel), "level": level,
            "n_fit": int(train_latents.shape[0]), "band_counts": counts.tolist()}
    perm = None

    if kind == "identity":
        gains, target = torch.ones_like(power), source
    elif kind == "scramble":
        perm = scramble_permutation(h, w, order, seed)
        flat = power.reshape(power.shape[0], -1)
        if not bool((flat[:, 1:] > 0).all()):
            raise ValueError("a latent DCT coefficient has zero power on the fitting set; the scramble cannot restore "
                             "it; fit on more latents or drop dead channels.")
        gains = (flat / flat[:, perm]).sqrt().reshape_as(power)          # position k keeps its own power
        target = source
        info.update(order=order, seed=int(seed) if order == "random" else None)
    else:
        if kind in IMAGE_KINDS:
            if image_power is None:
                if images is None:
                    raise ValueError(f"kind {kind!r} needs the training images (images=...) or image_power=...")
                image_power = image_band_power(images, (h, w), n_bins, scheme, **resample)
            image_power = torch.as_tensor(image_power, dtype=torch.float64).cpu()
            if image_power.shape != (n_bins,) or not bool((image_power[occupied] > 0).all()):
                raise ValueError(f"image_power must be ({n_bins},) and positive in every occupied bin, "
                                 f"got shape {tuple(image_power.shape)}.")
            info.update(image_power=image_power.tolist(), resample=dict(resample))
        shape = _target_shape(kind, n_bins, image_power, float(delta), float(steepen)) * occupied
        if level == "preserve":                                          # keep each map's total AC power
            scale = (source * counts).sum(dim=1, keepdim=True) / (shape * counts).sum()
            target = shape[None] * scale
        else:
            target = shape[None].expand_as(source).clone()
        if not bool((source[:, occupied] > 0).all()):
            raise ValueError("a channel has no power in an occupied radial bin; fit on more latents, use fewer bins "
                             "or per_channel=False.")
        band_gain = torch.where(occupied, (target / source.clamp(min=1e-300)).sqrt(), torch.ones_like(source))
        gains = torch.cat([band_gain, torch.ones_like(band_gain[:, :1])], dim=1)[:, bins]  # DC (bin n_bins): 1
        info.update(delta=float(delta) if kind == "esm" else None, steepen=float(steepen) if kind == "steeper" else None)
    info.update(source_power=source.tolist(), target_power=target.tolist())
    gains = gains.clone()
    gains[:, 0, 0] = 1.0
    return LatentTransform(kind, gains, perm, channels=c, info=info)


# ----------------------------------------------------------------------------------------------- for the figure
def transform_spectra(transform: LatentTransform, latents: torch.Tensor) -> dict:
    """The radial spectra of ``latents`` before and after ``transform``, for a figure (arrays, no plotting).

    latents: (N, C, h, w). Returns numpy float64 arrays: ``before``, ``after`` (C, n_bins) per channel
    (:func:`radial_power`), ``target`` (G, n_bins) the fitted target, ``frequency`` (n_bins,) cycles/sample of each
    bin (NaN where empty), ``counts`` (n_bins,) AC coefficients per bin; and the ``kind``.
    """
    n_bins, scheme = int(transform.info.get("n_bins", 16)), transform.info.get("scheme", "authors")
    h, w = transform.grid
    after = torch.cat([transform.forward(chunk.double()) for chunk in latents.split(_CHUNK)])
    return {"kind": transform.kind,
            "before": radial_power(latents, n_bins, scheme).cpu().numpy(),
            "after": radial_power(after, n_bins, scheme).cpu().numpy(),
            "target": transform.target_power.numpy(),
            "frequency": bin_frequencies(h, w, n_bins, scheme).numpy(),
            "counts": band_counts(h, w, n_bins, scheme).numpy()}


__all__ = ["KINDS", "IMAGE_KINDS", "LatentTransform", "fit_transform", "radial_power", "coefficient_power",
           "pool_bands", "ac_bins", "band_counts", "bin_frequencies", "image_band_power", "scramble_permutation",
           "transform_spectra"]
