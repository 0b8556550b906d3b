"""Throughput of the diffusability pipeline's three hot loops, each as a ratio to a bare loop of the same work.

* **training**: one step of :class:`smlib.experiments.diffusability.LatentDiffusionTask` (posterior sample,
  normalisation, the SiT formulation's loss) with AdamW, gradient clipping and the EMA update that
  :func:`smlib.train.fit` adds, against a hand-written step on the same model: z = mu + sigma eps, scale,
  x_t = (1 - t) u + t eps, MSE to the velocity eps - u, AdamW. Images per second.
* **sampling**: :func:`smlib.diffusion.sample` (Heun, 25 steps, 49 network calls) against a bare Heun loop on the
  same model and time grid. Samples per second.
* **Inception features**: :class:`smlib.metrics.InceptionFeatures` on 32 px images in [-1, 1] (quantise, resize
  to 299, scale) against the TorchScript network called on images already resized. Images per second.

The model is the ``small`` preset's DiT on the lab's 8x8x4 latents. Candidates are interleaved (common.py), so a
busy machine slows both alike; the ratios, not the absolute numbers, are what carries over between machines.

    python benchmarks/bench_diffusion_throughput.py     # -> results/benchmarks/diffusion_throughput.json
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.device import resolve_device
from smlib.diffusion import make_formulation, sample
from smlib.experiments import diffusability as diff
from smlib.pipelines.latent_diffusion import LatentDiffusionTask
from smlib.models.factory import build_backbone
from smlib.data.latents import LatentNormalizer
from smlib.metrics import InceptionFeatures
from smlib.metrics.inception import preprocess_for_inception
from smlib.train.ema import EMA

LATENT = (4, 8, 8)


def training_steps(cfg, batch: int, device) -> dict:
    """Library step and bare step, each with its own model and optimiser from the same initial weights."""
    moments = torch.randn(batch, 2 * LATENT[0], *LATENT[1:], device=device)
    moments[:, LATENT[0]:] = -2.0                                  # log-variances: sigma ~ 0.37
    scale = 0.8
    normalizer = LatentNormalizer(shift=(0.0,), scale=(scale,))
    formulation = make_formulation(cfg.formulation)

    def library():
        torch.manual_seed(0)
        model = build_backbone(cfg.model, LATENT).to(device)
        task = LatentDiffusionTask(model, formulation, normalizer, "moments", {})
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        ema = EMA(model, cfg.ema_decay)

        def step():
            loss, _ = task.loss((moments, None), 0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            ema.update(model)
        return step

    def bare():
        torch.manual_seed(0)
        model = build_backbone(cfg.model, LATENT).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        mu, logvar = moments.chunk(2, dim=1)

        def step():
            u = (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)) * scale
            t = torch.rand(batch, device=device)
            eps = torch.randn_like(u)
            tb = t.view(-1, 1, 1, 1)
            loss = F.mse_loss(model((1 - tb) * u + tb * eps, t, None), eps - u)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    return {"library": library(), "bare": bare()}


def sampling_calls(cfg, n: int, device) -> dict:
    torch.manual_seed(0)
    model = build_backbone(cfg.model, LATENT).to(device).eval()
    formulation = make_formulation(cfg.formulation)
    steps = cfg.sample_steps

    def library():
        sample(model, formulation, (n, *LATENT), sampler="heun", steps=steps,
               generator=torch.Generator().manual_seed(0), device=device)

    @torch.no_grad()
    def bare():  # Heun on dx/dt = v from t = 1 to 0, Euler on the last step (as the library does)
        g = torch.Generator().manual_seed(0)
        x = torch.randn((n, *LATENT), generator=g).to(device)
        grid = [1 - i / steps for i in range(steps + 1)]
        for t, s in zip(grid[:-1], grid[1:]):
            v = model(x, torch.full((n,), t, device=device), None)
            x_next = x + (s - t) * v
            if s > 0:
                v2 = model(x_next, torch.full((n,), s, device=device), None)
                x_next = x + (s - t) * 0.5 * (v + v2)
            x = x_next

    return {"library": library, "bare": bare}


def inception_calls(n: int, device) -> dict:
    features = InceptionFeatures(device, batch_size=n)
    images = torch.rand(n, 3, 32, 32, device=device) * 2 - 1
    resized = preprocess_for_inception(images)

    def library():
        features(images)

    @torch.no_grad()
    def bare():
        features.net(resized)

    return {"library": library, "bare": bare}


def main() -> None:
    args = bench_args(__doc__, rounds=7)
    device = resolve_device(args.device)
    cfg = diff.DiffusabilityConfig.at("small")
    loops = {
        "training (DiT step, batch 64)": (training_steps(cfg, 64, device), 64, "images", args.rounds, 3),
        "sampling (Heun 25 steps, 64 samples)": (sampling_calls(cfg, 64, device), 64, "samples", max(3, args.rounds - 2), 1),
        "Inception features (32 batch)": (inception_calls(32, device), 32, "images", max(3, args.rounds - 2), 1),
    }
    results = {}
    for name, (candidates, items, unit, rounds, repeats) in loops.items():
        table = ratio_table(interleaved_times(candidates, rounds=rounds, repeats=repeats, warmup=1), "bare")
        lib, bare = table["library"], table["bare"]
        results[name] = {"unit": unit, "items_per_call": items, "items_per_s": items / lib["median_s"],
                         "bare_items_per_s": items / bare["median_s"],
                         # throughput ratio = 1 / the median over rounds of (library time / bare time)
                         "ratio_to_reference": 1.0 / lib["ratio_to_bare"]}
        r = results[name]
        print(f"{name:40s} library {r['items_per_s']:8.1f} {unit}/s, bare {r['bare_items_per_s']:8.1f} {unit}/s, "
              f"throughput x{r['ratio_to_reference']:.2f}")
    path = write_result("diffusion_throughput", {
        "benchmark": "diffusability hot loops: library vs a bare loop of the same work (throughput ratio)",
        "device": str(device), "threads": torch.get_num_threads(), "model": dict(cfg.model),
        "latent_shape": list(LATENT), "results": results}, results_path("diffusion_throughput", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
