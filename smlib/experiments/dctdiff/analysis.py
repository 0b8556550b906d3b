"""What chapter 7 measures besides the ladder: DCTdiff's statistics on our data, the SNR of each token coordinate
against pixel space, when each coordinate is resolved, and DCT upsampling against bicubic and Lanczos.

    stats = dataset_statistics(images)                    # eta and the per-coefficient entropies (Y, Cb, Cr)
    snr   = coordinate_snr(images, cfg)                   # E[x^2] per coordinate of every arm, relative to pixels
    t     = resolving_times(path, power)                  # when each coordinate reaches SNR = 1
    up    = upsampling_comparison(hr_images)              # PSNR (and images for FID) of x2 upsamplers
    rows  = judge_upsampling(up)                          # the declared pairs, paired over the same images, Holm
    upsampling_table(rows, caption); upsampling_lines(rows)  # shown as "higher PSNR than", per image
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from smlib.diffusion import time_at_log_snr
from smlib.experiments.dctdiff.config import ARMS, DCTdiffConfig
from smlib.experiments.dctdiff.recipe import formulation_for, tokenizer_for
from smlib.metrics.fid import feature_statistics, frechet_distance_fast
from smlib.metrics.image import psnr, to_uint8_grid
from smlib.results import html_table
from smlib.stats import Comparison, judge
from smlib.spectral.dct_tokens import (channel_coefficients, coefficient_entropies, dct_upsample,
                                       entropy_consistent_scale)
from smlib.theory import resolving_logsnr


def dataset_statistics(images: torch.Tensor, block: int = 2, tau: float = 98.25, batch: int = 2048) -> dict:
    """eta and the entropies of every coefficient of Y, Cb and Cr (raster order of the block), computed as
    DCTdiff's ``DCT_datasets_statis.py`` does (:mod:`smlib.spectral.dct_tokens`). images: (N, 3, H, W) in [-1, 1];
    coefficients are gathered in batches of ``batch`` images."""
    parts: dict[str, list[torch.Tensor]] = {"y": [], "cb": [], "cr": []}
    for i in range(0, images.shape[0], batch):
        for name, c in channel_coefficients(images[i:i + batch].double(), block).items():
            parts[name].append(c)
    coeffs = {name: torch.cat(c) for name, c in parts.items()}
    eta = entropy_consistent_scale(coeffs["y"][:, 0], tau)
    out = {"eta": eta, "n_images": int(images.shape[0]), "block": block, "tau": tau}
    for name, c in coeffs.items():
        out[f"entropy_{name}"] = coefficient_entropies(c, eta, tau).tolist()
    return out


def coordinate_power(tokens: torch.Tensor) -> torch.Tensor:
    """E[x^2] of each token coordinate over images and token positions: (N, T, D) -> (D,)."""
    return tokens.double().square().mean(dim=(0, 1))


def coordinate_snr(images: torch.Tensor, cfg: DCTdiffConfig, arms=None) -> dict:
    """Per arm: the power E[x^2] of each coordinate times the arm's SNR scale c, relative to the mean power of a
    pixel in [-1, 1]. At the same t, a coordinate with ratio r has r times the SNR of a pixel (the same noise
    schedule, unit-variance noise on every coordinate). Returns {arm: {"relative": (D,) list, "mean": float,
    "log_mean": float}} and "pixel_power"."""
    pixel_power = float(images.double().square().mean())
    out: dict = {"pixel_power": pixel_power}
    for arm_name in arms or ARMS:
        arm = ARMS[arm_name]
        c = formulation_for(arm, cfg).path.snr_scale
        rel = coordinate_power(tokenizer_for(arm, cfg).encode(images.double())) * c / pixel_power
        mean = float(rel.mean())
        out[arm_name] = {"relative": rel.tolist(), "mean": mean, "log_mean": float(np.log(mean))}
    return out


def resolving_times(path, power) -> np.ndarray:
    """The time t at which a coordinate of power S reaches SNR = 1 on ``path`` (log SNR(t) = -log S), for each S:
    (K,) -> (K,). Sampling runs from t = 1 down, so larger S is resolved earlier in the reverse process."""
    return time_at_log_snr(path, torch.as_tensor(resolving_logsnr(np.asarray(power, float)))).numpy()


def _pil_resize(images: torch.Tensor, size: int, method) -> torch.Tensor:
    """(N, 3, h, w) in [-1, 1] -> (N, 3, size, size) through uint8 PIL images, as DCTdiff's comparison does."""
    u8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = [np.asarray(Image.fromarray(im).resize((size, size), method)) for im in u8]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 127.5 - 1


def upsampling_comparison(images: torch.Tensor, block: int = 4, features=None) -> dict:
    """Halve images with PIL's bicubic filter (as ``DCT_Upsampling.py`` does), bring them back to full size with
    DCT upsampling (blocks of ``block``), bicubic and Lanczos, and score each against the originals.

    images: (N, 3, H, W) in [-1, 1], H = W divisible by 2 ``block``. Returns {"low": (N, 3, H/2, W/2), and per
    method {"images": (N, 3, H, W) on the uint8 grid, "psnr": mean dB, "psnr_per_image": (N,) list}}; with a
    feature extractor (Inception), also each method's FID-N against the originals' features ("fid")."""
    size = images.shape[-1]
    low = _pil_resize(images, size // 2, Image.BICUBIC)
    results = {"low": low}
    ups = {"dct": to_uint8_grid(dct_upsample(low.double(), block).float().clamp(-1, 1)),
           "bicubic": _pil_resize(low, size, Image.BICUBIC),
           "lanczos": _pil_resize(low, size, Image.LANCZOS)}
    for name, up in ups.items():
        p = psnr(up, images)
        results[name] = {"images": up, "psnr": float(p.mean()), "psnr_per_image": p.tolist()}
    if features is not None:
        mu, sigma = feature_statistics(np.asarray(features(images), dtype=np.float64))
        for name in ups:
            feats = np.asarray(features(results[name]["images"]), dtype=np.float64)
            results[name]["fid"] = frechet_distance_fast(feats, mu, sigma)
            results[name]["fid_label"] = f"FID-{feats.shape[0]}"
    return results


#: DCT upsampling against the two resamplers the released code compares it with (``DCT_Upsampling.py``'s comment
#: lists FFHQ-256 FIDs where it beats both); one family, higher PSNR is better
UPSAMPLING_FAMILY = (Comparison("dct", "bicubic", "released code", "DCT_Upsampling.py comment"),
                     Comparison("dct", "lanczos", "released code", "DCT_Upsampling.py comment"))


def judge_upsampling(up: dict, comparisons=UPSAMPLING_FAMILY, alpha: float = 0.05) -> list[dict]:
    """The declared upsampling pairs judged on PSNR per image, paired over the same images (the image index plays
    the seed's part: :func:`smlib.stats.judge`, paired t, Holm over the family). ``up``: the output of
    :func:`upsampling_comparison`. Each row also counts the images on which ``better`` scores a higher PSNR
    (``wins``, of ``n``)."""
    methods = {m for c in comparisons for m in (c.better, c.worse)}
    missing = sorted(m for m in methods if m not in up)
    if missing:
        raise ValueError(f"no upsampling result for {', '.join(missing)}; pass the output of upsampling_comparison.")
    per_image = {m: dict(enumerate(up[m]["psnr_per_image"])) for m in sorted(methods)}
    rows = judge(per_image, comparisons, alpha=alpha, lower_is_better=False)
    for row in rows:
        a, b = per_image[row["better"]], per_image[row["worse"]]
        row["wins"] = int(sum(a[i] > b[i] for i in row["seeds"]))
    return rows


def _p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def upsampling_lines(rows) -> list[str]:
    """One printed fact per judged upsampling pair (:func:`judge_upsampling`): "A better than B: verdict (PSNR
    +d dB per image, 95% CI [lo, hi], p_holm p, higher on k of n images)". (:func:`smlib.sweep.verdict_lines`
    writes "A < B" and "seeds", which reads wrongly for a higher-is-better score over images.)"""
    return [f"{r['better']} better than {r['worse']}: {r['verdict']} (PSNR {r['difference']:+.2f} dB per image, "
            f"95% CI [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}], p_holm {_p(r['p_holm'])}, higher on {r['wins']} of "
            f"{r['n']} images)" for r in rows]


def upsampling_table(rows, caption: str):
    """:func:`judge_upsampling`'s rows as a table: pair, images, PSNR difference (dB, positive = as declared) with
    its 95% interval, images on which the better method scores higher, p, Holm p, verdict, the minimum detectable
    difference and the images a gap of the observed size would need."""
    body = [{"pair": f"{r['better']} higher than {r['worse']}", "source": r["source"], "n": r["n"],
             "diff": f"{r['difference']:+.2f}", "ci": f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]",
             "wins": f"{r['wins']}/{r['n']}", "p": _p(r["p"]), "p_holm": _p(r["p_holm"]), "verdict": r["verdict"],
             "mdd": f"{r['mdd']:.2f}", "need": r.get("seeds_needed") or "–"} for r in rows]
    return html_table(body, {"pair": "declared (PSNR)", "source": "source", "n": "images", "diff": "difference (dB)",
                             "ci": "95% CI", "wins": "higher on", "p": "p", "p_holm": "p (Holm)",
                             "verdict": "verdict", "mdd": "min. detectable", "need": "images for this gap"},
                      caption=caption)


__all__ = ["dataset_statistics", "coordinate_power", "coordinate_snr", "resolving_times", "upsampling_comparison",
           "UPSAMPLING_FAMILY", "judge_upsampling", "upsampling_lines", "upsampling_table"]
