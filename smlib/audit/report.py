"""The audit of one autoencoder as files: ``audit.json`` (every number of :func:`smlib.audit.probes.measure`, the
definitions used, provenance) and ``audit.png`` (its spectra and its decoding-correspondence matrix).

    python -m smlib audit --autoencoder runs/autoencoders/small/dsm-<key> --dataset cifar10 --n-images 512
    audit("exports/sd-vae", dataset="folder", data_root="my_images/", resolution=256, out_dir="audits/sd-vae")
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from smlib.audit.load import load_audited
from smlib.audit.probes import ESM_DELTA, measure, probe_values
from smlib.data import image_batch
from smlib.provenance import provenance, repo_relative
from smlib.results import runs_root, write_result

FORMAT = "smlib.audit/1"

DEFINITIONS = {
    "latent": "z = mu + exp(logvar/2) * eps, one seeded posterior draw at scale 1 (no scaling_factor applied); the "
              "posterior mean mu is used for the decoding correspondence",
    "spectra": "16-bin radial DCT log-power distributions (smlib.metrics.latent, chapter 3): p_z of z, p_target of "
               "the image resampled to the latent grid as ESM does with tilt (b+1)^delta, p_image with delta 0; "
               "DC removed unless the key ends in _dc",
    "esm": "kl = mean over images of KL(p_target || p_z) (the ESM training term); l1 = L1 between batch means; "
           "_unitstd: z rescaled to unit std; _posterior_mean: mu instead of z",
    "delta": "the paper's delta 1.0: the released ESM-AE recipe (forever208/SpectrumMatching@115c70be, README of "
             "branch SDVAE_and_ESM: esm_weight=0.01, delta=1.0), smlib.regularizers.esm.ESMLoss's default",
    "noise": "noise_to_signal_measured = E[sigma^2] / Var(mu); fitted_scale and fitted_noise_ratio: chapter 3's "
             "model s * (mu_ideal + sqrt(r Var mu_ideal) eps), mu_ideal the images resampled to the latent grid and "
             "standardised, fitted (L1, DC included) to z's batch-mean distribution on the grid scales x ratios",
    "high_frequency": "high_band_mass_*: share of the log-power distribution in bins 9-16 (chapter 3); "
                      "energy_share_*: OURS, not the Kling study's (arXiv 2606.03578, whose cutoff we could not "
                      "read): share of raw DCT power (each channel standardised first, DC excluded, pooled over "
                      "images) at normalised radius ||(u,v)||/||(h-1,w-1)|| >= cutoff; energy_share_white is what "
                      "white noise gives",
    "correspondence": "K radial DCT bands on the latent and on the image grid, each relative to its own grid; "
                      "E[k, j] = energy in image band j of D(mu) - D(mu without latent band k), e[j] = energy of "
                      "D(mu) in band j; relative_change R = E / e (per column); relative_share = R row-normalised; "
                      "score = mean_k relative_share[k, k] (1: removing a latent band changes only the matching "
                      "image band; score_null = 1/K: every image band loses the same fraction); absolute_share = E "
                      "row-normalised (where the change energy lands)",
}


def default_split(dataset: str) -> str:
    """The split an audit reads: ``test`` where the dataset has one, ``train`` for ``folder`` and ``deadleaves``."""
    return "train" if dataset in ("folder", "deadleaves") else "test"


def _recordable(path) -> str:
    # repo-relative inside the checkout; outside it only the last name (a record names no folder of this machine)
    text = repo_relative(path)
    return Path(text).name if Path(text).is_absolute() else text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "autoencoder"


def audit(autoencoder_path, dataset: str = "cifar10", n_images: int = 256, resolution: int | None = None,
          data_root=None, device="auto", out_dir=None, *, split: str | None = None, seed: int = 0,
          batch_size: int = 32, n_bands: int = 4, delta: float | None = None, progress: bool = True) -> dict:
    """Audit one autoencoder on ``n_images`` images of ``dataset``; write ``audit.json`` and ``audit.png``.

    autoencoder_path: an smlib run folder, a diffusers ``AutoencoderKL`` folder or hub id, or a model object
    (:func:`smlib.audit.load.load_audited`). resolution: image side (default: the autoencoder's nominal training
    resolution); it must be a multiple of the autoencoder's factor. dataset / data_root / split: as
    :func:`smlib.data.image_batch` (``folder`` reads every image under ``data_root``); the images are a seeded
    (``seed``) random subset. out_dir: default ``runs/audit/<name>-<dataset>-<R>px-n<N>``. delta: ESM's tilt
    (default the paper's, :data:`~smlib.audit.probes.ESM_DELTA`). Returns the JSON's content plus ``"files"``.
    Bad input (not an autoencoder, images of another channel count or size, no images) raises a one-line
    ValueError / FileNotFoundError that says what to do.
    """
    ae = load_audited(autoencoder_path, device)
    res = int(resolution) if resolution is not None else ae.resolution
    if res is None:
        raise ValueError("the autoencoder names no training resolution; pass --resolution (a multiple of "
                         f"{ae.factor}).")
    if res % ae.factor:
        raise ValueError(f"resolution {res} is not a multiple of the autoencoder's factor f={ae.factor}; use "
                         f"--resolution {max(ae.factor, res // ae.factor * ae.factor)}.")
    if int(n_images) < 2:
        raise ValueError(f"the audit needs at least 2 images, got n_images={n_images}; raise --n-images.")
    split = split or default_split(dataset)
    images = image_batch(dataset, int(n_images), res, split=split, seed=seed, root=data_root)
    m = measure(ae, images, delta=delta, n_bands=n_bands, batch_size=batch_size, seed=seed, progress=progress)
    name = ae.description.get("run") or ae.description.get("name") or "autoencoder"
    if out_dir is None:
        out_dir = runs_root() / "audit" / _slug(f"{name}-{dataset}-{res}px-n{n_images}")
    out_dir = Path(out_dir)
    record = {
        "format": FORMAT,
        "autoencoder": {**ae.description, "path": _recordable(autoencoder_path)
                        if isinstance(autoencoder_path, (str, Path)) else None,
                        "factor": ae.factor, "image_channels": ae.image_channels,
                        "latent_channels": ae.latent_channels, "scaling_factor": ae.scaling_factor},
        "data": {"dataset": dataset, "split": split, "resolution": res, "n_images": int(n_images),
                 "subset_seed": int(seed), "root": _recordable(data_root) if data_root is not None else None,
                 "note": "CIFAR-10 and CelebA here are JPEG files: spectra of the high bins include JPEG loss"
                 if dataset in ("cifar10", "celeba") else None},
        "probes": probe_values(m),
        "measurement": m,
        "definitions": DEFINITIONS | {"delta_used": m["delta"], "paper_delta": ESM_DELTA},
        "provenance": provenance(),
    }
    json_path = write_result(out_dir / "audit.json", record)
    fig_path = audit_figure(record, out_dir / "audit.png")
    record["files"] = {"json": str(json_path), "figure": str(fig_path)}
    return record


def audit_figure(record: dict, path) -> Path:
    """Two panels, 7 in wide, fonts >= 9 pt: (a) p_z against p_image and the ESM target (DC removed, log scale);
    (b) the correspondence matrix ``relative_share`` with its diagonal score. Writes ``path`` (PNG, 200 dpi)."""
    import matplotlib.pyplot as plt

    m = record["measurement"]
    s, c = m["spectra"], m["correspondence"]
    bins = np.arange(1, len(s["p_z"]) + 1)
    with plt.rc_context({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 9,
                         "ytick.labelsize": 9, "legend.fontsize": 9}):
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 3.1), gridspec_kw={"width_ratios": [1.35, 1]})
        keep = slice(1, None)  # bin 1 holds DC alone on small grids and is 0 once DC is removed
        ax.semilogy(bins[keep], np.asarray(s["p_z"])[keep], "o-", ms=3, label="latent $z$")
        ax.semilogy(bins[keep], np.asarray(s["p_image"])[keep], "k:", label="image, $\\delta$ = 0")
        ax.semilogy(bins[keep], np.asarray(s["p_target"])[keep], "k--", label=f"ESM target, $\\delta$ = {m['delta']:g}")
        ax.set(xlabel="radial DCT bin", ylabel="share of log-power",
               title=f"(a) ESM KL {m['esm']['kl']:.3f}, noise ratio {m['noise']['noise_to_signal_measured']:.2g}")
        ax.legend(frameon=False)
        share = np.asarray(c["relative_share"])
        im = bx.imshow(share, vmin=0, vmax=1, cmap="viridis", origin="lower")
        k = share.shape[0]
        for i in range(k):
            for j in range(k):
                bx.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if share[i, j] < 0.6 else "black")
        bx.set(xticks=range(k), yticks=range(k), xlabel="image band", ylabel="latent band removed",
               title=f"(b) correspondence {c['score']:.2f} (none: {c['score_null']:.2f})")
        fig.colorbar(im, ax=bx, fraction=0.046, pad=0.04)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=200)
        plt.close(fig)
    return path


def summary_lines(record: dict) -> list[str]:
    """A few printed lines: what was audited, the probes, where the files are."""
    a, d, p = record["autoencoder"], record["data"], record["probes"]
    m = record["measurement"]
    lines = [f"audited {a.get('kind')} autoencoder {a.get('run') or a.get('name')} (f{a['factor']}, "
             f"{a['latent_channels']} latent channels) on {d['n_images']} {d['dataset']} {d['split']} images at "
             f"{d['resolution']} px",
             f"ESM KL(target || p_z) at delta {m['delta']:g}: {p['esm_kl']:.4f} (unit std: {p['esm_kl_unitstd']:.4f})",
             f"noise-to-signal measured {p['noise_to_signal']:.3g}; chapter-3 fit: scale {p['fitted_scale']:.3g}, "
             f"ratio {p['fitted_noise_ratio']:g}",
             f"high-band mass {p['high_band_mass']:.3f} (target {m['high_frequency']['high_band_mass_target']:.3f}); "
             f"HF energy share {p['hf_energy_share']:.3f} (white {m['high_frequency']['energy_share_white']:.3f})",
             f"DSM correspondence {p['dsm_correspondence']:.3f} (none: {m['correspondence']['score_null']:.3f}, "
             "perfect: 1)"]
    if "files" in record:
        lines.append(f"wrote {record['files']['json']} and {record['files']['figure']}")
    return lines


def add_arguments(parser) -> None:
    """``python -m smlib audit``'s flags (:func:`smlib.cli.build_parser`); the command calls :func:`audit` with them."""
    parser.add_argument("--autoencoder", required=True,
                        help="smlib run folder, or diffusers AutoencoderKL folder / hub id")
    parser.add_argument("--dataset", default="cifar10",
                        help="cifar10, celeba, mnist, folder (with --data-root), deadleaves")
    parser.add_argument("--n-images", type=int, default=256, help="images to measure (default 256)")
    parser.add_argument("--resolution", type=int, default=None, help="image side (default: the AE's training size)")
    parser.add_argument("--data-root", default=None, help="dataset folder (default: $SMLIB_DATA, then the cache)")
    parser.add_argument("--split", default=None, help="default: test (train for folder and deadleaves)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--out", default=None, help="output folder (default runs/audit/<name>-<dataset>-<R>px-n<N>)")
    parser.add_argument("--seed", type=int, default=0, help="image subset and posterior draw (default 0)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bands", type=int, default=4, help="DCT bands of the correspondence matrix (default 4)")


__all__ = ["FORMAT", "DEFINITIONS", "audit", "audit_figure", "summary_lines", "default_split", "add_arguments"]
