"""Cost of each autoencoder regularizer per training step, as a ratio to the unregularised (plain) step.

One full step each: forward through the AE and its objective, backward, AdamW update, on the same batch, with
the lab's small-preset model (CIFAR-10 32 px, f4d4) and, for scale, a wider AE at 64 px. The candidates are timed
in interleaved rounds (benchmarks/common.py), so machine drift hits all alike. The paper calls the ESM and DSM
overhead negligible; this measures it for our sizes.

    python benchmarks/bench_regularizer_overhead.py     # -> results/benchmarks/regularizer_overhead.json
"""
from __future__ import annotations

import sys

import torch

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.data import image_batch
from smlib.pipelines import autoencoder as lab

VARIANTS = ("plain", "sd-vae", "esm", "dsm", "scale_equivariance", "eqvae")
SETTINGS = {
    "small preset: 32 px, f4d4, channels (16, 32, 32), batch 32": dict(resolution=32, ae_channels=(16, 32, 32),
                                                                     batch=32),
    "wider: 64 px, f4d4, channels (64, 128, 128), batch 16": dict(resolution=64, ae_channels=(64, 128, 128),
                                                                  batch=16),
}


def step_fn(variant: str, images: torch.Tensor, resolution: int, ae_channels):
    cfg = lab.AutoencoderConfig.at("small", dataset="deadleaves", resolution=resolution, ae_channels=ae_channels)
    recipe = lab.build_recipe(variant, cfg, seed=0)
    task = lab.AutoencoderTask(recipe)
    params = list(recipe.model.parameters()) + list(recipe.ae_loss.trainable_parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    torch.manual_seed(0)

    def step():
        loss, _ = task.loss(images, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    args = bench_args(__doc__, rounds=5)
    if args.device != "cpu":
        sys.exit("bench_regularizer_overhead measures the CPU only")
    results = {}
    for name, s in SETTINGS.items():
        images = image_batch("deadleaves", s["batch"], s["resolution"], seed=0)
        steps = {v: step_fn(v, images, s["resolution"], s["ae_channels"]) for v in VARIANTS}
        table = ratio_table(interleaved_times(steps, rounds=args.rounds, repeats=3), "plain")
        results[name] = table
        print(name)
        for v, row in table.items():
            print(f"  {v:20s} {row['median_s'] * 1e3:8.1f} ms/step   x{row['ratio_to_plain']:.2f} of plain")
    path = write_result("regularizer_overhead", {
        "benchmark": "AE training step (forward, backward, AdamW) per regularizer, ratio to plain",
        "threads": torch.get_num_threads(), "settings": {k: {**v, "ae_channels": list(v["ae_channels"])}
                                                         for k, v in SETTINGS.items()},
        "results": results}, results_path("regularizer_overhead", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
