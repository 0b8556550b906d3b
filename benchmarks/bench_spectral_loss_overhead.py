"""Cost of each spectral term per pixel-diffusion training step, as a ratio to the step without it (chapter 8).

The seed paper calls the overhead "negligible"; here one full step each (noise, forward, base loss, the term on
x0_hat, backward, AdamW) on the same CIFAR-sized batch, with chapter 8's small-preset U-ViT (128 x 4, patch 4,
64 tokens), for DDPM and EDM with every term the chapter trains: Fourier amplitude, amplitude-and-phase and Haar L1
(3 levels). Candidates are timed in interleaved rounds (benchmarks/common.py), so machine drift hits all alike.

    python benchmarks/bench_spectral_loss_overhead.py     # -> results/benchmarks/spectral_loss_overhead.json
"""
from __future__ import annotations

import sys

import torch

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.data import image_batch
from smlib.experiments import spectral_regularisation as SR
from smlib.models.factory import build_backbone

BATCH = 64
TERMS = {"amplitude": dict(term="fourier-amplitude"), "amp-phase": dict(term=SR.AP),
         "haar L1": dict(term="wavelet", options=dict(wavelet="haar", levels=3))}


def step_fn(arm: SR.Arm, cfg, images):
    torch.manual_seed(0)
    formulation = SR.formulation_for(arm)
    model = SR.model_for(arm, build_backbone(cfg.model, tuple(images.shape[1:])), formulation)
    task = SR.SpectralRegTask(model, formulation, arm, {})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        loss, _ = task.loss((images, None), 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    args = bench_args(__doc__, rounds=5)
    if args.device != "cpu":
        sys.exit("bench_spectral_loss_overhead measures the CPU only")
    cfg = SR.SpectralRegConfig.at("small")
    images = image_batch("deadleaves", BATCH, 32, seed=0)          # in [-1, 1]; the content does not change the cost
    steps = {}
    for formulation in ("ddpm", "edm"):
        steps[f"{formulation} none"] = step_fn(SR.Arm("none", formulation), cfg, images)
        for name, kw in TERMS.items():
            steps[f"{formulation} {name}"] = step_fn(SR.Arm(name, formulation, lam=1.0, weighted=formulation == "edm",
                                                            **kw), cfg, images)
    times = interleaved_times(steps, rounds=args.rounds, repeats=3)
    table = {}
    for formulation in ("ddpm", "edm"):
        plain = f"{formulation} none"
        rows = ratio_table({k: v for k, v in times.items() if k.startswith(formulation)}, plain)
        table.update({k: {"median_s": r["median_s"], "ratio_to_plain": r["ratio_to_" + plain]} for k, r in rows.items()})
    for name, row in table.items():
        print(f"  {name:18s} {row['median_s'] * 1e3:8.1f} ms/step   x{row['ratio_to_plain']:.3f} of the plain step")
    path = write_result("spectral_loss_overhead", {
        "benchmark": "pixel-diffusion training step with and without each spectral term, ratio to the plain step "
                     "of the same formulation", "threads": torch.get_num_threads(), "batch": BATCH,
        "model": cfg.model, "results": table}, results_path("spectral_loss_overhead", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
