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
# This chapter trains one latent diffusion recipe on the latents of every autoencoder of chapter 4, three
# autoencoders (seeds) per variant, scores the samples with gFID and KID against the decoder's own floor, judges the
# declared pairs with `smlib.stats` at the final step and at every step the curves logged, and measures the
# per-frequency error of each trained model against the Gaussian predictions of Proposition 3.1.

# %% tags=["parameters", "hide-cell"]
preset = "ci"            # "ci" (minutes on 2 CPU cores), "small" (the book's table), "paper" (torchrun, GPUs)
dataset = None           # None: the preset's (CIFAR-10 at 32 px for ci/small)
data_root = None         # None: $SMLIB_DATA, then ~/.cache/smlib/data
device = "auto"
variants = None          # None: the preset's (ci: all but VA-VAE); or a list such as ["sd-vae", "esm", "dsm"]
seed = None              # one diffusion seed (the same as seeds=[seed]); None: use `seeds`
seeds = None             # None: the preset's diffusion seeds
steps = None             # override the preset's diffusion training steps
book_preset = "small"    # the committed sweep read in §5.3-5.5: results/diffusability/<book_preset>/
book_results_dir = None  # None: the repository's results/ (a folder holding diffusability/<book_preset>/*.json)
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


# %% [markdown]
# ## 5.1 One recipe for every latent space
#
# Each autoencoder of chapter 4 (a lab run at the same preset and seed) encodes the training images once, with
# their horizontal flips, into a latent cache of posterior moments. Every training step draws a fresh posterior
# sample $z = \mu + \sigma\epsilon$ (what the decoder was trained to decode), scales it by one global $1/\mathrm{std}$
# measured on the cache (as the authors' released CelebA export does, flips included:
# `forever208/SpectrumMatching@115c70be:extract_VAE_latents.py`), and takes the loss of the formulation. Everything
# else is the same for every latent space: the backbone (a DiT with adaLN-Zero blocks), the linear interpolant
# with velocity prediction (SiT), the Heun ODE sampler, the optimiser, the budget, the EMA, and the evaluation.
#
# **gFID-N** and **KID** compare Inception features (the TF-Inception pool3 weights of pytorch-fid) of $N$ decoded
# samples with those of the training images the autoencoders and the diffusion models saw. FID-N is biased upwards
# at small $N$ and only comparable at equal $N$; KID is unbiased, so it is printed beside it.
#
# A gFID mixes two things: how well the diffusion model learned the latent distribution, and how well the decoder
# turns latents into images. To separate them, each autoencoder also gets a **decoder floor**: $N$ training images
# outside the reference set are encoded, one posterior sample each is decoded, and the reconstructions are scored
# exactly like the samples. A diffusion model that matched the latent distribution perfectly would score about the
# floor, so *gFID above the floor* is the diffusion model's share: the closest thing here to "diffusability" itself.
#
# All seven autoencoders of chapter 4 are diffused in the book's sweep. VA-VAE's frozen encoder is, offline, an
# EfficientNet-Lite2 stand-in for the DINOv2 the method is defined with (chapter 4, §4.1), so its arm tests the VF
# loss with another teacher. The live run of §5.2 leaves VA-VAE out: at the `ci` preset its frozen encoder would
# double the cells' time.

# %%
print(f"preset {preset!r}: {cfg.model['arch'].upper()} {cfg.model}, {cfg.formulation} formulation, "
      f"{cfg.sampler} sampler with {cfg.sample_steps} steps")
print(f"{cfg.steps} steps of batch {cfg.batch_size}, lr {cfg.lr}, EMA {cfg.ema_decay}, on {cfg.n_images} "
      f"{cfg.dataset} images at {cfg.resolution} px (+ flips); gFID-{cfg.n_fid} against {cfg.n_reference} "
      f"reference images every {cfg.eval_every or cfg.steps} steps; autoencoders from the lab's {cfg.ae_preset!r} runs")

# %% [markdown]
# ## 5.2 The live run
#
# At the notebook's preset (CI-sized by default: 512 images, a two-block DiT, 150 steps, 48 samples) six
# variants are diffused here, one autoencoder each, so the pipeline runs in front of you; the autoencoders are the lab's runs of chapter 4,
# reused from `runs/autoencoders/` when they are there. The numbers are rough by design; the book's table is §5.3.

# %%
live_path = results.runs_root() / "diffusability" / f"{preset}-notebook.json"
live = diff.run_sweep(cfg, variants, seeds, data_root=data_root, device=device, results_path=live_path)
results.html_table(report.table_rows(live["table"]), {**report.TABLE_COLUMNS, "per_ae": "per seed"}, digits=3,
                   caption=f"live run, preset {preset!r}, {next(iter(live['table'].values()))['fid_label']}")

# %% tags=["nbval-check-output"]
live_runs = live["runs"]
wiener_gap = max(abs(r["frequency_summary"]["unrecovered_wiener"] / r["frequency_summary"]["unrecovered_predicted"]
                     - 1) for r in live_runs)
print(f"the Wiener filter's measured error matches its closed form (within 20%) on every latent space: "
      f"{wiener_gap < 0.2}")
print(f"every trained model recovers part of the signal (unrecovered share < 1): "
      f"{all(r['frequency_summary']['unrecovered_trained'] < 1 for r in live_runs)}")

# %% [markdown]
# ## 5.3 The book's sweep (small preset)
#
# The `small` preset trains a DiT with four blocks of width 128 (patch 2 on the $8\times 8\times 4$ latents: 16
# tokens) for 3,000 steps of batch 64 on 10,000 CIFAR-10 training images and their flips. Each of the seven
# variants has **three autoencoders** (chapter 4's lab, seeds 0, 1 and 2) and one diffusion run on each, so the
# spread between a variant's three values holds both the autoencoder's training variance and the diffusion model's.
# The unit of replication is the autoencoder: a variant contributes three values to every test.
#
# - **gFID-1000** at the final step: 1,000 samples of the EMA model against 1,000 reference images; the curve logs
#   gFID-250 every 1,000 steps (labelled so: FID-N is biased upwards at small N, so the curve and the final value
#   are not comparable). **One run's bootstrap std** resamples that run's 1,000 sample features 50 times: the
#   sampling part of a value's noise. (A percentile interval of those resamples is not shown: resampling with
#   replacement duplicates feature rows, which raises FID, so the resampled values sit above the estimate itself.)
# - **KID** uses every reference image: the reference set is cut into disjoint blocks of 250, each scored against
#   all 1,000 samples with the unbiased MMD².
# - **The decoder floor** of each autoencoder: 1,000 training images outside the reference set, encoded, one
#   posterior sample decoded, scored like the samples (with its own bootstrap std). *gFID above the floor* takes
#   each autoencoder's own floor.
#
# Each run is its own file, `results/diffusability/small/<variant>-ae<k>-seed<j>.json`, written as it finished
# with its provenance, and all were run with the command printed below from one commit without uncommitted
# changes. Running that command again skips what is committed, so the sweep was run in sittings; a run's mean
# cost on this CPU is printed below (the reproduce page, {doc}`../book/reproduce`, has how the sittings were sized).

# %%
book_cfg = diff.DiffusabilityConfig.at(book_preset)
book = diff.load_shards(book_preset, book_cfg, results_dir=book_results_dir)
table, runs = book["table"], book["runs"]
if book["missing"]:
    print(f"{len(book['missing'])} planned runs are not committed yet: {', '.join(book['missing'])}; run "
          f"`python -m smlib diffusion --preset {book_preset} --variant all --ae-seeds "
          f"{' '.join(map(str, book_cfg.ae_seeds))} --seeds {' '.join(map(str, book_cfg.seeds))}` "
          f"(committed runs are skipped)")
if runs:
    print(results.provenance_lines(runs[0], runs=runs,
                                   label=lambda r: f"{r['variant']} ae{r['ae_seed']} seed {r['seed']}"))
    print(f"{len(runs)} runs: {len(table)} variants x autoencoder seeds {book_cfg.ae_seeds} x diffusion seeds "
          f"{book_cfg.seeds}; DiT {runs[0]['model']}: {runs[0]['num_params'] / 1e6:.2f}M parameters, "
          f"{runs[0]['steps']} steps")
    cost = {k: np.mean([r[k] for r in runs]) / 60 for k in ("wall_time_s", "prep_time_s", "train_wall_time_s")}
    print(f"one run, mean over the {len(runs)}: {cost['wall_time_s']:.1f} min = {cost['prep_time_s']:.1f} preparing "
          f"(the autoencoder trained and scored, the latent cache) + {cost['train_wall_time_s']:.1f} diffusion "
          f"training + {cost['wall_time_s'] - cost['prep_time_s'] - cost['train_wall_time_s']:.1f} evaluation; the "
          f"decoder floor {np.mean([r['floor']['wall_time_s'] for r in runs]) / 60:.1f} min more")
    fid_label = next(iter(table.values()))["fid_label"]
    display(results.html_table(report.table_rows(table), report.TABLE_COLUMNS, digits=3,
                               caption=f"{book_preset} preset, final {fid_label}, mean ± std over autoencoders "
                                       f"(floor at the same N)"))

# %% [markdown]
# Generation quality against training steps (each autoencoder a thin line, the mean thick, each variant's mean
# decoder floor dotted; the curve is gFID-250, the floor is at N = 1,000, so the two are not on one scale), and
# the training loss:

# %% tags=["hide-input"]
if runs:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for i, v in enumerate(table):
        color = f"C{i}"
        for ax, key in zip(axes[:2], ("eval/fid", "eval/kid")):
            steps_, mean, per_ae = report.mean_curve(runs, v, key)
            ax.plot(steps_, mean, "o-", color=color, lw=2, ms=4, label=table[v]["label"])
            for row in per_ae:
                ax.plot(steps_, row, color=color, lw=0.6, alpha=0.5)
        axes[1].axhline(table[v]["floor"]["kid"], color=color, ls=":", lw=1)   # KID is unbiased: one scale
        steps_, mean, _ = report.mean_curve(runs, v, "loss")
        axes[2].plot(steps_, mean, color=color, lw=1, label=table[v]["label"])
    axes[0].set(xlabel="training step", ylabel="FID-250", title="gFID (curve: 250 samples)")
    axes[1].set(xlabel="training step", ylabel="KID", title="KID (dotted: decoder floors)")
    axes[2].set(xlabel="training step", ylabel="loss (velocity MSE, normalised latents)", title="training loss",
                yscale="log")
    axes[1].legend(fontsize=7, loc="upper right")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# Samples of the final EMA model trained on each variant's seed-0 autoencoder, decoded by that autoencoder (the
# sampler's initial noise is seeded by the diffusion seed alone, so every row starts from the same noise):

# %% tags=["hide-input"]
if runs:
    first = {v: next(r for r in runs if r["variant"] == v and int(r["ae_seed"]) == 0 and int(r["seed"]) == 0)
             for v in table}
    fig, axes = plt.subplots(len(first), 1, figsize=(6, 0.75 * len(first) + 0.3))
    for ax, (v, r) in zip(axes, first.items()):
        imgs = results.unpack_uint8(r["samples"])                # (8, 3, 32, 32) uint8
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
# case, better than SD-VAE but not than ESM-AE; any helpful regularizer better than none). These seven pairs were
# declared before the first sweep and are the **primary family**. A second family, `DECLARED_BASELINES`, was
# declared before any run of this sweep's EQ-VAE or VA-VAE arm: the two baselines the paper unifies, each better
# than SD-VAE (our inference from their own papers).
#
# Each pair is tested by `smlib.stats.judge`: a two-sided $t$-test of the difference of the variants' means over
# their autoencoders, with the variance pooled over *all seven* variants (so $7 \times (3 - 1) = 14$ degrees of
# freedom), then Holm's correction within the family. The table gives the difference with its 95% interval and
# the **minimum detectable difference**: the true gap this test would find four times in five at three
# autoencoders per arm. A pair is *resolved* when its Holm-corrected $p$ is below 0.05; otherwise it is
# *unresolved*, whatever its sign. KID and the gFID above the decoder floor are read the same way, as secondary
# families.

# %%
if runs:
    judged = {name: report.judge_sweep(table, key, above_floor=above)
              for name, key, above in (("gFID", "fid", False), ("KID", "kid", False),
                                       ("gFID above floor", "fid", True))}
    judged["baselines, gFID"] = report.judge_sweep(table, "fid", comparisons=report.DECLARED_BASELINES)
    display(results.judgement_table(judged["gFID"], f"declared comparisons, final {fid_label} (primary family)"))
    display(results.judgement_table(judged["gFID above floor"], "the same pairs, gFID above each autoencoder's "
                                                                "decoder floor (secondary)"))
    display(results.judgement_table(judged["baselines, gFID"], f"the unified baselines against SD-VAE, final "
                                                               f"{fid_label} (secondary family)"))

# %% tags=["nbval-check-output"]
if runs:
    print(f"ranking by mean {fid_label} (best first): " + " < ".join(report.ranking(table)))
    sd, df = stats.pooled_std({v: report.seed_values(table, v) for v in table})
    boot = np.mean([e["fid_boot_std"] for e in table.values()])
    print(f"pooled std of {fid_label} over autoencoders {sd:.2f} on {df} degrees of freedom (one run's bootstrap "
          f"std, the sampling part of it: {boot:.2f}); minimum detectable difference at "
          f"{len(book_cfg.ae_seeds)} autoencoders per arm: {judged['gFID'][0]['mdd']:.1f} FID points")
    for name, rows in judged.items():
        counts = {v: sum(r["verdict"] == v for r in rows) for v in ("holds", "reversed", "unresolved")}
        print(f"{name}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        for r in rows:
            if r["verdict"] != "unresolved":
                print(f"  {r['better']} < {r['worse']} ({r['source']}): {r['verdict']}, difference "
                      f"{r['difference']:.1f}, p_holm {r['p_holm']:.3f}")
    gaps = sorted(abs(r["difference"]) for r in judged["gFID"])
    print(f"observed |gaps| of the primary pairs: {', '.join(f'{g:.1f}' for g in gaps)}; autoencoders per arm "
          f"needed to detect the median one four times in five: {stats.seeds_needed(gaps[len(gaps) // 2], sd)}")

# %% [markdown]
# **Does the order depend on the budget?** The curves log gFID-250 every 1,000 steps. At each logged step the same
# seven pairs are judged again (each step its own Holm family, the same pooled test), and the variants are ranked
# by their mean. A pair whose observed difference changes sign between steps is one whose answer depends on how
# long the models were trained.

# %%
if runs:
    by_step = report.judge_by_step(runs)
    rows = [{"step": step, "order": " < ".join(by_step["order"][step]),
             **{f"{r['better']} < {r['worse']}": f"{r['difference']:+.1f} ({r['verdict']})"
                for r in by_step["rows"][step]}} for step in by_step["steps"]]
    display(results.html_table(rows, caption="declared pairs at every logged step: worse - better in FID-250 "
                                              "(verdict after Holm at that step)"))

# %% tags=["nbval-check-output"]
if runs:
    for step in by_step["steps"]:
        resolved = [f"{r['better']} < {r['worse']} {r['verdict']}" for r in by_step["rows"][step]
                    if r["verdict"] != "unresolved"]
        print(f"step {step}: best {by_step['order'][step][0]}, worst {by_step['order'][step][-1]}; resolved: "
              f"{', '.join(resolved) or 'none'}")
    print(f"pairs whose observed sign changes with the budget: {', '.join(by_step['sign_changes']) or 'none'}")

# %% [markdown]
# ## 5.5 Per-frequency error, and Proposition 3.1
#
# Proposition 3.1, as reconstructed in chapter 1 (the paper's formula is missing from the prose we read), says an
# MSE-trained denoiser of a Gaussian signal recovers each frequency in proportion to its signal-to-noise ratio:
# the error it leaves at frequency $f$ and noise level $t$ is $S(f) / (1 + \alpha_t^2 S(f) / \sigma_t^2)$. On a
# power-law spectrum the low frequencies carry most of the variance and are recovered first; a flat
# (over-whitened) latent spreads its variance into bands the model cannot recover until late.
#
# A latent has four channels, and they are correlated. Two Gaussian references are computed from the training
# latents' spectra:
#
# - **per-channel**: each channel filtered by its own PSD, $S_c(f) / (1 + \alpha_t^2 S_c(f) / \sigma_t^2)$, as if the
#   channels were independent;
# - **multichannel**: the $4\times 4$ cross-spectral matrix $\mathbf S(f)$ at every frequency, and the error of the
#   matrix Wiener filter, $\operatorname{tr}\,[\mathbf S^{-1} + (\alpha_t^2/\sigma_t^2) I]^{-1}$ per frequency
#   (`smlib.theory.wiener_denoise_multichannel`). This is the minimum error of any linear shift-invariant denoiser
#   on latents with these second-order statistics, and the exact MMSE if the latents were Gaussian (stationary on
#   the periodic grid): the right linear reference. The per-channel filter ignores what one channel says about
#   another, so it can only do worse.
#
# For each trained model we measure the error of its $\hat x_0$ per frequency ring on 512 held-out latents and
# divide by the signal power of that ring. The latent grid is $8\times 8$, so there are four rings. Below: the
# seed-0 autoencoder of each variant, its model (solid), the per-channel (dashed) and multichannel (dotted)
# Gaussian predictions.

# %% tags=["hide-input"]
if runs:
    ts = first[next(iter(first))]["frequency"]["ts"]
    show_ts = [t for t in ts if t in (0.3, 0.5, 0.7)]
    fig, axes = plt.subplots(1, len(show_ts) + 1, figsize=(4 * (len(show_ts) + 1), 3.6))
    for i, (v, r) in enumerate(first.items()):
        fe = FrequencyErrors.from_dict(r["frequency"])
        for ax, t in zip(axes, show_ts):
            j = list(fe.ts).index(t)
            ax.plot(fe.freqs, fe.trained[j] / fe.signal, "o-", color=f"C{i}", ms=3, label=table[v]["label"])
            ax.plot(fe.freqs, fe.predicted[j] / fe.signal, "--", color=f"C{i}", lw=0.8)
            ax.plot(fe.freqs, fe.predicted_mc[j] / fe.signal, ":", color=f"C{i}", lw=1.2)
            ax.set(title=f"t = {t}", xlabel="cycles per latent pixel", ylabel="error / signal power", ylim=(0, 1.05))
        axes[-1].semilogy(fe.freqs, fe.signal, "o-", color=f"C{i}", ms=3, label=table[v]["label"])
    axes[-1].set(title="latent PSD (normalised latents)", xlabel="cycles per latent pixel", ylabel="power")
    axes[0].legend(fontsize=6)
    plt.tight_layout()
    plt.show()

# %% tags=["nbval-check-output"]
if runs:
    mc_gain = {v: 1 - e["unrecovered_predicted_mc"] / e["unrecovered_predicted"] for v, e in table.items()}
    print("the multichannel Gaussian leaves less unrecovered than the per-channel one on every latent space: "
          f"{all(g > 0 for g in mc_gain.values())} (" + ", ".join(f"{v} -{100 * g:.1f}%" for v, g in mc_gain.items())
          + ")")
    ratio = {v: e["unrecovered_trained"] / e["unrecovered_predicted_mc"] for v, e in table.items()}
    print("trained / multichannel-Gaussian unrecovered share (below 1: the model beats the best linear denoiser): "
          + ", ".join(f"{v} {x:.2f}" for v, x in ratio.items()))

# %% [markdown]
# If the spectral reading of diffusability is right, the latent spaces whose variance the Gaussian model predicts
# to be hardest to recover (the larger t-averaged unrecovered share) should generate worst. The rank correlations
# over the seven variants (Spearman on the variants' means; seven points, so only a large value means much):

# %% tags=["nbval-check-output"]
if runs:
    fid_means = [table[v]["fid"]["mean"] for v in table]
    above_means = [table[v]["fid_above_floor"] for v in table]
    for key, text in (("unrecovered_predicted_mc", "multichannel-Gaussian unrecovered share"),
                      ("unrecovered_predicted", "per-channel-Gaussian unrecovered share"),
                      ("unrecovered_trained", "measured unrecovered share of the trained model"),
                      ("high_band_share", "share of latent power above half Nyquist")):
        x = [table[v][key] for v in table]
        print(f"rank correlation with the {text}: gFID {report.rank_correlation(x, fid_means):+.2f}, "
              f"gFID above floor {report.rank_correlation(x, above_means):+.2f}")

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
# small DiT of §5.3 for 3,000 steps, gFID-1000 at the end, three autoencoders per variant with one diffusion run
# each, all 21 runs at one commit without uncommitted changes), with every comparison judged by `smlib.stats` over
# the pairs declared in §5.4:
#
# - **The paper's ordering in gFID: unresolved, and the means do not lean its way.** None of the seven declared
#   pairs survives Holm's correction (§5.4 prints the counts and every $p$); KID resolves none either. SD-VAE has
#   the lowest mean gFID of the seven variants, the plain AE and ESM-AE are within a few points of it, and DSM-AE,
#   whose three autoencoders spread the most, is worse than SD-VAE and the plain AE by the two largest gaps of the
#   family (raw $p$ below 0.05, not after the correction). The sweep does not reproduce the abstract's ordering, and
#   it cannot refute it: the minimum detectable difference printed in §5.4 is larger than every observed gap.
# - **Where the spread comes from.** One run's bootstrap std (the sampling noise of one gFID-1000) is a small part
#   of the spread between a variant's autoencoders: the autoencoder's own training variance dominates. The first
#   sweep (two diffusion seeds on one autoencoder, gFID-250) could not see it. More samples per FID would not help;
#   more autoencoders would, and §5.4 prints how many the median observed gap would need per arm: several times this
#   sweep, beyond what this CPU runs in a session.
# - **The budget changes the order.** The same pairs are unresolved at every logged step, but the observed sign of
#   ESM-AE against SD-VAE and against Scale Equivariance flips between steps, and the best variant by the gFID-250
#   curve changes between the first and the later steps (§5.4's step table names them). At this budget the ranking
#   of the close variants is not stable.
# - **Above the decoder floor, one pair resolves.** With each autoencoder's own floor subtracted (the floor's noise
#   is inside the spread), DSM-AE < plain *holds*: DSM's decoder costs it its raw gFID, and its diffusion model
#   sits closest to its floor of all variants. DSM-AE < SD-VAE points the same way, unresolved. ESM-AE's advantage,
#   on the other hand, is its decoder's: ESM-AE sits further above its floor than SD-VAE (in the direction opposite
#   to the declared one, unresolved after Holm). FID is not additive, so this is a heuristic split and a secondary
#   family, and it is the one reading in which a spectrum-matching autoencoder is resolved as easier to diffuse.
# - **The unified baselines.** EQ-VAE < SD-VAE is *reversed*: trained from scratch here (its paper fine-tunes a
#   pretrained SD-VAE), EQ-VAE generates worst of all, far beyond the minimum detectable difference, and its
#   decoder floor is the worst too, so its decoder carries much of it. VA-VAE (with its stand-in teacher) against
#   SD-VAE is unresolved.
# - **Proposition 3.1 on latents.** The multichannel Gaussian (Wiener) filter, the best linear shift-invariant
#   denoiser for these spectra, leaves less unrecovered than the per-channel one on every latent space (the
#   channels are correlated), and every trained model beats it (the latents are not Gaussian). SD-VAE's
#   over-whitened latent puts far more power above half Nyquist than any other. But no spectral summary ranks the
#   variants: the rank correlations printed in §5.5 are moderate at best over seven points, for the raw gFID and for
#   the gap above the floor. At this scale the spectral account does not predict which latent space generates best.
# - **Not tested here:** the datasets and resolutions of the released code (CelebA-HQ and ImageNet at 256 px,
#   per its README), the diffusion code bases that README names (U-ViT for CelebA, REPA's SiT for ImageNet), their
#   budgets, guidance and FID-50k, and autoencoders trained with LPIPS and a GAN. The `paper` preset holds our
#   reading of them; the paper's own diffusion protocol was not read ({doc}`../book/reproduce`).
