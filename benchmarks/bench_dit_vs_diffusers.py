"""smlib's DiT/SiT against diffusers' ``DiTTransformer2DModel`` of the same architecture: a training step and a
sampling loop on the same inputs, and how a training step grows with the token count.

* **Same architecture.** Both models get the preset's depth, width, heads, patch size, latent channels and class
  conditioning; both predict C channels (the preset's SiT has ``learn_sigma=False``, so diffusers' DiT is given
  ``out_channels=C``), and diffusers' ``norm_eps`` is set to DiT's 1e-6. diffusers' DiT needs class labels, so both
  models are class-conditional (10 classes at ``small``, whose preset is unconditional: the label embedding is one
  table lookup; 1000 at ``paper``, as its preset). The parameter counts differ by design: diffusers' adaLN-Zero
  norm (diffusers 0.42.1, ``models/normalization.py:AdaLayerNormZero``) holds its own timestep MLP and label table in
  every block, where DiT (facebookresearch/DiT@ed81ce2:models.py) and smlib compute c once, so diffusers has
  (depth - 1) x (256 D + D + D^2 + D + (K + 1) D) more; the JSON checks this. With smlib's weights copied into
  diffusers' model (its one embedder into every block) the two compute the same function (max |difference| in the
  JSON; 0.0 on our CPU) once two conventions are aligned: diffusers' timestep frequencies use
  ``downscale_freq_shift=1`` (10000^(-k / (half - 1))), DiT and smlib 10000^(-k / half); and smlib's 2-D position
  code has the row in its first half, DiT's and diffusers' the column (the transposed grid: immaterial for a model
  trained from scratch, not for DiT's released weights).
* **Training step**: forward, MSE to a fixed target, backward, AdamW step; the same x_t, t, labels and target
  for both (t in [0, 1] for smlib, 1000 t for diffusers, whose embedder takes DDPM step indices).
* **Sampling**: the same Euler loop on dx/dt = v (SiT's interpolant, t from 1 to 0, guidance off) under
  ``torch.inference_mode``; only the network differs.
* **Scaling**: smlib's and diffusers' training step at the ``small`` preset's width and batch for latent sides
  4, 8, 16, 32 with patch 2 (T = 4 ... 256 tokens), in the JSON under ``scaling`` and drawn by
  ``smlib.performance.plot_step_vs_tokens`` on the Performance page.

Sizes: ``small`` is the diffusability ``small`` preset's DiT (128 wide, 4 blocks) on the lab's 8x8x4 latents at its
batch (the book's setting); ``paper`` is the ``paper`` preset's SiT-B/2 on the paper autoencoder's 32x32x4 latents,
at batch 2 and 10 Euler steps on a CPU (a few rounds; a step takes seconds on 2 cores) and at the per-GPU batch
(256 / 8) and 25 steps on CUDA. ``--quick`` on a CPU drops the paper size and the two largest scaling points.
Candidates are interleaved (common.py) with ``torch.set_num_threads(2)`` on a CPU; ratios are smlib / diffusers
in throughput (> 1: smlib is faster): the median-time ratio, and beside it (``ratio_paired``) the geometric mean of
the per-round ratios with its 95% interval over rounds. Two architectures that do the same work per token meet at
a ratio of 1 as the token count grows (smlib's one condition embedding saves diffusers' per-block embedders, a
cost that does not grow with T), so the largest scaling point needs the interval to say which side of 1 it is on:
16 rounds by default (5 rounds, the earlier default, read 0.998 there on our CPU).

    python benchmarks/bench_dit_vs_diffusers.py [--quick] [--device cuda]   # -> results/benchmarks/dit_vs_diffusers.json
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from common import bench_args, interleaved_times, paired_ratio, ratio_table, results_path, write_result
from smlib.pipelines.autoencoder import AutoencoderConfig
from smlib.pipelines.autoencoder import model_config
from smlib.experiments.diffusability import DiffusabilityConfig
from smlib.models.factory import build_backbone, count_parameters

#: the scaling sweep: latent sides at patch 2 (T = (side / 2)^2 tokens)
SIDES = (4, 8, 16, 32)


# ------------------------------------------------------------------------------------------------- the two models
def preset_setting(preset: str, device: torch.device) -> dict:
    """The preset's backbone spec, latent shape (d, h, h) from its autoencoder preset, classes and benchmark sizes."""
    cfg = DiffusabilityConfig.at(preset)
    ae = model_config(AutoencoderConfig.at(cfg.ae_preset))
    latent = (ae.latent_channels, cfg.resolution // ae.factor, cfg.resolution // ae.factor)
    num_classes = cfg.num_classes if cfg.class_conditional else 10   # diffusers' DiT needs labels: CIFAR-10's
    if preset == "small":
        sizes = dict(batch=cfg.batch_size, samples=cfg.batch_size, sample_steps=cfg.sample_steps)
    elif device.type == "cpu":
        sizes = dict(batch=2, samples=2, sample_steps=10)
    else:
        sizes = dict(batch=cfg.batch_size // 8, samples=cfg.batch_size // 8, sample_steps=cfg.sample_steps)
    return dict(spec=dict(cfg.model), latent=latent, num_classes=num_classes, **sizes)


def build_pair(spec: dict, latent: tuple[int, int, int], num_classes: int):
    """(smlib DiT, diffusers DiTTransformer2DModel) of one architecture, both predicting C channels."""
    from diffusers import DiTTransformer2DModel

    torch.manual_seed(0)
    ours = build_backbone(spec, latent, num_classes)
    if ours.out_channels != latent[0]:
        raise ValueError("this benchmark compares models that predict C channels; drop learn_sigma from the spec.")
    peer = DiTTransformer2DModel(
        num_attention_heads=ours.blocks[0].attn.num_heads, attention_head_dim=ours.hidden_size // ours.blocks[0].attn.num_heads,
        in_channels=latent[0], out_channels=latent[0], num_layers=ours.depth, sample_size=latent[1],
        patch_size=ours.patch_size, num_embeds_ada_norm=num_classes, norm_eps=1e-6,
        activation_fn="gelu-approximate", attention_bias=True, norm_elementwise_affine=False)
    return ours, peer


def extra_peer_parameters(ours) -> int:
    """What diffusers holds beyond smlib: a timestep MLP (256 -> D -> D) and a label table in all but one block."""
    d, k = ours.hidden_size, ours.num_classes
    return (ours.depth - 1) * (256 * d + d + d * d + d + (k + 1) * d)


@torch.no_grad()
def copy_weights(ours, peer) -> None:
    """Load smlib's weights into diffusers' model (its per-block embedders all get smlib's one), and align the two
    conventions that differ: timestep frequencies (shift 0) and the position code (smlib's)."""
    def put(dst, src):
        dst.weight.copy_(src.weight)
        if getattr(src, "bias", None) is not None:
            dst.bias.copy_(src.bias)

    put(peer.pos_embed.proj, ours.x_embedder)
    peer.pos_embed.pos_embed.copy_(ours.pos_embed)
    d = ours.hidden_size
    for blk, ref in zip(peer.transformer_blocks, ours.blocks):
        emb = blk.norm1.emb
        emb.time_proj.downscale_freq_shift = 0
        put(emb.timestep_embedder.linear_1, ours.t_embedder.mlp[0])
        put(emb.timestep_embedder.linear_2, ours.t_embedder.mlp[2])
        emb.class_embedder.embedding_table.weight.copy_(ours.y_embedder.table.weight)
        put(blk.norm1.linear, ref.adaLN_modulation[-1])
        for i, name in enumerate(("to_q", "to_k", "to_v")):   # timm's fused qkv rows are [q; k; v]
            getattr(blk.attn1, name).weight.copy_(ref.attn.qkv.weight[i * d:(i + 1) * d])
            getattr(blk.attn1, name).bias.copy_(ref.attn.qkv.bias[i * d:(i + 1) * d])
        put(blk.attn1.to_out[0], ref.attn.proj)
        put(blk.ff.net[0].proj, ref.mlp.fc1)
        put(blk.ff.net[2], ref.mlp.fc2)
    put(peer.proj_out_1, ours.final_layer.adaLN_modulation[-1])
    put(peer.proj_out_2, ours.final_layer.linear)


def same_function(spec: dict, latent, num_classes: int) -> dict:
    """Max |smlib - diffusers| on random weights after :func:`copy_weights`, against the output scale."""
    ours, peer = build_pair(spec, latent, num_classes)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in ours.parameters():   # move the zero-initialised layers off zero so every path carries signal
            p.add_(0.02 * torch.randn_like(p))
    copy_weights(ours, peer)
    ours.eval(), peer.eval()
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(2, *latent, generator=g), torch.rand(2, generator=g)
    y = torch.randint(0, num_classes, (2,), generator=g)
    with torch.no_grad():
        a, b = ours(x, t, y), peer(x, 1000 * t, y, return_dict=False)[0]
    return {"max_abs_diff": float((a - b).abs().max()), "output_rms": float(a.square().mean().sqrt())}


def call_ours(model, x, t, y):
    return model(x, t, y)


def call_peer(model, x, t, y):
    return model(x, 1000 * t, y, return_dict=False)[0]


CALLS = {"smlib": call_ours, "diffusers": call_peer}


# ------------------------------------------------------------------------------------------------- the two loops
def training_step(model, call, x_t, t, y, target):
    """forward, MSE, backward, AdamW step, on fixed inputs."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss = F.mse_loss(call(model, x_t, t, y), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def euler_sampler(model, call, noise, y, steps: int):
    """Euler on dx/dt = v from t = 1 to 0 (``steps`` network calls), guidance off."""
    grid = torch.linspace(1.0, 0.0, steps + 1).tolist()

    @torch.inference_mode()
    def run():
        model.eval()
        x = noise
        for t, s in zip(grid[:-1], grid[1:]):
            x = x + (s - t) * call(model, x, torch.full((x.shape[0],), t, device=x.device), y)
        return x
    return run


def inputs(latent, batch: int, num_classes: int, device, seed: int = 0):
    """x_t = (1 - t) u + t eps, t, labels and the velocity target eps - u, the same for both models."""
    g = torch.Generator().manual_seed(seed)
    u, eps = torch.randn(batch, *latent, generator=g), torch.randn(batch, *latent, generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, num_classes, (batch,), generator=g)
    tb = t.view(-1, 1, 1, 1)
    return [v.to(device) for v in ((1 - tb) * u + tb * eps, t, y, eps - u)]


def synced(fn, sync):
    def run():
        fn()
        sync()
    return run


def throughput(times: dict, items: int) -> dict:
    """Items/s of each candidate and smlib's throughput over diffusers' (1 / median per-round time ratio), with the
    geometric mean of the per-round ratios and its 95% interval over rounds (``ratio_paired``)."""
    table = ratio_table(times, "diffusers")
    return {"smlib_items_per_s": items / table["smlib"]["median_s"],
            "diffusers_items_per_s": items / table["diffusers"]["median_s"],
            "smlib_median_s": table["smlib"]["median_s"], "diffusers_median_s": table["diffusers"]["median_s"],
            "ratio_smlib_over_diffusers": 1.0 / table["smlib"]["ratio_to_diffusers"],
            "ratio_paired": paired_ratio(times, "diffusers", "smlib")}


def compare(setting: dict, device, sync, rounds: int, repeats: int) -> dict:
    """Parameter counts, the weight-copy check, and both loops interleaved, for one size."""
    spec, latent, k = setting["spec"], setting["latent"], setting["num_classes"]
    ours, peer = build_pair(spec, latent, k)
    n_ours, n_peer = count_parameters(ours), count_parameters(peer)
    out = {"model": spec, "latent_shape": list(latent), "num_classes": k, "tokens": ours.num_patches,
           "parameters": {"smlib": n_ours, "diffusers": n_peer, "difference": n_peer - n_ours,
                          "difference_explained": n_peer - n_ours == extra_peer_parameters(ours),
                          "why": "diffusers' AdaLayerNormZero holds a timestep MLP and label table per block"},
           "same_function_after_weight_copy": same_function(spec, latent, k),
           "attention": {"smlib": "timm Attention, fused qkv, F.scaled_dot_product_attention"
                         if ours.blocks[0].attn.fused_attn else "timm Attention, fused qkv, explicit softmax",
                         "diffusers": type(peer.transformer_blocks[0].attn1.processor).__name__ +
                         ", separate q/k/v projections"}}
    models = {"smlib": ours.to(device), "diffusers": peer.to(device)}
    b = setting["batch"]
    x_t, t, y, target = inputs(latent, b, k, device)
    train = {name: synced(training_step(m, CALLS[name], x_t, t, y, target), sync) for name, m in models.items()}
    out["training"] = {"batch": b, "unit": "images/s",
                       **throughput(interleaved_times(train, rounds=rounds, repeats=repeats, warmup=1), b)}
    n, steps = setting["samples"], setting["sample_steps"]
    noise = torch.randn(n, *latent, generator=torch.Generator().manual_seed(3)).to(device)
    labels = torch.arange(n, device=device) % k
    sample = {name: synced(euler_sampler(m, CALLS[name], noise, labels, steps), sync) for name, m in models.items()}
    out["sampling"] = {"samples": n, "sampler": f"euler, {steps} steps, no guidance", "network_calls": steps,
                       "unit": "samples/s",
                       **throughput(interleaved_times(sample, rounds=rounds, repeats=1, warmup=1), n)}
    return out


def repeats_for(step, seconds: float = 0.25) -> int:
    """Calls per timing so that one timing lasts about ``seconds`` (a 20-ms step timed once is mostly jitter)."""
    step()
    t0 = time.perf_counter()
    step()
    return max(1, round(seconds / max(time.perf_counter() - t0, 1e-6)))


def scaling(device, sync, sides, rounds: int) -> dict:
    """Training step time of both models against the token count, at the small preset's width and batch."""
    small = preset_setting("small", device)
    spec, (d, _, _), b, k = small["spec"], small["latent"], small["batch"], small["num_classes"]
    points = []
    for side in sides:
        latent = (d, side, side)
        ours, peer = build_pair(spec, latent, k)
        x_t, t, y, target = inputs(latent, b, k, device)
        steps = {name: synced(training_step(m.to(device), CALLS[name], x_t, t, y, target), sync)
                 for name, m in (("smlib", ours), ("diffusers", peer))}
        r = throughput(interleaved_times(steps, rounds=rounds, repeats=repeats_for(steps["smlib"]), warmup=1), b)
        points.append({"side": side, "tokens": ours.num_patches, "smlib_step_s": r["smlib_median_s"],
                       "diffusers_step_s": r["diffusers_median_s"], "ratio_smlib_over_diffusers":
                       r["ratio_smlib_over_diffusers"], "ratio_paired": r["ratio_paired"]})
        lo, hi = r["ratio_paired"]["interval"] or (math.nan, math.nan)
        print(f"  side {side:3d} (T = {ours.num_patches:4d}): smlib {r['smlib_median_s'] * 1e3:8.1f} ms, diffusers "
              f"{r['diffusers_median_s'] * 1e3:8.1f} ms, x{r['ratio_smlib_over_diffusers']:.3f} (paired "
              f"x{r['ratio_paired']['ratio']:.3f}, 95% [{lo:.3f}, {hi:.3f}] over {r['ratio_paired']['rounds']} rounds)")
    # local exponent of step time in T between the two largest points (1: linear, 2: attention-bound)
    a, z = points[-2], points[-1]
    slope = {name: math.log(z[f"{name}_step_s"] / a[f"{name}_step_s"]) / math.log(z["tokens"] / a["tokens"])
             for name in CALLS} if len(points) > 1 else {}
    return {"model": spec, "batch": b, "patch_size": spec.get("patch_size", 2), "points": points,
            "log_log_slope_last_two_points": slope}


def main() -> None:
    args = bench_args(__doc__, rounds=16)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sizes = ["small"] if args.quick and device.type == "cpu" else ["small", "paper"]
    results = {}
    for preset in sizes:
        setting = preset_setting(preset, device)
        rounds = args.rounds if preset == "small" or device.type != "cpu" else min(args.rounds, 3)
        r = results[preset] = compare(setting, device, sync, rounds, repeats=3 if preset == "small" else 1)
        p = r["parameters"]
        print(f"{preset}: params smlib {p['smlib']:,} diffusers {p['diffusers']:,} (+{p['difference']:,}, "
              f"explained: {p['difference_explained']}); same function after weight copy: max |diff| "
              f"{r['same_function_after_weight_copy']['max_abs_diff']:.2e}")
        for loop in ("training", "sampling"):
            q = r[loop]
            print(f"  {loop:9s} smlib {q['smlib_items_per_s']:9.2f} {q['unit']}, diffusers "
                  f"{q['diffusers_items_per_s']:9.2f} {q['unit']}, smlib/diffusers x{q['ratio_smlib_over_diffusers']:.2f}")
    print("training step against tokens:")
    sides = SIDES[:2] if args.quick and device.type == "cpu" else SIDES
    payload = {"benchmark": "smlib DiT vs diffusers DiTTransformer2DModel: training step and Euler sampling "
                            "(throughput ratio smlib / diffusers, > 1: smlib faster)",
               "device": str(device), "threads": torch.get_num_threads(), "quick": bool(args.quick),
               "results": results,
               "scaling": scaling(device, sync, sides, rounds=args.rounds)}
    path = write_result("dit_vs_diffusers", payload, results_path("dit_vs_diffusers", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
