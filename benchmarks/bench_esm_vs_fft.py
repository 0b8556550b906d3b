"""smlib's ESM loss (DCT and resampling as matrix products) against a direct FFT-based implementation of it.

The reference below is written independently of smlib.spectral: the orthonormal DCT-II computed from an FFT of
the reordered signal (Makhoul, 1980), radial pooling with ``bincount``, then the authors' log1p descriptor and
KL(p_x^delta || p_z). The reference blurs and resizes the image with torch's conv2d and interpolate; smlib applies
the same linear maps as cached per-axis matrices (``smlib.spectral.filters.esm_image_target_dct``). We report how far
the two losses and their gradients agree, and the time ratio of forward + backward.

    python benchmarks/bench_esm_vs_fft.py     # -> results/benchmarks/esm_vs_fft.json
"""
from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.regularizers.esm import esm_divergence


def dct_fft_1d(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dim via an N-point FFT of [x0, x2, ..., x3, x1]."""
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, dtype=x.dtype, device=x.device)
    out = 2 * (V * torch.exp(-1j * math.pi * k / (2 * n))).real
    scale = torch.full((n,), math.sqrt(1 / (2 * n)), dtype=x.dtype, device=x.device)
    scale[0] = math.sqrt(1 / (4 * n))
    return out * scale


def dct_fft_2d(x: torch.Tensor) -> torch.Tensor:
    return dct_fft_1d(dct_fft_1d(x).transpose(-1, -2)).transpose(-1, -2)


def descriptor(x: torch.Tensor, delta: float, n_bins: int = 16, eps: float = 1e-8) -> torch.Tensor:
    """(B, C, h, w) -> (B, n_bins): channel-mean DCT power, DC zeroed, radial bins of the DCT index, tilt, log1p."""
    b, _, h, w = x.shape
    power = dct_fft_2d(x).pow(2).mean(dim=1).clamp(min=eps)
    power = torch.cat([torch.zeros(b, 1, device=x.device, dtype=x.dtype), power.reshape(b, -1)[:, 1:]], dim=1)
    u, v = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r = torch.sqrt(u.double() ** 2 + v.double() ** 2)
    idx = torch.clamp(torch.floor(n_bins * r / math.hypot(h - 1, w - 1)), max=n_bins - 1).long().reshape(-1)
    counts = torch.bincount(idx, minlength=n_bins).to(x.dtype)
    sums = torch.zeros(b, n_bins, dtype=x.dtype, device=x.device).index_add(1, idx.to(x.device), power)
    s = sums / counts.clamp(min=1) * torch.arange(1, n_bins + 1, dtype=x.dtype, device=x.device) ** delta
    q = torch.log1p(s + eps)
    return q / q.sum(dim=1, keepdim=True)


def esm_fft(x: torch.Tensor, z: torch.Tensor, delta: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    h, w = z.shape[-2:]
    if h != 32:  # the authors' blur rule: 7x7, sigma 1.2, zero padding, unless the latent is 32 x 32
        g = torch.exp(-torch.arange(-3, 4, dtype=x.dtype) ** 2 / (2 * 1.2 ** 2))
        k = (g[:, None] * g[None, :]) / (g[:, None] * g[None, :]).sum()
        x = F.conv2d(x, k.expand(x.shape[1], 1, 7, 7).contiguous(), padding=3, groups=x.shape[1])
    x_ds = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    p_x, p_z = descriptor(x_ds, delta), descriptor(z, 0.0)
    return (p_x * (torch.log(p_x + eps) - torch.log(p_z + eps))).sum(dim=1).mean()


def esm_smlib(x, z, delta=1.0):
    return esm_divergence(x, z, delta=delta)[0].mean()


def compare(shape_x, shape_z, rounds: int = 7, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape_x, generator=g) * 2 - 1
    z0 = torch.randn(shape_z, generator=g)
    out = {}
    for name, fn in (("smlib", esm_smlib), ("fft_reference", esm_fft)):
        z = z0.clone().requires_grad_(True)
        loss = fn(x, z)
        loss.backward()
        out[name] = (loss.detach(), z.grad)
    (l_s, g_s), (l_r, g_r) = out["smlib"], out["fft_reference"]

    def step(fn):
        def run():
            z = z0.clone().requires_grad_(True)
            fn(x, z).backward()
        return run

    times = interleaved_times({"fft_reference": step(esm_fft), "smlib": step(esm_smlib)}, rounds=rounds, repeats=5)
    table = ratio_table(times, "fft_reference")
    return {"x": list(shape_x), "z": list(shape_z), "loss_smlib": float(l_s), "loss_fft": float(l_r),
            "loss_rel_diff": float(abs(l_s - l_r) / abs(l_r)),
            "grad_max_abs_diff": float((g_s - g_r).abs().max()), "grad_max_abs": float(g_r.abs().max()),
            "timing": table}


def main() -> None:
    args = bench_args(__doc__, rounds=7)
    if args.device != "cpu":
        sys.exit("bench_esm_vs_fft measures the CPU only (its peer, bench_esm_vs_authors, also runs on CUDA)")
    torch.set_num_threads(2)
    cases = {"lab: 32 px, f4d4 (8x8x4)": ((32, 3, 32, 32), (32, 4, 8, 8)),
             "authors: 256 px, f8d4 (32x32x4)": ((8, 3, 256, 256), (8, 4, 32, 32)),
             "authors: 256 px, f16d16 (16x16x16)": ((8, 3, 256, 256), (8, 16, 16, 16))}
    results = {}
    for name, (sx, sz) in cases.items():
        r = compare(sx, sz, args.rounds)
        results[name] = r
        t = r["timing"]["smlib"]
        print(f"{name:36s} loss rel. diff {r['loss_rel_diff']:.1e}, grad max diff {r['grad_max_abs_diff']:.1e} "
              f"(of {r['grad_max_abs']:.1e}); fwd+bwd smlib / FFT reference = {t['ratio_to_fft_reference']:.2f} "
              f"({t['median_s'] * 1e3:.2f} ms)")
    path = write_result("esm_vs_fft", {"benchmark": "ESM loss forward+backward, smlib vs FFT reference",
                                       "threads": torch.get_num_threads(), "cases": results},
                        results_path("esm_vs_fft", args))
    print(f"wrote {path}")
    if any(r["loss_rel_diff"] > 1e-4 for r in results.values()):
        sys.exit("smlib's ESM loss disagrees with the FFT reference")


if __name__ == "__main__":
    main()
