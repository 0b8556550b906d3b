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
# # 5. Diffusability: which latents does one diffusion recipe generate best from?
#
# **Claim.** Latents that satisfy ESM (a flattened power-law spectrum) and DSM (a decoder that maps latent bands to
# the same image bands) are easier to diffuse: the same diffusion model, trained with the same budget, generates
# better images from them than from SD-VAE's over-whitened latents. The source is the paper's prose: its abstract
# (papers.md §1.2, claim 5) and §3.3, "both ESM and DSM can achieve improved diffusion results compared with
# standard VAEs". Its tables could not be read (papers.md §1.4), so the claim tested here is the ordering, not its
# numbers.
#
# This chapter trains one latent diffusion recipe on the latents of every autoencoder of chapter 4, scores the
# samples with gFID and KID for two diffusion seeds each, and measures the per-frequency error of each trained
# model against the Gaussian prediction of Proposition 3.1.

# %% tags=["parameters", "hide-cell"]
preset = "ci"            # "ci" (minutes on 2 CPU cores), "small" (the book's table), "paper" (torchrun, GPUs)
dataset = None           # None: the preset's (CIFAR-10 at 32 px for ci/small)
data_root = None         # None: $SMLIB_DATA, then ~/.cache/smlib/data
device = "auto"
variants = None          # None: all six; or a list such as ["sd-vae", "esm", "dsm"]
seed = None              # one diffusion seed (the same as seeds=[seed]); None: use `seeds`
seeds = None             # None: the preset's diffusion seeds (ci: 0; small: 0 and 1)
steps = None             # override the preset's diffusion training steps
book_results = None      # None: the committed small-preset sweep, results/diffusability/small.json (§5.3)
bench_results = None     # None: results/benchmarks/diffusion_throughput.json (§5.6)

# %% tags=["hide-cell"]
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from smlib import results, stats
from smlib.experiments import diffusability as diff
from smlib.experiments.diffusability import report
from smlib.metrics.frequency_errors import FrequencyErrors

cfg = diff.DiffusabilityConfig.at(preset, dataset=dataset, steps=steps)
seeds = [seed] if seed is not None and seeds is None else seeds
plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3})


def show_table(table, title):
    """One row per variant: gFID-N and KID as mean +- std over seeds (each seed listed), the decoder floor (the
    autoencoder's own reconstructions scored the same way) and the gFID above it, and the share of the latent
    variance the trained model leaves unrecovered next to the Gaussian prediction."""
    pm = lambda m, s, k=1.0: f"{k * m:.1f}" + (f" ± {k * s:.1f}" if s is not None else "")  # noqa: E731
    rows = [{"variant": e["label"], "gfid": pm(e["fid"]["mean"], e["fid"]["std"]),
             "seeds": ", ".join(f"{x:.1f}" for x in e["fid"]["values"]),
             "kid": pm(e["kid"]["mean"], e["kid"]["std"], 1e3), "floor": e["floor"]["fid"],
             "above": e["fid_above_floor"], "unrec_model": e["unrecovered_trained"],
             "unrec_gauss": e["unrecovered_predicted"], "high_band": e["high_band_share"]} for e in table.values()]
    columns = {"variant": "variant", "gfid": "gFID", "seeds": "per seed", "kid": "KID x1e3", "floor": "decoder floor",
               "above": "gFID above floor", "unrec_model": "unrecovered (model)",
               "unrec_gauss": "unrecovered (Gaussian)", "high_band": "high-band power"}
    return results.html_table(rows, columns, caption=title, digits=3)


def show_judgement(rows, title):
    """The declared comparisons as judged by smlib.stats: one row per pair."""
    columns = {"pair": "declared (better < worse)", "source": "source", "difference": "worse - better",
               "ci": "95% CI", "p": "p", "p_holm": "p (Holm)", "mdd": "min. detectable", "verdict": "verdict"}
    fmt = [{"pair": f"{r['better']} < {r['worse']}", "source": r["source"], "difference": r["difference"],
            "ci": f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]", "p": r["p"], "p_holm": r["p_holm"], "mdd": r["mdd"],
            "verdict": r["verdict"]} for r in rows]
    return results.html_table(fmt, columns, caption=title, digits=3)


# %% [markdown]
# ## 5.1 One recipe for every latent space
#
# Each autoencoder of chapter 4 (the lab's runs at the same preset, seed 0) encodes the training images once, with
# their horizontal flips, into a latent cache of posterior moments. Every training step draws a fresh posterior
# sample $z = \mu + \sigma\epsilon$ (what the decoder was trained to decode), scales it by one global $1/\mathrm{std}$
# measured on the cache (as the authors' released CelebA export does, flips included:
# `forever208/SpectrumMatching@115c70be:extract_VAE_latents.py`), and takes the loss of the formulation. Everything
# else is the same for all six latent spaces: the backbone (a DiT with adaLN-Zero blocks), the linear interpolant
# with velocity prediction (SiT), the Heun ODE sampler, the optimiser, the budget, the EMA, and the evaluation.
#
# **gFID-N** and **KID** compare Inception features (the TF-Inception pool3 weights of pytorch-fid) of $N$ decoded
# samples with those of the training images the autoencoders and the diffusion models saw. FID-N is biased upwards
# at small $N$ and only comparable at equal $N$; KID is unbiased, so it is printed beside it.
#
# A gFID mixes two things: how well the diffusion model learned the latent distribution, and how well the decoder
# turns latents into images. To separate them, each variant also gets a **decoder floor**: $N$ training images
# outside the reference set are encoded, one posterior sample each is decoded, and the reconstructions are scored
# exactly like the samples. A diffusion model that matched the latent distribution perfectly would score about the
# floor, so *gFID above the floor* is the diffusion model's share: the closest thing here to "diffusability" itself.
#
# Six of the seven autoencoders of chapter 4 are diffused. VA-VAE (the VF loss) is left out of this sweep: offline,
# its frozen encoder is an EfficientNet-Lite2 stand-in for the DINOv2 the method is defined with, and the small
# sweep was sized for six arms on this CPU. It joins the planned re-run, which also adds autoencoder seeds.

# %%
print(f"preset {preset!r}: {cfg.model['arch'].upper()} {cfg.model}, {cfg.formulation} formulation, "
      f"{cfg.sampler} sampler with {cfg.sample_steps} steps")
print(f"{cfg.steps} steps of batch {cfg.batch_size}, lr {cfg.lr}, EMA {cfg.ema_decay}, on {cfg.n_images} "
      f"{cfg.dataset} images at {cfg.resolution} px (+ flips); gFID-{cfg.n_fid} against {cfg.n_reference} "
      f"reference images every {cfg.eval_every or cfg.steps} steps; autoencoders from the lab's {cfg.ae_preset!r} runs")

# %% [markdown]
# ## 5.2 The live run
#
# At the notebook's preset (CI-sized by default: 512 images, a two-block DiT, 150 steps, 48 samples) every
# variant is diffused here, so the pipeline runs in front of you; the autoencoders are the lab's runs of chapter 4,
# reused from `runs/autoencoders/` when they are there. The numbers are rough by design; the book's table is §5.3.

# %%
live_path = results.runs_root() / "diffusability" / f"{preset}-notebook.json"
live = diff.run_sweep(cfg, variants, seeds, data_root=data_root, device=device, results_path=live_path)
show_table(live["table"], f"live run, preset {preset!r}, {next(iter(live['table'].values()))['fid_label']}")

# %% tags=["nbval-check-output"]
live_runs = live["runs"]
wiener_gap = max(abs(r["frequency_summary"]["unrecovered_wiener"] / r["frequency_summary"]["unrecovered_predicted"]
                     - 1) for r in live_runs)
print(f"the Wiener filter's measured error matches its closed form (within 20%) on every latent space: "
      f"{wiener_gap < 0.2}")
print(f"every trained model recovers part of the signal (unrecovered share < 1): "
      f"{all(r['frequency_summary']['unrecovered_trained'] < 1 for r in live_runs)}")

# %% [markdown]
# ## 5.3 The book's table (small preset)
#
# The `small` preset trains a DiT with four blocks of width 128 (patch 2 on the $8\times 8\times 4$ latents: 16
# tokens) for 3,000 steps of batch 64 on 10,000 CIFAR-10 training images and their flips,
# with two diffusion seeds per autoencoder; both seeds use the lab's seed-0 autoencoder, so the spread below is
# the diffusion model's alone. gFID uses 250 samples against 1,000 reference images: on 2 CPU cores Inception
# features are the slow part (§5.6 prints their throughput), and this is what fits. It was run once with the command
# printed below; its results are committed.
#
# **Which code produced these runs.** Every run of this sweep is marked "(uncommitted changes)" in the provenance
# printed below: the runs come from two commits (ed04397 and 5b57b5c, 2026-12-01), each with changes in the working
# tree that were never recorded. Until stop 17 a results file rewritten by the same sweep also counted as such a
# change (the sweep rewrites its own file after every run), so this may be the whole of it, but it cannot be
# verified now. The numbers are kept because the sweep takes hours on this CPU; the planned re-run with more power
# replaces them from a clean commit.

# %%
book_path = Path(book_results) if book_results else results.result_path("diffusability", "small")
book = results.read_result(book_path)
if book is None:
    print(f"no committed results at {book_path}: run `python -m smlib diffusion --preset small --results {book_path}`")
else:
    print(results.provenance_lines(book, runs=book["runs"]))
    print(f"sweep wall time {book['sweep_wall_time_s'] / 60:.0f} min for {len(book['runs'])} runs "
          f"({len(book['variants_planned'])} variants x seeds {book['seeds_planned']})")
    table, runs = book["table"], book["runs"]
    print(f"DiT {runs[0]['model']}: {runs[0]['num_params'] / 1e6:.2f}M parameters, {runs[0]['steps']} steps")
    ae_book = results.load_result("autoencoders", "small")
    print("the autoencoders' own reconstruction rFID-500 (chapter 4): "
          + ", ".join(f"{v} {ae_book['runs'][v]['metrics']['rfid']:.1f}" for v in table))

# %%
if book is not None:
    display(show_table(table, f"small preset, {next(iter(table.values()))['fid_label']}, mean ± std over seeds"))

# %% [markdown]
# Generation quality against training steps (each seed a thin line, the mean thick, each decoder floor dotted),
# and the training loss:

# %% tags=["hide-input"]
if book is not None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for i, v in enumerate(table):
        color = f"C{i}"
        for ax, key in zip(axes[:2], ("eval/fid", "eval/kid")):
            steps_, mean, per_seed = report.mean_curve(runs, v, key)
            ax.plot(steps_, mean, "o-", color=color, lw=2, ms=4, label=table[v]["label"])
            for row in per_seed:
                ax.plot(steps_, row, color=color, lw=0.6, alpha=0.5)
        axes[0].axhline(table[v]["floor"]["fid"], color=color, ls=":", lw=1)   # the decoder floor
        steps_, mean, _ = report.mean_curve(runs, v, "loss")
        axes[2].plot(steps_, mean, color=color, lw=1, label=table[v]["label"])
    axes[0].set(xlabel="training step", ylabel=next(iter(table.values()))["fid_label"], title="gFID")
    axes[1].set(xlabel="training step", ylabel="KID", title="KID")
    axes[2].set(xlabel="training step", ylabel="loss (velocity MSE, normalised latents)", title="training loss",
                yscale="log")
    axes[1].legend(fontsize=7, loc="upper right")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# Samples of the final EMA model of seed 0, decoded by each variant's decoder (the same initial noise for every
# variant):

# %% tags=["hide-input"]
if book is not None:
    grids = results.read_grids(book_path)
    names = list(table)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 0.62 * len(names) + 0.3))
    for ax, v in zip(axes, names):
        imgs = grids[f"{v}/seed0"]                              # (16, 3, 32, 32) uint8
        ax.imshow(np.concatenate(list(imgs.transpose(0, 2, 3, 1)), axis=1))
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(table[v]["label"], fontsize=7, rotation=0, ha="right", va="center")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## 5.4 The paper's ordering, pair by pair
#
# Which pairs are compared, and in which direction, is fixed in `smlib.experiments.diffusability.report.DECLARED`,
# each pair with where its expected order comes from: the abstract (ESM-AE and DSM-AE generate better than the
# SD-VAE baseline), the paper's prose (§3.4: DSM "outperforms Scale Equivariance in terms of generation quality",
# with its §4.1, which we could not read, as the evidence), or our own inference (Scale Equivariance, a special
# case, better than SD-VAE but not than ESM-AE; any helpful regularizer better than none). The seven pairs are one
# family. Each is tested by `smlib.stats.judge`: a
# two-sided $t$-test of the difference of seed means, with the variance pooled over the seeds of *all six* arms
# (so the test has $\sum_i (n_i - 1)$ degrees of freedom, not the one or two of a single pair), then Holm's
# correction over the seven. The table gives the difference with its 95% interval and the **minimum detectable
# difference**: the true gap this test would find four times in five at the seeds run. A pair is *resolved* when its
# Holm-corrected $p$ is below 0.05; otherwise it is *unresolved*, whatever its sign. KID and the gFID above the
# decoder floor are read the same way, as secondary families.

# %%
if book is not None:
    judged = {name: report.judge_sweep(table, key, above_floor=above)
              for name, key, above in (("gFID", "fid", False), ("KID", "kid", False),
                                       ("gFID above floor", "fid", True))}
    display(show_judgement(judged["gFID"], "declared comparisons, final gFID-250 (primary family)"))
    display(show_judgement(judged["gFID above floor"], "the same pairs, gFID above the decoder floor (secondary)"))

# %% tags=["nbval-check-output"]
if book is not None:
    print("ranking by mean gFID (best first): " + " < ".join(report.ranking(table)))
    sd, df = stats.pooled_std({v: report.seed_values(table, v) for v in table})
    print(f"pooled seed std of gFID {sd:.2f} on {df} degrees of freedom; minimum detectable difference at "
          f"2 seeds per arm: {judged['gFID'][0]['mdd']:.1f} FID points")
    for name, rows in judged.items():
        counts = {v: sum(r["verdict"] == v for r in rows) for v in ("holds", "reversed", "unresolved")}
        print(f"{name}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        for r in rows:
            if r["verdict"] != "unresolved":
                print(f"  {r['better']} < {r['worse']} ({r['source']}): {r['verdict']}, difference "
                      f"{r['difference']:.1f}, p_holm {r['p_holm']:.3f}")
    smallest = min(r["p"] for r in judged["gFID"])
    print(f"smallest raw p among the declared gFID pairs: {smallest:.3f}")

# %% [markdown]
# ## 5.5 Per-frequency error, and Proposition 3.1
#
# Proposition 3.1, as reconstructed in chapter 1 (the paper's formula is missing from the prose we read), says an
# MSE-trained denoiser of a Gaussian signal recovers each frequency in proportion to its
# signal-to-noise ratio: the error it leaves at frequency $f$ and noise level $t$ is
# $S(f) / (1 + \alpha_t^2 S(f) / \sigma_t^2)$. On a power-law spectrum the low frequencies carry most of the
# variance and are recovered first; a flat (over-whitened) latent spreads its variance into bands the model
# cannot recover until late. For each trained model we measure the error of its $\hat x_0$ per frequency ring on
# 512 held-out latents and divide by the signal power of that ring; the dashed lines are the Gaussian prediction
# from each latent space's own spectrum. The latent grid is $8\times 8$, so there are four rings.

# %% tags=["hide-input"]
if book is not None:
    first = {v: next(r for r in runs if r["variant"] == v and r["seed"] == 0) for v in table}
    ts = first[names[0]]["frequency"]["ts"]
    show_ts = [t for t in ts if t in (0.3, 0.5, 0.7)]
    fig, axes = plt.subplots(1, len(show_ts) + 1, figsize=(4 * (len(show_ts) + 1), 3.6))
    for i, v in enumerate(table):
        fe = FrequencyErrors.from_dict(first[v]["frequency"])
        for ax, t in zip(axes, show_ts):
            j = list(fe.ts).index(t)
            ax.plot(fe.freqs, fe.trained[j] / fe.signal, "o-", color=f"C{i}", ms=3, label=table[v]["label"])
            ax.plot(fe.freqs, fe.predicted[j] / fe.signal, "--", color=f"C{i}", lw=0.8)
            ax.set(title=f"t = {t}", xlabel="cycles per latent pixel", ylabel="error / signal power", ylim=(0, 1.05))
        axes[-1].semilogy(fe.freqs, fe.signal, "o-", color=f"C{i}", ms=3, label=table[v]["label"])
    axes[-1].set(title="latent PSD (normalised latents)", xlabel="cycles per latent pixel", ylabel="power")
    axes[0].legend(fontsize=6)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# If the spectral reading of diffusability is right, the latent spaces whose variance the Gaussian model predicts
# to be hardest to recover (the larger t-averaged unrecovered share) should generate worst. The rank correlations
# over the six variants (Spearman; six points, so only a large value means much):

# %% tags=["nbval-check-output"]
if book is not None:
    fid_means = [table[v]["fid"]["mean"] for v in table]
    for key, text in (("unrecovered_predicted", "Gaussian-predicted unrecovered share"),
                      ("unrecovered_trained", "measured unrecovered share of the trained model"),
                      ("high_band_share", "share of latent power above half Nyquist")):
        rho = report.rank_correlation([table[v][key] for v in table], fid_means)
        print(f"rank correlation of gFID with the {text}: {rho:+.2f}")
    ratio = {v: table[v]["unrecovered_trained"] / table[v]["unrecovered_predicted"] for v in table}
    print("trained / Gaussian unrecovered share: " + ", ".join(f"{v} {x:.2f}" for v, x in ratio.items()))

# %% [markdown]
# ## 5.6 What a run costs
#
# `benchmarks/bench_diffusion_throughput.py` times, in one interleaved run, a training step of the library's
# pipeline (posterior sample, normalisation, formulation, AdamW, EMA, clipping) against a bare loop of the same
# step, the library's Heun sampler against a bare Heun loop, and the library's Inception features (resize and
# scaling included; on a CPU it runs the network under ONNX Runtime, see the Performance page) against a bare
# call of the shipped TorchScript network on pre-resized images:

# %%
bench_path = Path(bench_results) if bench_results else results.result_path("benchmarks", "diffusion_throughput")
bench = results.read_result(bench_path)
if bench is not None:
    print(results.provenance_lines(bench) + f", {bench['threads']} threads")
    for name, row in bench["results"].items():
        print(f"{name:34s} {row['items_per_s']:9.1f} {row['unit']}/s  x{row['ratio_to_reference']:.2f} of the bare "
              f"reference")
else:
    print(f"no benchmark results at {bench_path}: run `make bench`")

# %% [markdown]
# ## Verdict
#
# Read against the printed facts of §5.3 to §5.5 (small preset: CIFAR-10 at 32 px, $8\times 8\times 4$ latents, the
# small DiT of §5.3 (its parameter count is printed there) for 3,000 steps, gFID-250, two diffusion seeds on one
# autoencoder per variant), with every comparison judged by `smlib.stats` over the seven pairs declared in §5.4:
#
# - **The paper's ordering in gFID: not resolved at two seeds.** None of the seven declared pairs survives Holm's
#   correction (§5.4 prints the counts). The pair the abstract is most directly about, ESM-AE < SD-VAE, has the
#   largest gap and the smallest raw $p$ of the seven, but not below 0.05 after the correction; the pair Scale
#   Equivariance < SD-VAE comes next (both $p$s are in §5.4's table). With the pooled seed spread of this sweep, the
#   smallest gap two seeds per arm would detect four times in five (printed in §5.4) is larger than most of the gaps
#   measured. So the sweep neither confirms nor refutes the ordering: it is too small to decide. The plain
#   autoencoder, with no regularizer, sits as close to ESM-AE as any arm, which is worth keeping in mind when the
#   sweep is re-run with more power. KID resolves none of the pairs either.
# - **Above the decoder floor the reading changes, and some of it is resolved.** Subtracting each variant's decoder
#   floor (its reconstructions scored like samples), DSM-AE < SD-VAE, DSM-AE < Scale Equivariance and DSM-AE < plain
#   hold after Holm, while ESM-AE < SD-VAE and ESM-AE < Scale Equivariance come out *reversed*. Read this way, DSM's
#   latents are the easiest to diffuse and ESM's advantage in raw gFID is its decoder's. Two cautions keep this a
#   secondary reading: the floor is one 250-sample estimate per variant whose own noise is not in the pooled variance
#   (so these tests are optimistic), and FID is not additive, so "above the floor" is a heuristic split, not a
#   decomposition. This family was not the declared primary one.
# - **What would decide it.** More diffusion seeds, autoencoder seeds (here every seed shares one autoencoder, so
#   the autoencoder's own training variance is not in the spread at all), more samples per FID and a longer budget;
#   the chapter's re-run is planned with all of them.
# - **Proposition 3.1 on latents.** The trained models leave most of their error at high latent frequencies, as
#   the Gaussian theory says, and stay below the per-channel Gaussian (Wiener) prediction, since real latents are
#   not Gaussian. SD-VAE's over-whitened latent puts far more of its power above half Nyquist than ESM-AE or DSM-AE.
#   But the t-averaged share of variance the Gaussian model predicts to stay unrecovered is nearly the same for
#   every latent space once they are normalised, and it does not rank the gFIDs; the measured share of the trained
#   models does so only moderately (six points). At this scale the spectral account does not predict which
#   latent space generates best.
# - **Not tested here:** the datasets and resolutions of the released code (CelebA-HQ and ImageNet at 256 px,
#   per its README), the diffusion code bases that README names (U-ViT for CelebA, REPA's SiT for ImageNet), their
#   budgets, guidance, and FID-50k. The `paper` preset holds our reading of them; the paper's own diffusion protocol
#   was not read ({doc}`../book/reproduce`).
