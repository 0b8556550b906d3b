"""How well an autoencoder reconstructs, and what its latents look like: the scores of the autoencoder lab.

Protocol (stated with every number): reconstructions decode a posterior *sample* (seeded), as the authors'
evaluation and the diffusion model see it; they are clamped to [-1, 1] and rounded to uint8 levels before PSNR,
SSIM and Inception. rFID-N compares the N reconstructions with the same N originals (FID-N: only comparable at
equal N); KID is the unbiased estimate over disjoint blocks of the originals. Low-pass decoding applies DSM's
shared block-DCT mask to image and latent and scores the decoded low-passed latent against the low-passed image.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from smlib.device import resolve_device
from smlib.metrics.fid import ReferenceStats, fid_from_features, kid_full_reference
from smlib.metrics.image import psnr, ssim, to_uint8_grid
from smlib.metrics.inception import shared_inception
from smlib.metrics.latent import lowpass_pair, noise_to_signal, spectrum_summary
from smlib.metrics.reference import reference_set

#: the settings an evaluation reads (any object with these attributes, e.g. the lab's AutoencoderConfig)
EVAL_SETTINGS = ("fid_n", "kid_subset", "n_spectrum", "delta", "lowpass_ks", "lowpass_fid_ks", "lowpass_fid_n",
                 "n_examples", "eval_seed", "dsm_block")


def inception_features(images: torch.Tensor, device="cpu") -> np.ndarray:
    """TF-Inception pool3 features of (N, 3, H, W) images in [-1, 1] (rounded to uint8 levels) -> (N, 2048)."""
    return shared_inception(str(resolve_device(device)))(images)


def fid_kid(recon_feats: np.ndarray, reference_feats: np.ndarray, kid_subset: int) -> dict:
    """rFID and KID of reconstruction features (N, D) against reference features (M, D)."""
    r = fid_from_features(recon_feats, ReferenceStats.from_features(reference_feats))
    k_mean, k_std = kid_full_reference(recon_feats, reference_feats,
                                       subset_size=min(kid_subset, len(recon_feats), len(reference_feats)))
    return {"fid": r.fid, "fid_label": r.label, "kid": k_mean, "kid_std": k_std}


def _decode(model: nn.Module, z: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model.decode(c) for c in z.split(batch)]).clamp(-1, 1)


@torch.no_grad()
def evaluate_autoencoder(model: nn.Module, images: torch.Tensor, settings, *, dataset: str, split: str = "test",
                         device="cpu") -> dict:
    """Score an autoencoder on held-out images: reconstruction metrics and latent diagnostics.

    images: (N, 3, R, R) in [-1, 1]; settings: an object with the :data:`EVAL_SETTINGS` attributes and
    ``eval_batch``; dataset, split: where the images come from (a subset seeded by ``eval_seed``), which names the
    originals in the reference cache.
    Returns a flat dict of floats plus ``spectra`` (16-bin lists), ``lowpass_psnr`` / ``lowpass_fid`` ({k: value})
    and ``examples`` ({name: (n_examples, 3, R, R) uint8 tensor}). ``fid_n = 0`` skips Inception.
    """
    s, dev = settings, resolve_device(device)
    x = images.to(dev)
    model = model.to(dev).eval()
    gen = torch.Generator(device=dev).manual_seed(int(s.eval_seed))
    mus, logvars, zs, recons = [], [], [], []
    for chunk in x.split(int(s.eval_batch)):
        post = model.encode(chunk)
        z = post.sample(gen)
        mus.append(post.mean)
        logvars.append(post.logvar)
        zs.append(z)
        recons.append(model.decode(z).clamp(-1, 1))
    mu, logvar, z, x_hat = (torch.cat(t) for t in (mus, logvars, zs, recons))
    x_hat_u8 = to_uint8_grid(x_hat)
    out = {"n_eval": int(len(x)), "psnr": float(psnr(x_hat_u8, x).mean()), "ssim": float(ssim(x_hat_u8, x).mean()),
           "l1": float((x_hat - x).abs().mean()), "noise_to_signal": noise_to_signal(mu, logvar),
           "latent_shape": list(z.shape[1:]), "reconstruct_from": "posterior sample (seeded)"}
    # latent diagnostics on the sampled latent (what the authors measure and a diffusion model trains on) and mean
    n_s = min(int(s.n_spectrum), len(x))
    summary = spectrum_summary(x[:n_s].cpu(), z[:n_s].cpu(), delta=s.delta)
    summary_mu = spectrum_summary(x[:n_s].cpu(), mu[:n_s].cpu(), delta=s.delta)
    spectra = {k: summary.pop(k) for k in list(summary) if k.startswith("p_")}
    spectra["p_mu"], spectra["p_mu_dc"] = summary_mu["p_z"], summary_mu["p_z_dc"]
    out.update(summary)
    out.update({"kl_to_target_mean": summary_mu["kl_to_target"], "psd_slope_mean": summary_mu["psd_slope_latent"],
                "rmsc_mean": summary_mu["rmsc"]})
    out["spectra"] = spectra
    # low-pass decoding with the shared block-DCT mask (DSM's frequency correspondence)
    block, batch, lp_psnr, lp_imgs = int(s.dsm_block), int(s.eval_batch), {}, {}
    for k in s.lowpass_ks:
        x_m, z_m = lowpass_pair(x[:n_s], z[:n_s], int(k), block)
        rec = _decode(model, z_m, batch)
        lp_psnr[str(k)] = float(psnr(to_uint8_grid(rec), to_uint8_grid(x_m)).mean())
        lp_imgs[int(k)] = (x_m[:s.n_examples], rec[:s.n_examples])
    out["lowpass_psnr"] = lp_psnr
    # Inception metrics: the originals' features come from the one reference cache
    res = int(x.shape[-1])
    if s.fid_n:
        n = min(int(s.fid_n), len(x))
        ref = reference_set(dataset, split, res, n, x[:n].cpu(), shared_inception(str(dev)), subset=f"seed{s.eval_seed}")
        r = fid_kid(inception_features(x_hat[:n], dev), ref.features, s.kid_subset)
        out.update({"rfid": r["fid"], "rfid_label": r["fid_label"].replace("FID", "rFID"), "fid_n": n,
                    "kid": r["kid"], "kid_std": r["kid_std"]})
    lp_fid, n_lp = {}, min(int(s.lowpass_fid_n), len(x))
    for k in s.lowpass_fid_ks if s.fid_n else ():
        x_m, z_m = lowpass_pair(x[:n_lp], z[:n_lp], int(k), block)
        ref = reference_set(dataset, split, res, n_lp, to_uint8_grid(x_m).cpu(), shared_inception(str(dev)),
                            subset=f"seed{s.eval_seed}-lowpass-b{block}-k{k}")
        lp_fid[str(k)] = fid_kid(inception_features(_decode(model, z_m, batch), dev), ref.features,
                                 s.kid_subset)["fid"]
    out["lowpass_fid"], out["lowpass_fid_n"] = lp_fid, (n_lp if lp_fid else 0)
    e = int(s.n_examples)
    to_u8 = lambda t: torch.round((t.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).cpu()  # noqa: E731
    out["examples"] = {"original": to_u8(x[:e]), "reconstruction": to_u8(x_hat[:e]),
                       **{f"lowpass_target_k{k}": to_u8(t) for k, (t, _) in lp_imgs.items()},
                       **{f"lowpass_decoded_k{k}": to_u8(r) for k, (_, r) in lp_imgs.items()}}
    return out


__all__ = ["EVAL_SETTINGS", "evaluate_autoencoder", "inception_features", "fid_kid"]
