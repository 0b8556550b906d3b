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
# # 3. Latent spectra: what ESM matches, and why KL latents come out over-whitened
#
# **Claim.** A latent diffuses well when its spectrum is a *flattened* power law: the image's spectrum tilted
# towards high frequencies, but not flat. Encoding Spectrum Matching (ESM) trains the encoder towards exactly that
# target. SD-VAE-style latents overshoot: they come out flatter than the target ("over-whitened").
#
# This chapter looks at the descriptor ESM compares, its target for a sweep of the tilt $\delta$, the mechanism
# that whitens a KL-regularised latent, and how the latents our lab trains (chapter 4) compare with the reference
# curves in the authors' analysis script.

# %% tags=["parameters", "hide-cell"]
preset = "ci"            # "ci", "small", "paper": how many images the spectra average over
dataset = "cifar10"      # the lab's dataset (32 px, 8 x 8 latents); the CelebA subset gives the 256 px view
data_root = None         # None: $SMLIB_DATA, then ~/.cache/smlib/data
device = "auto"          # only measurements here: the CPU is enough
seed = 0
deltas = (0.0, 0.6, 1.0, 1.2, 1.5)   # ESM tilts to draw
n_images = None          # override the preset's image count
lab_preset = "small"     # the lab's committed runs read in §3.3: results/autoencoders/<lab_preset>/ (chapter 4)
lab_results_dir = None   # None: the repository's results/

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from matplotlib.lines import Line2D

from smlib import book, plotting, results
from smlib.data import image_batch
from smlib.experiments import autoencoders as lab
from smlib.experiments import latent_spectra as ls
from smlib.metrics.latent import AUTHORS_SPECTRA, AUTHORS_SPECTRA_LABELS, psd_slope
from smlib.regularizers.esm import ESMLoss
from smlib.spectral import spectrum_distribution
from smlib.sweep import Metric, open_effect_lines, pooled_agreement, verdict_lines, verdict_table

cfg = ls.LatentSpectraConfig.at(preset, n_images=n_images)
plotting.use_book_style()
bins = np.arange(1, 17)

# %% [markdown]
# ## 3.1 The descriptor and its target
#
# ESM summarises a $C\times h\times w$ array by 16 numbers. It takes the orthonormal 2-D DCT of every channel,
# averages the power over channels, pools it into 16 radial bins of the DCT index
# ($b = \lfloor 16\, r / r_\max \rfloor$, with $r = \sqrt{u^2+v^2}$), removes DC, and maps band power $s_b$ to
# $q_b = \log(1 + s_b)$, normalised to sum 1. For the image, which is first resampled to the latent grid, the band
# power is tilted by $(b+1)^\delta$ before the log. The loss is $\mathrm{KL}(p_x^\delta \,\|\, p_z)$.
#
# These details are those of the released code (`forever208/SpectrumMatching@115c70be:utils_DCT.py`,
# `latent_spectral_reg_dct`). The paper's prose (§3.3) says only that a PSD descriptor of image and latent is
# computed, that the image side is flattened with an exponent $\delta$, that both are normalised into
# distributions, and that the loss is a KL divergence between them; its formulas were not in the text we read.
#
# With $\delta = 0$ the target is the image's own spectrum; every $\delta > 0$ moves mass to the high bins, so the
# target is a *flattened* power law. The released ESM-AE uses $\delta = 1$
# (`forever208/SpectrumMatching@115c70be:configs/train_vae_celeba256.yaml`). The logarithm matters: it compresses
# the many decades of a power law, so that the high bins carry weight in the KL at all.
#
# The library's descriptor, step by step, as this page runs it (read from `smlib`'s source when the notebook runs,
# so the code shown is the code that computed every curve below):

# %%
book.show_source(spectrum_distribution)

# %% [markdown]
# And the loss as an autoencoder trains it. `_spectra` computes the same band powers through precomposed matrices
# (faster, equal to float round-off; `tests/test_regularizers.py` checks the two against each other); the KL of
# the tilted image descriptor against the latent's is the last lines:

# %%
book.show_source(ESMLoss.forward, docstring=False)

# %%
cifar = image_batch(dataset, cfg.n_images, 32, split="test", seed=seed, root=data_root)
celeba = image_batch("celeba", cfg.n_images, 256, split="test", seed=seed, root=data_root)
grids = {"CIFAR-10, 32 px -> 8x8 (f4, the lab)": (cifar, (8, 8)),
         "CelebA, 256 px -> 32x32 (f8, the authors')": (celeba, (32, 32))}
targets = {name: ls.delta_targets(x, size, deltas) for name, (x, size) in grids.items()}
high_mass = {name: [ls.high_band_mass(p) for p in t] for name, t in targets.items()}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-esm-targets", "caption": "ESM's target descriptor $p_x^\\delta$ for a sweep of the tilt $\\delta$: the share of log-power in each of the 16 radial DCT bins (DC removed), for CIFAR-10 resampled to the lab's $8\\times 8$ latent grid (left) and for CelebA resampled to the authors' $32\\times 32$ grid (right)."}, "image": {"alt": "Two panels of descriptor curves on a log scale against bin number, one curve per delta; every curve falls with the bin, and a larger delta lifts the high bins and flattens the curve."}}
fig, axes = plotting.subplots(1, 2, sharey=True)
for ax, (name, t) in zip(axes, targets.items()):
    for d, p in zip(deltas, t):
        ax.semilogy(bins, np.where(p > 0, p, np.nan), "o-", ms=3, label=f"$\\delta$ = {d}")
    ax.set(title=name.split(" (")[0], xlabel="radial DCT bin (1 = lowest)")
    plotting.log_ticks(ax)
axes[0].set_ylabel("share of log-power")
axes[0].legend()
plt.show()

# %% [markdown]
# On an $8\times 8$ grid the lowest bin holds only DC, which the descriptor removes, so its first entry is 0.

# %% tags=["nbval-check-output"]
for name, m in high_mass.items():
    book.facts(f"{name}: mass in bins 9-16 rises with delta: {bool(np.all(np.diff(m) > 0))}",
               f"{name}: mass in bins 9-16, delta 0 -> 1: {m[0]:.2f} -> {m[deltas.index(1.0)]:.2f}")

# %% [markdown]
# ### Against the authors' reference curves
#
# The authors' analysis script hard-codes 16-bin distributions for CelebA-HQ at 256 px and for several latents
# (`forever208/SpectrumMatching@115c70be:latent_analysis.py`, `visualize_PSD`, on branch `SDVAE_and_ESM`; the
# image curve is labelled `celeba256`, which the authors' README,
# `forever208/SpectrumMatching@115c70be:README.md`, describes as CelebA-HQ resized to 256). Those curves
# include DC, so we compute ours the same way. Our CelebA images are not theirs: the offline subset holds
# *aligned* CelebA photos of $178\times 218$, centre-cropped and upsampled to 256, which carry less fine detail
# than CelebA-HQ.

# %%
keys = {0.0: "px_RGB_celeba256", 0.6: "px_delta_0_6", 1.0: "px_delta_1_0", 1.2: "px_delta_1_2"}
ours_dc = {d: ls.delta_targets(celeba, (32, 32), [d], remove_dc=False)[0] for d in keys}
l1_authors = {d: float(np.abs(ours_dc[d] - np.array(AUTHORS_SPECTRA[k])).sum()) for d, k in keys.items()}
contrast = (0.5, 1.0, 2.0)
l1_contrast = [float(np.abs(ls.delta_targets(s * celeba, (32, 32), [0.0], remove_dc=False)[0]
                            - np.array(AUTHORS_SPECTRA["px_RGB_celeba256"])).sum()) for s in contrast]

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-authors-targets", "caption": "Our CelebA image targets at $32\\times 32$ (solid, circles) against the reference curves hard-coded in the authors' analysis script (dashed, crosses) for four tilts $\\delta$, one colour per tilt, DC included as in their script."}, "image": {"alt": "Descriptor curves on a log scale against bin number; each of our curves has the shape of the authors' curve of the same colour but starts higher in the first bin and lies lower in the high bins."}}
fig, ax = plotting.subplots(height=4.0)
for (d, k), c in zip(keys.items(), ["C0", "C1", "C2", "C3"]):
    ax.semilogy(bins, ours_dc[d], "o-", ms=3, color=c, label=f"$\\delta$ = {d}")
    ax.semilogy(bins, AUTHORS_SPECTRA[k], "x--", ms=4, color=c)
ax.set(xlabel="radial DCT bin (DC included)", ylabel="share of log-power")
handles = ax.get_legend_handles_labels()[0] + [Line2D([], [], color="k", marker="o", ms=3, label="ours"),
                                               Line2D([], [], color="k", ls="--", marker="x", label="authors' script")]
ax.legend(handles=handles, ncol=2)
plotting.log_ticks(ax)
plt.show()

# %% [markdown]
# The shapes agree, but ours put more mass in the first bin. The descriptor takes $\log(1+s)$ of absolute power,
# so it is **not scale-invariant** (a comment in the released `utils_DCT.py` calls it scale-invariant; it is not,
# {ref}`src-esm`),
# and the check below shows that contrast alone moves the curve a long way: the same images at twice the contrast
# land close to the authors' curve. We read the gap as a difference of data (less detail and contrast in upsampled
# aligned CelebA than in CelebA-HQ), not of the descriptor, but we cannot test that without CelebA-HQ.

# %% tags=["nbval-check-output"]
book.facts("L1 distance of our CelebA targets to the authors' (0 = identical, 2 = disjoint): "
           + ", ".join(f"delta {d}: {v:.2f}" for d, v in l1_authors.items()),
           "L1 of the image curve to the authors' at contrast x"
           + ", x".join(f"{s}: {v:.2f}" for s, v in zip(contrast, l1_contrast)),
           f"descriptor depends on scale (x2 contrast moves L1 by > 0.1): {abs(l1_contrast[2] - l1_contrast[1]) > 0.1}")

# %% [markdown]
# ## 3.2 Why KL latents come out over-whitened
#
# A VAE decodes, and a diffusion model trains on, the posterior *sample* $z = \mu + \sigma\varepsilon$. The noise
# $\varepsilon$ is white: it adds the same power $\sigma^2$ to every DCT coefficient, whatever the spectrum of $\mu$.
# Write $r = \mathbb{E}\,\sigma^2 / \mathrm{Var}(\mu)$ for the posterior's noise-to-signal ratio. The KL term
# $\tfrac12\sum(\mu^2 + \sigma^2 - \log\sigma^2 - 1)$ pays the encoder to raise $\sigma$ towards 1, so a stronger KL
# means a larger $r$ and a flatter spectrum of $z$, whatever $\mu$ looks like.
#
# This mechanism is our own reading. The paper's prose (§3.4) explains the flattening differently: as entropy
# maximisation during compression, which a standard VAE overuses, shifting too much information into high
# frequencies (its Lemma A.2, which we could not read). The two are not exclusive; the lab (§3.3) measures $r$.
#
# To see how far that goes, take the best case for $\mu$: a latent with *exactly* the image's spectrum (the image
# resampled to the latent grid, channels standardised). Then add posterior noise at ratio $r$ and watch the
# descriptor flatten.

# %%
ratios = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0])
mu_celeba = ls.ideal_latent(celeba, (32, 32))
curves = ls.whitening_curve(mu_celeba, ratios, seed=seed)
target_1 = targets["CelebA, 256 px -> 32x32 (f8, the authors')"][deltas.index(1.0)]
slopes = [psd_slope(ls.noisy_posterior(mu_celeba, r, torch.Generator().manual_seed(seed))).exponent for r in ratios]
fits = {k: ls.fit_noise_ratio(mu_celeba, AUTHORS_SPECTRA[k], ratios, remove_dc=False, seed=seed)
        for k in ("pz_SDVAE", "pz_DSM", "pz_delta10", "pz_downsam", "pz_vavae")}

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-whitening", "caption": "Left: the descriptor of an ideal latent (CelebA's own spectrum on a $32\\times 32$ grid) plus white posterior noise at noise-to-signal ratio $r$, against the ESM target for $\\delta = 1$ (dashed). Right: the power-law exponent $\\alpha$ of the noisy latent's PSD against $r$; the dotted line is the noise-free latent."}, "image": {"alt": "Left, a family of descriptor curves that flatten as the noise ratio grows, crossing the dashed target. Right, the fitted exponent falls steadily as the noise ratio increases on a log axis."}}
fig, axes = plotting.subplots(1, 2)
cmap = plt.get_cmap("viridis")
for i, (r, p) in enumerate(zip(ratios, curves)):
    axes[0].semilogy(bins[1:], p[1:], "-", color=cmap(i / len(ratios)), label=f"r = {r:g}")
axes[0].semilogy(bins[1:], target_1[1:], "k--", lw=2, label="ESM target, $\\delta$ = 1")
axes[0].set(xlabel="radial DCT bin (DC removed)", ylabel="share of log-power", title="ideal latent + noise")
axes[0].legend(ncol=2, fontsize=plotting.MIN_FONT_PT, handlelength=1.2, columnspacing=0.8)
axes[1].semilogx(ratios[1:], slopes[1:], "o-", label="noisy latent")
axes[1].axhline(slopes[0], color="k", ls=":", label=f"no noise: $\\alpha$ = {slopes[0]:.2f}")
axes[1].set(xlabel="noise-to-signal ratio r", ylabel="PSD exponent $\\alpha$ of z", title="the power law flattens")
axes[1].legend()
for ax in axes:
    plotting.log_ticks(ax)
plt.show()

# %% [markdown]
# The authors' reference latents can be read the same way. For each of their curves we search for the ratio $r$
# at which "ideal latent + white noise" comes closest (L1, DC included as in their script).

# %% tags=["nbval-check-output"]
book.facts(f"PSD exponent falls as noise grows: {bool(np.all(np.diff(slopes) < 0))} "
           f"({slopes[0]:.2f} at r = 0, {slopes[-1]:.2f} at r = {ratios[-1]:g})")
authors = {k: ls.high_band_mass(AUTHORS_SPECTRA[k]) for k in ("px_delta_1_0", "pz_SDVAE", "pz_DSM", "pz_delta10")}
book.facts({f"high-band mass (bins 9-16, DC included), authors' {AUTHORS_SPECTRA_LABELS[k]}": f"{v:.3f}"
            for k, v in authors.items()})
book.facts(f"authors' SD-VAE latent is flatter than their delta = 1 target: {authors['pz_SDVAE'] > authors['px_delta_1_0']}")
gap = {k: abs(authors[k] - authors["px_delta_1_0"]) for k in ("pz_SDVAE", "pz_DSM", "pz_delta10")}
book.facts(f"distance to that target: SD-VAE {gap['pz_SDVAE']:.3f}, DSM {gap['pz_DSM']:.3f}, ESM {gap['pz_delta10']:.3f}",
           f"DSM and ESM closer than SD-VAE by > 5x: {5 * max(gap['pz_DSM'], gap['pz_delta10']) < gap['pz_SDVAE']}")
display(results.html_table([{"curve": AUTHORS_SPECTRA_LABELS[k], "r": f"{f['ratio']:g}", "l1": f["l1"]}
                            for k, f in fits.items()], {"curve": "authors' latent", "r": "closest noise ratio r",
                                                        "l1": "L1 at that r"},
                           caption="The noise ratio r at which an ideal latent plus white noise comes closest to each "
                                   "of the authors' latent curves (unit scale)"))
others = [f for k, f in fits.items() if k != "pz_SDVAE"]
book.facts(f"SD-VAE's curve has the smallest L1 and the largest noise ratio of these fits: "
           f"{all(fits['pz_SDVAE']['l1'] < f['l1'] and fits['pz_SDVAE']['ratio'] > f['ratio'] for f in others)}",
           f"every other curve's L1 is more than twice SD-VAE's: "
           f"{all(f['l1'] > 2 * fits['pz_SDVAE']['l1'] for f in others)}")

# %% [markdown]
# The SD-VAE curve is the one this model explains best, and it needs the most noise to do so (the largest printed
# ratio $r$, with the smallest L1; the first line above). Its high bins hold clearly more log-power than the authors' own $\delta = 1$
# target, while their DSM and ESM latents sit on that target (the distances printed above). That is the
# over-whitening. The other curves are fitted poorly (their L1 is more than twice SD-VAE's, the second line): they are
# flattened power laws without being "signal plus white noise", which is what ESM and DSM
# ask of $\mu$ itself. A diffusion model trained on an over-whitened latent spends capacity on what is mostly
# posterior noise.
#
# **Scale and noise together.** Those fits hold the latent at unit standard deviation, and the descriptor is not
# scale-invariant (it takes $\log(1 + \text{band power})$; §3.1's contrast check shows how far a scale moves the
# curve). A scale $s$ and a noise ratio $r$ can trade against each other, so we fit both, $s\,(\mu + \sqrt{r\,
# \mathrm{Var}\,\mu}\,\varepsilon)$ on a grid, and print the spread of $(s, r)$ whose L1 is within 10% of the best
# (what the curve cannot tell apart):

# %%
joint_scales = np.geomspace(0.25, 256, 21)
joint_ratios = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0])
joint = {k: ls.fit_scale_and_noise(mu_celeba, AUTHORS_SPECTRA[k], joint_scales, joint_ratios, remove_dc=False,
                                   seed=seed) for k in ("pz_SDVAE", "pz_DSM", "pz_delta10")}

# %% tags=["nbval-check-output"]
display(results.html_table([{"curve": AUTHORS_SPECTRA_LABELS[k], "s": f"{f['scale']:.2f}", "r": f"{f['ratio']:g}",
                             "l1": f"{f['l1']:.3f}", "s_near": f"{f['near_scales'][0]:.2f}–{f['near_scales'][1]:.2f}",
                             "r_near": f"{f['near_ratios'][0]:g}–{f['near_ratios'][1]:g}",
                             "r_unit": f"{fits[k]['ratio']:g}", "l1_unit": f"{fits[k]['l1']:.3f}"}
                            for k, f in joint.items()],
                           {"curve": "authors' latent", "s": "scale s", "r": "noise ratio r", "l1": "L1",
                            "s_near": "s within 10%", "r_near": "r within 10%", "r_unit": "r at unit scale",
                            "l1_unit": "L1 at unit scale"},
                           caption="Joint fit of scale and noise ratio to the authors' latent curves; 'within 10%': "
                                   "the pairs whose L1 is within 10% of the best"))
book.facts(f"every best scale lies inside the grid, not on its edge: "
           f"{all(joint_scales[0] < f['scale'] < joint_scales[-1] for f in joint.values())}")
book.facts(f"a free scale fits every curve better than unit scale: "
           f"{all(f['l1'] < fits[k]['l1'] for k, f in joint.items())}")
book.facts(f"SD-VAE still needs the most noise: "
           f"{joint['pz_SDVAE']['ratio'] > max(joint[k]['ratio'] for k in ('pz_DSM', 'pz_delta10'))}")
book.facts(f"SD-VAE's noise ratio at unit scale lies outside its joint fit's near set: "
           f"{not joint['pz_SDVAE']['near_ratios'][0] <= fits['pz_SDVAE']['ratio'] <= joint['pz_SDVAE']['near_ratios'][1]}")

# %% [markdown]
# With the scale free, every curve is fitted better than at unit scale, and the noise each needs shrinks (the
# printed pairs): the unit-scale ratio for SD-VAE, "noise larger than the signal", was bought by the unit-scale
# assumption, not forced by the curve, and the joint fit places it outside the set of pairs the curve cannot tell
# apart. What survives is the order: SD-VAE's curve needs more posterior noise than DSM's and ESM's, which are
# close to a noise-free, rescaled image spectrum. The grid does pin a pair down (the printed spreads), but only
# under this model of $\mu$, our CelebA images' own spectrum resampled (the caveat below): the absolute pair is a
# property of the model as much as of the authors' encoder; the order is the part that does not hang on it.
#
# A caveat: this is a *model* of the curves, not a measurement of the authors' encoders, and the fits use our
# CelebA images, which are not theirs (§3.1). The lab measures the actual noise ratio of every autoencoder it
# trains.
#
# ## 3.3 The lab's latents
#
# Chapter 4 trains every variant on CIFAR-10 ($8\times 8\times 4$ latents) with one budget, at a few seeds each
# (the seed sets the initial weights, the batch order and the training subset, the same for every variant), and
# stores, per run, the descriptor of the posterior sample and its distance to the $\delta = 1$ target. This
# section reads its committed runs (`results/autoencoders/small/`, one file per variant and seed) with the sweep
# engine; it shows nothing when there are none. The spectra drawn are seed 0's; the table gives the mean and spread
# over seeds, and the claims are made seed by seed. The lab's EQ-VAE here is the arm trained from scratch
# (`eqvae-scratch`); EQ-VAE fine-tuned from SD-VAE, as its paper trains it, has no committed runs yet (the line
# below names the arms without runs).

# %%
lab_book = lab.SWEEP.load(lab_preset, lab_results_dir)
lab_label = dict(lab.SWEEP.arms)
if not lab_book.runs:
    book.facts(f"no committed lab runs under results/autoencoders/{lab_preset}/: run `python -m smlib autoencoder "
               f"--preset {lab_preset} --variant all --seeds 0 1 2`")
else:
    per_seed = {m: lab.SWEEP.values(lab_book.runs, m)
                for m in ("kl_to_target", "high_band_mass", "noise_to_signal", "psd_slope_latent")}
    book.facts(results.provenance_lines(lab_book.runs[0], runs=lab_book.runs),
               "lab arms without committed runs: "
               + (", ".join(lab_label[a] for a in lab.SWEEP.arms if a not in per_seed["high_band_mass"]) or "none"))

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-lab-latent-spectra", "caption": "Latent descriptors of the lab's autoencoders (chapter 4, CIFAR-10, $8\\times 8\\times 4$ latents, seed 0), with each latent's posterior noise-to-signal ratio $r$ in the legend, against the ESM target for $\\delta = 1$ (dashed) and the image's own descriptor (dotted); DC removed, so bin 1, which holds DC alone on an $8\\times 8$ grid, is not drawn."}, "image": {"alt": "Descriptor curves of seven autoencoder latents on a log scale against bin number, between the steep dotted image curve and above it; at this seed the SD-VAE and from-scratch EQ-VAE curves are the flattest and sit above the dashed target in the high bins, the ESM curve lies closest to the target."}}
if lab_book.runs:
    fig, ax = plotting.subplots(height=4.4)
    seed0 = {lab.SWEEP.arm_of(r): r["metrics"] for r in lab_book.runs if lab.SWEEP.seed_of(r) == 0}
    first = next(iter(seed0.values()))
    ax.semilogy(bins[1:], first["spectra"]["p_target"][1:], "k--", lw=2, label="ESM target, $\\delta$ = 1")
    ax.semilogy(bins[1:], first["spectra"]["p_image"][1:], "k:", lw=1.5, label="image, $\\delta$ = 0")
    for arm, m in seed0.items():
        ax.semilogy(bins[1:], m["spectra"]["p_z"][1:], "o-", ms=3,
                    label=f"{lab_label[arm]} (r = {m['noise_to_signal']:.2g})")
    ax.set(xlabel="radial DCT bin (DC removed)", ylabel="share of log-power")
    ax.legend(ncol=2, loc="lower left")
    plotting.log_ticks(ax)
    plt.show()

# %%
if lab_book.runs:
    display(lab.SWEEP.table(lab_book.runs, ["kl_to_target", "high_band_mass", "noise_to_signal", "psd_slope_latent"],
                            per_seed=False, caption=f"The lab's latents against the ESM target (delta = 1), "
                                                    f"{lab_preset} preset: mean ± sd over seeds"))

# %% [markdown]
# The check below reads the claim seed by seed. The target is the same descriptor for every run (the image's,
# tilted by $\delta = 1$, on the lab's evaluation images), so "flatter than the target" compares each seed's latent
# with it; beside the every-seed line, the one-sample $t$ interval of the excess over the seeds says how large it
# is. The comparison of ESM-AE with SD-VAE is chapter 4's declared manipulation check (ESM trains on this
# distance), judged there paired by seed; its primary verdict is printed here beside the every-seed reading.

# %% tags=["nbval-check-output"]
if lab_book.runs:
    target_mass = lab.SWEEP.values(lab_book.runs, Metric(
        "target_mass", "target's mass in bins 9-16", lambda r: ls.high_band_mass(r["metrics"]["spectra"]["p_target"])))
    mass, kl, noise = per_seed["high_band_mass"], per_seed["kl_to_target"], per_seed["noise_to_signal"]
    over = {arm: ls.excess_over_target(mass[arm], target_mass[arm]) for arm in mass}
    sd = over["sd-vae"]
    noisy = ("sd-vae", "eqvae-scratch")
    quiet = [a for a in noise if a not in noisy]
    book.facts(f"target's mass in bins 9-16: {np.mean(list(target_mass['sd-vae'].values())):.3f} "
               f"(the same for every run: {len({round(v, 12) for t in target_mass.values() for v in t.values()}) == 1})",
               f"SD-VAE latent flatter than the target (over-whitened) at every seed: {sd['every_seed']}",
               f"SD-VAE's excess mass over the target: {sd['mean']:.3f}, 95% interval [{sd['ci_low']:.3f}, "
               f"{sd['ci_high']:.3f}] (one-sample t over {len(sd['seeds'])} seeds, p {sd['p']:.2g})",
               "latents flatter than the target at every seed: "
               + (", ".join(lab_label[a] for a, o in over.items() if o["every_seed"]) or "none"),
               "seeds at which each latent is flatter than the target: "
               + ", ".join(f"{lab_label[a]} {sum(v > 0 for v in o['excess'].values())}/{len(o['seeds'])}"
                           for a, o in over.items()),
               f"SD-VAE and EQ-VAE (from scratch) carry more posterior noise than every other variant at every seed "
               f"(smallest of theirs vs largest of the rest): {min(min(noise[a].values()) for a in noisy):.2g} vs "
               f"{max(max(noise[a].values()) for a in quiet):.2g}, "
               f"{min(min(noise[a].values()) for a in noisy) > max(max(noise[a].values()) for a in quiet)}",
               f"ESM-AE closer to the target than SD-VAE at every seed (worst ESM seed vs best SD-VAE seed): "
               f"{bool(max(kl['esm'].values()) < min(kl['sd-vae'].values()))}")
    check = next((fam, rows) for fam, rows in lab.SWEEP.verdicts(lab_book.runs)
                 if fam.metric == "kl_to_target" and any((r["better"], r["worse"]) == ("esm", "sd-vae") for r in rows))
    metric = lab.SWEEP.metric("kl_to_target")
    book.facts(f"chapter 4's {check[0].title} (paired by seed, Holm):", *verdict_lines(check[1], metric),
               pooled_agreement(check[1]), *open_effect_lines(check[1], metric))
    display(verdict_table(check[1], metric, f"{check[0].title} (chapter 4's declared family; {check[0].declared})"))

# %% [markdown]
# ## Verdict
#
# - **The descriptor.** ESM's target, as the released code builds it, is the image spectrum tilted by
#   $(b+1)^\delta$; a larger $\delta$ moves mass
#   to the high bins monotonically, on both grids ({numref}`fig-esm-targets`). Our CelebA targets have the shape of
#   the authors' curves but not
#   their values, and the descriptor depends on absolute contrast (it is not scale-invariant), which is enough to
#   explain the gap; we could not check on CelebA-HQ.
# - **Over-whitening.** White posterior noise flattens any latent spectrum ({numref}`fig-whitening`), and the
#   authors' SD-VAE curve is the one that needs the most of it to be explained. Our own lab (§3.3, chapter 4,
#   {numref}`fig-lab-latent-spectra`) finds the same at 32 px: its SD-VAE latent and the EQ-VAE trained from
#   scratch carry more posterior noise than every other variant at every seed, and SD-VAE's latent sits on the flat
#   side of the target at every seed, by the excess and interval printed in §3.3. The EQ-VAE trained from scratch
#   does not (the seeds at which it is flatter are printed), so the claim is SD-VAE's alone here; EQ-VAE fine-tuned
#   from SD-VAE, as its paper trains it, has no committed runs yet.
# - **ESM-AE against SD-VAE.** ESM-AE's latent is closer to the target than SD-VAE's at every seed, but that is
#   the regularizer moving the quantity it is trained on (chapter 4's manipulation check), and its verdict is the
#   paired test's printed above, with the effect its interval leaves open and the seeds a gap of the observed size
#   would need. Every line in §3.3 is computed from the committed runs, not typed in.
