# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -papermill,-execution,-ExecuteTime
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -papermill
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Why MSE diffusion learns low frequencies first (Prop. 3.1)
#
# **Claim** (the paper's abstract and §3.1 prose). Pixel-space diffusion trained with an MSE loss is biased towards
# low and mid spatial frequencies, and the power-law spectrum of natural images makes that bias harmless, even
# helpful: the frequencies the loss neglects carry little energy.
#
# This chapter measures the spectra of real images, derives the per-frequency form of the denoising loss under a
# Gaussian approximation, and checks the derivation against a denoiser actually trained with MSE, with a
# flat-spectrum control in which the bias must vanish.

# %% tags=["parameters", "hide-cell"]
preset = "ci"            # "ci" (minutes on 2 CPU cores), "small" (the book's figures), "paper"
dataset = "cifar10"      # main dataset; the CelebA subset is measured alongside
data_root = None         # None: $SMLIB_DATA, then ~/.cache/smlib/data
device = "auto"          # "auto" picks cuda, then mps, then cpu
seed = 0                 # data draw, the 16-px crop run's training seed, noise of the figures
full_image_seeds = (0, 1, 2)   # training seeds of the follow-up run on full 32-px images (§1.3)
train_steps = None       # override the preset's denoiser training steps
n_train = None           # override the preset's number of training images

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from myst_nb import glue

from smlib import book, plotting, resolve_device, spectral
from smlib.data import image_batch
from smlib.diffusion.schedules import CosineVP
from smlib import results
from smlib.experiments import spectral_bias as sb

cfg = sb.SpectralBiasConfig.at(preset, train_steps=train_steps, n_train=n_train)
dev = resolve_device(device)
torch.manual_seed(seed)
plotting.use_book_style()
for name in ("ci", "small"):     # the presets' budgets, quoted in the verdict
    glue(f"{name}_steps", sb.SpectralBiasConfig.at(name).train_steps, display=False)
    glue(f"{name}_images", sb.SpectralBiasConfig.at(name).n_train, display=False)

# %% [markdown]
# ## 1.1 The spectrum of natural images is a power law
#
# For an image $x$ of $N\times N$ pixels with Fourier coefficients $X(f)$, the power spectral density (PSD) is
# $S(f) = \mathbb{E}|X(f)|^2 / N^2$, and averaging over rings of equal $|f|$ (in cycles per pixel, Nyquist at 0.5)
# gives a one-dimensional curve. Natural images famously follow $S(f) \approx K f^{-\alpha}$; for photographs of
# natural scenes $\alpha \approx 2$ (van der Schaaf & van Hateren, 1996). We fit $\alpha$ by least squares in
# log–log, with a Hann window, because photos are not periodic and the jump at their border would leak an
# axis-aligned $f^{-2}$ tail into every spectrum. A fit needs a stated range, and on these small images the range
# matters, so we report two: the **low band** $[1/32, 1/8]$ cycles/px (scene structure) and the **mid band**
# $[1/16, 1/4]$ cycles/px, which reaches into the frequencies shaped by the downsampling prefilter that made these
# small images and by JPEG's $8\times 8$ quantisation.
#
# Before trusting the estimator on photos, we run it on a synthetic Gaussian field whose PSD is exactly $f^{-2}$.

# %%
FIT = dict(fmin=1 / 16, fmax=1 / 4)      # mid band: the main fit, drawn in the figure
LOW = dict(fmin=1 / 32, fmax=1 / 8)      # low band
images = {
    "CIFAR-10 (32 px)": image_batch(dataset, cfg.n_psd_images, cfg.resolution, seed=seed, root=data_root),
    "CelebA subset (64 px)": image_batch("celeba", min(cfg.n_psd_images, 1000), 64, seed=seed, root=data_root),
}
control = spectral.power_law_field(256, 1, 64, 2.0, generator=torch.Generator().manual_seed(seed))
spectra = {name: sb.measure_spectrum(x, **FIT) for name, x in images.items()}
spectra["synthetic field, exact f^-2"] = sb.measure_spectrum(control, window=None, **FIT)
low_band = {name: sb.measure_spectrum(x, **LOW).fit for name, x in images.items()}
celeba_native = sb.measure_spectrum(image_batch("celeba", min(cfg.n_psd_images, 1000), 140, seed=seed,
                                                root=data_root), **FIT).fit   # the 140-px face crop, not downsampled
results.html_table([{"data": name, "mid": m.fit.exponent, "mid_r2": m.fit.r2, "mid_n": m.fit.n_points,
                     "low": low_band[name].exponent if name in low_band else None,
                     "low_r2": low_band[name].r2 if name in low_band else None} for name, m in spectra.items()],
                   {"data": "data", "mid": "α, mid band", "mid_r2": "R², mid", "mid_n": "rings, mid",
                    "low": "α, low band", "low_r2": "R², low"}, digits=3,
                   caption="Power-law exponents α of S(f) ≈ K f^-α, fitted over the mid band [1/16, 1/4] and the low "
                           "band [1/32, 1/8] cycles/px")

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-power-spectra", "caption": "Radially averaged power spectra of CIFAR-10 (32 px), the CelebA subset (64 px) and a synthetic field with an exact $f^{-2}$ spectrum, on log-log axes. Dashed: the least-squares power-law fit over the mid band (shaded), with its exponent $\\alpha$ in the legend."}, "image": {"alt": "Log-log plot of power against frequency for three data sets; each is close to a straight line, CelebA the steepest, the synthetic field with slope -2, with dashed fitted lines over the shaded mid band."}}
fig, ax = plotting.subplots()
for (name, m), c in zip(spectra.items(), ["C0", "C1", "0.5"]):
    ax.loglog(m.freqs, m.psd, "o-", ms=3, color=c, label=f"{name}: $\\alpha$ = {m.fit.exponent:.2f}")
    f = np.array([FIT["fmin"], FIT["fmax"]])
    ax.loglog(f, m.fit(f), "--", color=c, lw=2)
ax.axvspan(FIT["fmin"], FIT["fmax"], color="k", alpha=0.05, label="mid band (fit range)")
ax.plot([], [], "k--", lw=2, label="power-law fit")
ax.set(xlabel="frequency |f| (cycles / pixel)", ylabel="radially averaged PSD")
plotting.log_ticks(ax)
ax.legend()
plt.show()

# %% [markdown]
# The table above and the check below state the measured facts ({numref}`fig-power-spectra` draws them). The
# estimator recovers the synthetic exponent, and both datasets are straight lines in log–log over the mid band
# ($R^2 > 0.99$). **Over the low band CIFAR-10 has a classical
# exponent (inside $[1.5, 2.5]$); over the mid band it is steeper, outside that range**, and the CelebA faces are
# steeper still (the exponents are printed below). The low-band fit of a 32 px image rests on only three rings, so
# it is the rougher of the two numbers. So the spectrum of these small images is not one power law but steepens
# with frequency. We looked for a measurement
# artefact and found none: JPEG at quality 75 moves the exponent of a synthetic $f^{-2}$ field by less than 0.1
# (`tests/test_spectral_bias.py`), and CelebA's exponent stays steep at its native 140-px crop, before any
# downsampling (the last line below). Small, object-centred images
# downsampled from larger photos, and smooth faces, simply carry less fine detail than landscapes. For Prop. 3.1
# this only strengthens the argument: a spectrum that falls faster puts even less energy at high frequencies.

# %% tags=["nbval-check-output"]
cifar = spectra["CIFAR-10 (32 px)"].fit
celeba = spectra["CelebA subset (64 px)"].fit
synthetic = spectra["synthetic field, exact f^-2"].fit
cifar_low = low_band["CIFAR-10 (32 px)"]
book.facts(f"mid band: [{cifar.fmin:.4f}, {cifar.fmax:.4f}] cycles/px; low band: [{cifar_low.fmin:.4f}, {cifar_low.fmax:.4f}]")
book.facts(f"estimator recovers a synthetic f^-2 field within 0.05: {abs(synthetic.exponent - 2) < 0.05}")
book.facts(f"CIFAR-10 exponent: mid band {cifar.exponent:.1f} ({cifar.n_points} rings, R^2 > 0.99: {cifar.r2 > 0.99}), "
      f"low band {cifar_low.exponent:.1f} ({cifar_low.n_points} rings, R^2 > 0.98: {cifar_low.r2 > 0.98})")
book.facts(f"CelebA exponent:   low band {low_band['CelebA subset (64 px)'].exponent:.1f}, mid band {celeba.exponent:.1f}")
book.facts(f"CIFAR-10 low-band exponent in the classical range [1.5, 2.5]: {1.5 <= cifar_low.exponent <= 2.5}")
book.facts(f"CIFAR-10 mid-band exponent in the classical range [1.5, 2.5]: {1.5 <= cifar.exponent <= 2.5}")
book.facts(f"the spectrum steepens with frequency (mid-band exponent > low-band): {cifar.exponent > cifar_low.exponent}")
book.facts(f"CelebA at its native 140-px crop (not downsampled), mid band: {celeba_native.exponent:.1f}; "
           f"steeper than the classical range (> 2.5): {celeba_native.exponent > 2.5}")

# %% [markdown]
# ## 1.2 The loss splits into independent frequencies
#
# The forward process is $x_t = \alpha_t x_0 + \sigma_t \varepsilon$ with white Gaussian $\varepsilon$. Take any
# orthonormal Fourier basis (the unitary DFT, or the orthonormal DCT used later in the book). White noise stays
# white, with unit variance in every coefficient, so each frequency is a separate scalar channel:
#
# $$X_t(f) = \alpha_t X_0(f) + \sigma_t E(f), \qquad E(f) \sim \mathcal{N}(0, 1).$$
#
# By Parseval, the pixel MSE of any estimate $\hat x_0$ equals the sum of per-frequency squared errors,
# $\lVert \hat x_0 - x_0 \rVert^2 = \sum_f |\hat X_0(f) - X_0(f)|^2$, so the MSE objective *is* a sum of per-frequency
# objectives. Now treat $X_0(f)$ as Gaussian with variance $S(f)$ (the paper's prose speaks of "a standard local
# Gaussian approximation"). The paper's own formulas for Prop. 3.1 are missing from the text we could read (its
# prose, with every formula stripped), so what follows is our derivation (the standard Wiener result), and the
# statement of Prop. 3.1 used in this book is our reconstruction from that prose ({ref}`src-props`).
# The MMSE estimate is the Wiener gain times the observation, and with
# $\SNR_t(f) = \alpha_t^2 S(f)/\sigma_t^2$:
#
# $$\hat X_0(f) = \frac{\alpha_t S(f)}{\alpha_t^2 S(f) + \sigma_t^2} X_t(f), \qquad
# \underbrace{\mathbb{E}|X_0 - \hat X_0|^2}_{\text{irreducible error}} = \frac{S(f)}{1 + \SNR_t(f)}, \qquad
# \underbrace{\mathbb{E}|\hat X_0|^2}_{\text{learnable power}} = S(f)\,\frac{\SNR_t(f)}{1 + \SNR_t(f)}.$$
#
# The learnable power is the whole MSE reduction a perfect denoiser can achieve at that frequency: it is what the
# loss rewards the network for learning. With $S(f) = K f^{-\alpha}$, at high frequency $\SNR_t(f) \ll 1$ for all
# but the smallest noise levels, so the learnable power is about $S(f)\,\SNR_t(f) \propto f^{-2\alpha}$, which
# vanishes fast. Training therefore spends its effort on low and mid frequencies.
#
# The map below shows the learnable fraction $\SNR/(1+\SNR)$ over frequency and diffusion time for the measured
# CIFAR-10 spectrum and a cosine schedule. The white line marks $\SNR = 1$.

# %%
path = CosineVP()
ts = np.linspace(0.0, 1.0, 201)
m = spectra["CIFAR-10 (32 px)"]
frac = sb.learnable_map(m.psd, path, ts)          # (time, frequency)
t_star = sb.resolving_times(m.psd, path)

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-learnable-fraction", "caption": "Left: the learnable fraction $\\SNR_t(f)/(1+\\SNR_t(f))$ for the measured CIFAR-10 spectrum under a cosine schedule, over frequency and diffusion time; the white line marks $\\SNR = 1$. Right: the learnable power $S(f)\\,\\SNR_t/(1+\\SNR_t)$ at four diffusion times."}, "image": {"alt": "Left, a heat map over frequency and diffusion time in which the learnable fraction falls from 1 to 0 as frequency or time grows, with a white SNR = 1 curve descending from left to right. Right, four decreasing curves of learnable power against frequency, lower for later times."}}
fig, axes = plotting.subplots(1, 2)
im = axes[0].pcolormesh(m.freqs, ts, frac, shading="auto", cmap="magma", vmin=0, vmax=1)
axes[0].plot(m.freqs, t_star, "w-", lw=2, label="SNR = 1")
axes[0].set(xscale="log", xlabel="frequency (cycles / px)", ylabel="diffusion time t (0 = clean)",
            title="learnable fraction")
axes[0].legend(loc="lower left")
fig.colorbar(im, ax=axes[0])
power = frac * m.psd[None, :]
for i in (20, 60, 100, 140):
    axes[1].loglog(m.freqs, power[i], label=f"t = {ts[i]:.1f}")
axes[1].set(xlabel="frequency (cycles / px)", ylabel="learnable power", title="learnable power by time")
axes[1].legend()
for ax in axes:
    plotting.log_ticks(ax)
plt.show()

# %% [markdown]
# Read the white curve from top to bottom, which is the direction of the reverse process. The lowest frequency
# reaches $\SNR = 1$ first, at the $t^*$ printed below for the lowest ring; the highest only near the very end.
# Generation therefore resolves frequencies coarse to fine, which DCTdiff calls "spectral autoregression". For a
# power law the order is monotone because $t^*(f)$ solves $\alpha_t^2/\sigma_t^2 = 1/S(f)$, and $1/S(f)$ grows
# with $f$.

# %% tags=["nbval-check-output"]
book.facts(f"frequencies resolved coarse to fine (t* decreasing in f): {bool(np.all(np.diff(t_star) <= 0))}")
book.facts(f"t* at the lowest / highest ring: {t_star[0]:.2f} / {t_star[-1]:.2f}")

# %% [markdown]
# ## 1.3 Does a trained denoiser follow the Gaussian prediction?
#
# The derivation assumes Gaussian data; photos are not Gaussian, and a network is not an oracle. So we train a
# small noise-conditioned denoiser with the plain pixel MSE, on luminance, at a few noise levels, and measure the
# power spectrum of its error on held-out images. Two references sit beside it:
# - the Gaussian **prediction** $S(f)/(1+\SNR)$ computed from the training images' PSD;
# - the **Wiener filter**, the Gaussian-optimal linear denoiser, run on the same noisy test images. It checks the
#   formula itself: its measured error must equal the prediction up to sampling noise.
#
# The metric is the ratio of trained error to prediction in every (noise level, frequency band) cell. **The bar:
# at least 90% of the cells within a factor of 1.5 of the prediction** (`smlib.experiments.spectral_bias.BAR`).
#
# *When the bar was chosen, as git shows it.* It was not fixed before the run. It entered this chapter in commit
# `fffae86` (2026-12-04), the same commit that first reported the crop diagnosis below and a run on full 32-px
# images, one seed, that met it; git cannot order the bar before those runs. Before that commit the chapter's bar was 90% of
# the cells within a factor of 2 (from commit `2370616`, 2026-12-01), which the 16-px crop run missed; it is
# printed below too, since it stood before any full-image run, but it is the looser bar.
#
# So the bar's authority is not its timing but what it rejects. A bar must be one that a plausible wrong model
# fails, and we apply it first to two of them: an error 2.5 times the prediction everywhere, and the common
# heuristic $\min(S, \sigma^2/\alpha^2)$, which is right far from the crossing $\SNR = 1$ and twice too large at
# it. (A still earlier version of this chapter used the log-error correlation over all cells; both wrong models pass
# it, since it is 1 for any constant factor, so it is no test.)

# %%
luma = sb.to_luma(image_batch(dataset, cfg.n_train + cfg.n_test, cfg.resolution, seed=seed + 1, root=data_root))
train, test = luma[: cfg.n_train], luma[cfg.n_train:]
fit_kw = dict(steps=cfg.train_steps, batch_size=cfg.batch_size, lr=cfg.lr, width=cfg.denoiser_width,
              depth=cfg.denoiser_depth, crop=16, seed=seed, device=dev)
model, curve = sb.train_denoiser(train, cfg.sigmas, **fit_kw)
errors = sb.band_errors(model, train, test, cfg.sigmas)
agreement = errors.agreement(factor=2.0)
book.facts(f"the bar against the wrong models and the references (share of cells within x{sb.BAR['factor']}): " + ", ".join(
    f"{name} {sb.within_share(e, errors.predicted, sb.BAR['factor']):.0%}"
    for name, e in {**errors.wrong_models(), "Wiener filter": errors.wiener,
                    "trained on 16-px crops": errors.trained}.items()))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-trained-vs-prediction", "caption": "The denoiser trained on 16-px crops against the Gaussian theory, one colour per noise level $\\sigma$. Left: power of the error per frequency ring, trained (solid), Gaussian prediction $S/(1+\\SNR)$ (dashed) and the Wiener filter (dotted), with the test images' spectrum $S(f)$ in black. Right: the share of each ring's power recovered, $1 - \\text{error}/S(f)$, trained (solid) and predicted (dashed)."}, "image": {"alt": "Two log-frequency plots with one colour per noise level. Left, error power curves: the trained, predicted and Wiener curves lie close together except at the highest frequencies, where the trained error is larger. Right, recovered share falls from near 1 at low frequency to near 0 at high frequency, earlier for larger noise."}}
fig, axes = plotting.subplots(1, 2)
for i, s in enumerate(errors.sigmas):
    c = f"C{i}"
    axes[0].loglog(errors.freqs, errors.trained[i], "-", color=c, label=f"$\\sigma$ = {s:.2f}")
    axes[0].loglog(errors.freqs, errors.predicted[i], "--", color=c)
    axes[0].loglog(errors.freqs, errors.wiener[i], ":", color=c)
axes[0].loglog(errors.freqs, errors.signal, "k-", lw=2, label="S(f), test images")
axes[0].set(xlabel="frequency (cycles / px)", ylabel="error power", title="error per ring")
axes[0].legend(loc="lower left")
lf_t, lf_p = errors.learned_fraction("trained"), errors.learned_fraction("predicted")
for i, s in enumerate(errors.sigmas):
    axes[1].semilogx(errors.freqs, lf_t[i], "-", color=f"C{i}")
    axes[1].semilogx(errors.freqs, lf_p[i], "--", color=f"C{i}")
axes[1].set(xlabel="frequency (cycles / px)", ylabel="1 - error / S(f)", ylim=(-0.5, 1.05),
            title="share of each ring recovered")
axes[1].legend(handles=[Line2D([], [], color="k", ls=ls, label=name) for ls, name in
                        (("-", "trained"), ("--", "Gaussian prediction"), (":", "Wiener filter (left only)"))],
               loc="lower left")
for ax in axes:
    plotting.log_ticks(ax)
plt.show()

# %% tags=["nbval-check-output"]
wiener_ratio = errors.wiener / errors.predicted
book.facts(f"Wiener filter matches the closed form within 15% in every cell: {bool(np.all(np.abs(wiener_ratio - 1) < 0.15))}")
book.facts(f"training loss decreased: {curve[-1][1] < curve[0][1]}")
ratio = errors.trained / errors.predicted
outside = (ratio < 0.5) | (ratio > 2)
for name, wrong in errors.wrong_models().items():
    book.facts(f"wrong model '{name}' fails the bar: {not sb.meets_bar(wrong, errors.predicted)}")
book.facts(f"the Wiener filter meets the bar: {sb.meets_bar(errors.wiener, errors.predicted)}")
for name, wrong in errors.wrong_models().items():
    book.facts(f"wrong model '{name}' fails the earlier bar (x{sb.EARLIER_BAR['factor']:g}): "
               f"{not sb.meets_bar(wrong, errors.predicted, sb.EARLIER_BAR)}")
book.facts(f"the denoiser trained on 16-px crops meets the bar (>= {sb.BAR['share']:.0%} of cells within "
           f"x{sb.BAR['factor']}): {agreement['meets_bar']} ({agreement['within_bar']:.0%})")
book.facts(f"cells with trained error within a factor of 2 of the prediction: {agreement['within_factor']:.0%}")
book.facts("cells outside x2 per noise level: " + ", ".join(f"sigma {s:.2f}: {n}" for s, n in zip(errors.sigmas, outside.sum(1))))
book.facts(f"low bands learned far better than high bands at sigma={errors.sigmas[1]:.2f}: "
      f"{lf_t[1, :3].mean() - lf_t[1, -3:].mean() > 0.5}")

# %% [markdown]
# Both wrong models fail the bar and the Wiener filter meets it, so the bar can tell them apart (the heuristic by
# the narrowest margin: its share is printed above, below the bar's 90%). The earlier bar, a factor of 2, rejects
# only the first of them (the lines above): that is why the stricter bar is the one the chapter is judged by. The
# denoiser trained on 16-px crops misses the bar (its share is printed too). Its misses sit in two places. In the
# top bands at low-to-moderate noise the network's error exceeds $S(f)$ several times: it adds high-frequency error
# where outputting nothing would have been better, which a few hundred steps never learn. And at the lowest noise level its error in the lowest ring, where
# the prediction is tiny, is several times too large. Elsewhere, at low and mid frequencies and moderate noise, it
# does slightly *better* than the best linear denoiser: it exploits non-Gaussian structure such as edges.
#
# **The diagnosis: is the lowest ring's miss the crop's doing?** The denoiser above trains on random 16-px crops
# (four times cheaper), and a 16-px crop cannot hold the lowest ring of a 32-px image, 1/32 cycles per pixel: that
# frequency never appears in a training input, only at test time. If the crop is the cause, the same network
# trained for the same steps on the full 32-px images has its lowest-ring error within a factor of 2 of the
# prediction at every noise level where the cropped model's is not. (This test, too, first appears in commit
# `fffae86`, beside its run.)
#
# **The follow-up: the same network on full 32-px images.** That run is the one the chapter's claim rests on, so
# it is repeated over training seeds (`full_image_seeds`; the seed sets the initial weights, the batches and the
# training noise, while the data and the evaluation noise stay fixed). Its seed equal to `seed` starts from the
# same weights as the cropped run. The cropped run stays one seed: it is the diagnosis, not the result.

# %%
full_kw = {k: v for k, v in fit_kw.items() if k != "seed"} | {"crop": None}   # the cropped run's recipe, whole images
full = sb.train_seeds(train, test, cfg.sigmas, full_image_seeds, **full_kw)
lowest_crop = errors.trained[:, 0] / errors.predicted[:, 0]
lowest = {s: e.trained[:, 0] / e.predicted[:, 0] for s, e in full.items()}
book.facts(f"16-px crops, seed {seed}: lowest-ring error / prediction per sigma: "
           + ", ".join(f"{v:.2f}" for v in lowest_crop) + f"; cells within x{sb.BAR['factor']}: "
           f"{errors.agreement()['within_bar']:.0%}",
           *[f"full 32-px images, seed {s}: lowest-ring error / prediction per sigma: "
             + ", ".join(f"{v:.2f}" for v in lowest[s]) for s in full])

# %% tags=["nbval-check-output"]
missed = np.abs(np.log(lowest_crop)) > np.log(2)
fixed = {s: bool(missed.any() and (np.abs(np.log(v[missed])) <= np.log(2)).all()) for s, v in lowest.items()}
bar, earlier = sb.bar_by_seed(full), sb.bar_by_seed(full, sb.EARLIER_BAR)
book.facts(f"noise levels where the cropped model misses the lowest ring by more than x2: "
           f"{', '.join(f'{s:.2f}' for s in errors.sigmas[missed]) or 'none'}",
           f"the full-image model is within x2 there at every seed: {all(fixed.values())}")
book.facts(*[f"seed {s}: full-image model meets the bar: {ok} ({share:.0%} of cells within x{sb.BAR['factor']}); "
             f"within x{sb.EARLIER_BAR['factor']:g}: {earlier[s][1]:.0%}" for s, (ok, share) in bar.items()])
misses_below_top = 0
for s, e in full.items():   # where each seed's misses sit: (noise level, ring) cells outside the bar's factor
    r = e.trained / e.predicted
    out = (r <= 1 / sb.BAR["factor"]) | (r >= sb.BAR["factor"])
    n_top = out.shape[1] // 4
    misses_below_top += int(out[:, :-n_top].sum())
    book.facts(f"seed {s}: cells outside x{sb.BAR['factor']} per sigma (of {out.shape[1]} rings): "
               + ", ".join(f"{sg:.2f}: {n}" for sg, n in zip(e.sigmas, out.sum(1)))
               + f"; in the top {n_top} rings: {out[:, -n_top:].sum()} of {out.sum()}")
book.facts(f"the full-image model meets the bar at every seed: {all(ok for ok, _ in bar.values())}",
           f"the full-image model meets the earlier bar (x{sb.EARLIER_BAR['factor']:g}) at every seed: "
           f"{all(ok for ok, _ in earlier.values())}",
           f"seeds meeting the bar: {sum(ok for ok, _ in bar.values())} of {len(full)}; lowest share within "
           f"x{sb.BAR['factor']}: {min(sh for _, sh in bar.values()):.0%}")
book.facts(f"every miss of the full-image runs lies in the top quarter of the rings: {misses_below_top == 0}")
glue("n_full_seeds", len(full), display=False)
glue("n_full_pass", sum(ok for ok, _ in bar.values()), display=False)

# %% [markdown]
# The lines above answer the two questions differently. **The diagnosis holds:** trained on the full images for
# the same number of steps, the network's lowest-ring error at the noise levels where the cropped model missed comes
# within a factor of 2 of the prediction, at every seed. A 16-px crop never shows the network the 1/32
# cycles-per-pixel frequency, so nothing in training pulls its error there towards the optimum.
#
# **The follow-up does not meet the bar at every seed:** {glue:text}`n_full_pass` of its {glue:text}`n_full_seeds`
# training seeds meet it (the per-seed shares are printed). The run first reported was seed 0's, which meets it;
# one seed could not tell that apart from luck. The misses sit in the top quarter of the rings
# at low and moderate noise (the last line above), the shortfall of a few hundred steps described after
# {numref}`fig-trained-vs-prediction`, not in the lowest ring. The earlier, looser bar (a factor of 2) is met at
# every seed, but it also passes the heuristic wrong model, so it cannot carry the claim. The cropped run stays as
# the first experiment of this section, since it is the one the figures show.
#
# ## 1.4 Control: with a flat spectrum the bias disappears
#
# Now repeat the experiment on white Gaussian noise images with the same total variance. $S(f)$ is constant, so
# $\SNR_t(f)$ no longer depends on $f$ and every band is equally learnable. The bias was never a property of the
# network or of the loss alone; it comes from the spectrum of the data.
#
# One caveat: our denoiser's skip path $c_\text{skip} x_t$ is, for white Gaussian data, exactly the MMSE estimator.
# The network therefore starts at the optimum here, and the point of the control is the prediction itself: a
# learnable fraction that is flat across frequency.

# %%
white_train, white_test = sb.white_control(train, seed=seed), sb.white_control(test, seed=seed + 1)
white_model, _ = sb.train_denoiser(white_train, cfg.sigmas, **{**fit_kw, "steps": max(cfg.train_steps // 4, 50)})
white = sb.band_errors(white_model, white_train, white_test, cfg.sigmas)
spread = lambda e: np.ptp(e.learned_fraction("trained")[1:-1], axis=1).max()  # noqa: E731

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-white-control", "caption": "The flat-spectrum control: the share of each ring's power recovered by the denoiser trained on images (solid) and by the one trained on white Gaussian noise of the same variance (dotted), one colour per noise level $\\sigma$."}, "image": {"alt": "Recovered share against log frequency: the solid image curves fall steeply with frequency, while the dotted white-noise curves are flat, each at a level set by its noise level."}}
fig, ax = plotting.subplots()
for i, s in enumerate(errors.sigmas):
    ax.semilogx(errors.freqs, lf_t[i], "-", color=f"C{i}", label=f"$\\sigma$ = {s:.2f}")
    ax.semilogx(white.freqs, white.learned_fraction("trained")[i], ":", color=f"C{i}")
ax.set(xlabel="frequency (cycles / px)", ylabel="1 - error / S(f)", ylim=(-0.5, 1.05))
handles = ax.get_legend_handles_labels()[0] + [Line2D([], [], color="k", ls="-", label="images"),
                                               Line2D([], [], color="k", ls=":", label="white noise")]
ax.legend(handles=handles, ncol=2, loc="lower left")
plotting.log_ticks(ax)
plt.show()

# %% tags=["nbval-check-output"]
book.facts(f"white control: recovered share varies across bands by < 0.1 at every sigma: {spread(white) < 0.1}")
book.facts(f"images: recovered share varies across bands by > 0.5 at some sigma: {spread(errors) > 0.5}")
w = white.agreement()
book.facts(f"white control meets the bar against the Gaussian prediction: {w['meets_bar']} ({w['within_bar']:.0%} of cells "
      f"within x{sb.BAR['factor']}); within x2: {w['within_factor']:.0%}")

# %% [markdown]
# The white-noise model, trained a quarter as long, stays close to the prediction but not everywhere within the
# bar's factor of 1.5 (the shares above); the control's point, a recovered share that is flat across frequency,
# does not depend on that.
#
# ## 1.5 Coarse to fine, in pictures
#
# The trained denoiser's estimate $\hat x_0$ at decreasing noise levels shows the reverse process at work: first
# the layout appears, then the edges.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-coarse-to-fine", "caption": "One test image (luminance) noised at each noise level $\\sigma$ (top row, $x_t$) and the trained denoiser's estimate $\\hat x_0$ of the clean image (bottom row), from the most noise to the least; the clean image is last."}, "image": {"alt": "Two rows of small grey images. Top: the same picture under decreasing noise. Bottom: the denoiser's estimates, blurry blobs at high noise that gain edges and detail as the noise falls, ending with the clean image."}}
with torch.no_grad():
    x0 = test[:1]
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(x0.shape, generator=g)
    levels = sorted(cfg.sigmas, reverse=True)
    fig, axes = plotting.image_grid(2, len(levels) + 1)
    for j, s in enumerate(levels):
        a = sb.vp_alpha(s)
        x_t = a * x0 + s * eps
        est = model(x_t.to(dev), torch.tensor([a], device=dev), torch.tensor([s], device=dev)).cpu()
        axes[0, j].imshow(x_t[0, 0], cmap="gray", vmin=-1.5, vmax=1.5)
        axes[1, j].imshow(est[0, 0], cmap="gray", vmin=-1, vmax=1)
        axes[0, j].set_title(f"$\\sigma$={s:.2f}")
    axes[1, -1].imshow(x0[0, 0], cmap="gray", vmin=-1, vmax=1)
    axes[0, -1].set_title("clean")
    axes[0, 0].text(-4, 16, "$x_t$", ha="right", va="center")
    axes[1, 0].text(-4, 16, "$\\hat x_0$", ha="right", va="center")
    plt.show()

# %% [markdown]
# ## Verdict
#
# - **Held.** On CIFAR-10 and the CelebA subset the PSD is close to a straight line in log–log over each band
#   ({numref}`fig-power-spectra`). The per-frequency Gaussian theory predicts the measured error of the Wiener
#   filter to within sampling noise. The trained denoiser recovers low bands at noise levels where high bands are
#   lost ({numref}`fig-trained-vs-prediction`), and the bias disappears for a flat spectrum
#   ({numref}`fig-white-control`).
# - **Not at every seed: the trained denoiser against the bar.** The denoiser trained on full 32-px images, the
#   follow-up after the crop diagnosis, meets the bar (90% of the (noise, band) cells within a factor of 1.5 of the
#   prediction) at {glue:text}`n_full_pass` of its {glue:text}`n_full_seeds` training seeds at this preset; the
#   misses lie in the top rings, where a short run leaves excess error (§1.3 prints each seed). The bar was chosen
#   in the same commit that first reported that run on one seed, after the cropped run had missed the chapter's
#   earlier, looser bar; what justifies it is that an error 2.5 times off and the heuristic
#   $\min(S, \sigma^2/\alpha^2)$ both fail it (§1.3 prints both), not that it was fixed in advance.
# - **The crop, not the theory.** Trained on 16-px crops (one seed, the diagnosis), the same network misses the bar,
#   most visibly in the lowest ring at the lowest noise, a frequency a 16-px crop never contains; trained on full
#   images its lowest-ring error is within a factor of 2 of the prediction there at every seed (§1.3;
#   {numref}`fig-trained-vs-prediction` shows the cropped run).
# - **Differs from the expected numbers.** CIFAR-10's exponent is classical over the low band but steeper over the
#   mid band, and the CelebA faces are steeper still (§1.1 prints the values): these small images fall off faster
#   than the $\approx 2$ of natural scenes. The argument only needs a decaying power law, so the conclusion stands.
# - **Scale.** The default run (`preset="ci"`) trains each denoiser for {glue:text}`ci_steps` steps on
#   {glue:text}`ci_images` images; `preset="small"` trains {glue:text}`small_steps` steps on
#   {glue:text}`small_images`. The main shortfall of short training is the top bands (§1.3).
