"""Cost of representation alignment per diffusion training step, as a ratio to the step without alignment.

One full step each (posterior draw, forward with the hidden states, diffusion + alignment loss, backward, AdamW) on
the same batch, with chapter 6's small-preset DiT (128 x 6, patch 1, 64 tokens) and its target (EfficientNet-Lite2
blocks.4 at 128 px, 8x8x120): REPA (MLP projector), iREPA (conv 3x3, gamma 0.6) and DoG-REPA (DoG in the DCT
domain + std), each with target tokens read from the cache and computed on the fly by the encoder (what REPA does
on ImageNet). Candidates are timed in interleaved rounds (benchmarks/common.py), so machine drift hits all alike.

    python benchmarks/bench_alignment_overhead.py     # -> results/benchmarks/alignment_overhead.json
"""
from __future__ import annotations

import sys

import torch

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.data import image_batch
from smlib.data.latents import LatentCache, LatentNormalizer
from smlib.data.targets import OnTheFlyTargets, TargetCache, encode_targets
from smlib.diffusion import make_formulation
from smlib.pipelines.latent_diffusion import LatentDiffusionTask
from smlib.experiments import repa as R
from smlib.models.factory import build_backbone

BATCH = 64


def step_fn(arm: str | None, cfg, batch, targets):
    torch.manual_seed(0)
    model = build_backbone(cfg.model, (4, 8, 8), 0)
    spec = cfg.alignment(arm) if arm else None
    if spec is not None:
        from smlib.diffusion.alignment import build_aligned
        model = build_aligned(model, spec, targets.dim)
    task = LatentDiffusionTask(model, make_formulation(cfg.formulation), LatentNormalizer((0.0,), (1.0,)),
                                 "moments", {}, False, None, targets if spec is not None else None)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss, _ = task.loss(batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    args = bench_args(__doc__, rounds=5)
    if args.device != "cpu":
        sys.exit("bench_alignment_overhead measures the CPU only")
    cfg = R.RepaConfig.at("small")
    encoder = R.target_encoder(cfg, "cpu")
    images = image_batch("deadleaves", BATCH, 32, seed=0)
    g = torch.Generator().manual_seed(0)
    moments = torch.cat([torch.randn(BATCH, 4, 8, 8, generator=g), torch.full((BATCH, 4, 8, 8), -2.0)], 1)
    cache = LatentCache(moments, torch.full((BATCH,), -1), torch.arange(BATCH), torch.zeros(BATCH, dtype=torch.bool))
    tokens, index, flipped = encode_targets(encoder, images, flips=False)
    cached = TargetCache(tokens, index, flipped, encoder.grid, {"key": "bench"})
    on_the_fly = OnTheFlyTargets(encoder, images, index, flipped)
    batch = (cache.data, cache.labels, torch.arange(BATCH))
    steps = {"none": step_fn(None, cfg, batch, None)}
    for arm in ("repa", "irepa-g0.6", "dog-0.5-2"):
        steps[f"{arm} (cached targets)"] = step_fn(arm, cfg, batch, cached)
        steps[f"{arm} (on the fly)"] = step_fn(arm, cfg, batch, on_the_fly)
    table = ratio_table(interleaved_times(steps, rounds=args.rounds, repeats=3), "none")
    for name, row in table.items():
        print(f"  {name:28s} {row['median_s'] * 1e3:8.1f} ms/step   x{row['ratio_to_none']:.2f} of none")
    path = write_result("alignment_overhead", {
        "benchmark": "latent DiT training step with and without representation alignment, ratio to none",
        "threads": torch.get_num_threads(), "batch": BATCH, "model": cfg.model, "encoder": encoder.label,
        "encoder_input": cfg.encoder_input_size, "projector_hidden": cfg.projector_hidden, "results": table},
        results_path("alignment_overhead", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
