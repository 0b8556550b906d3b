"""Reading the lab's seeds (chapter 4): its claims as declared comparisons, judged by :mod:`smlib.stats`.

Each claim of chapter 4 compares two variants on one metric of the lab's table. The pairs are the comparisons the
chapter's check cells printed, one seed each, before the lab was re-run with autoencoder seeds (chapter 4 as of
commit f06e1ca); they were written down here before the last of those seeds ran, with where each expectation
comes from:

* ESM-AE closer to its flattened target than SD-VAE (KL of the descriptor): the paper's prose (§3.3: ESM matches the
  latent spectrum to the flattened image spectrum; SD-VAE's latent is over-whitened).
* DSM-AE loses less PSNR than the plain AE and SD-VAE when its latent is low-passed: the paper's prose (§3.3: DSM
  makes low latent bands decode to low image bands).
* VA-VAE's latent steeper than SD-VAE's: the paper's prose (§3.4: VA-VAE's latents approximately follow a power law);
  EQ-VAE's the same: our extension of it.

One family per metric, Holm-corrected; the seed variance is pooled over every variant of the lab (each metric has
its own units). The unit of replication is the autoencoder seed.
"""
from __future__ import annotations

import numpy as np

from smlib.experiments.autoencoders.recipe import table_rows
from smlib.experiments.autoencoders.variants import VARIANTS
from smlib.experiments.latent_spectra import high_band_mass
from smlib.results import mean_pm_std
from smlib.stats import Comparison, judge

#: the low-pass cut whose PSNR loss is DSM's test (the lowest three anti-diagonals of each 8x8 block kept)
LOWPASS_K = 12

#: metric -> (lower is better, the declared pairs "better, worse, source, note")
DECLARED = {
    "kl_to_target": (True, (
        Comparison("esm", "sd-vae", "paper prose", "§3.3: ESM flattens the spectrum, KL over-whitens it"),
    )),
    "lowpass_psnr_loss": (True, (
        Comparison("dsm", "plain", "paper prose", "§3.3: low latent bands decode to low image bands"),
        Comparison("dsm", "sd-vae", "paper prose", "§3.3: low latent bands decode to low image bands"),
    )),
    "psd_slope_latent": (False, (
        Comparison("vf", "sd-vae", "paper prose", "§3.4: VA-VAE's latents approximately follow a power law"),
        Comparison("eqvae", "sd-vae", "our inference", "the same for EQ-VAE, a special case of DSM"),
    )),
}


#: the book's columns of the lab's table: key of :func:`.shards.seed_rows` -> (header, format, scale)
SEED_COLUMNS = {"rfid": ("rFID", ".1f", 1.0), "kid": ("KID x1e3", ".1f", 1e3), "psnr": ("PSNR", ".2f", 1.0),
                "ssim": ("SSIM", ".3f", 1.0), "kl_to_target": ("KL to target", ".3f", 1.0),
                "psd_slope_latent": ("PSD exponent", ".2f", 1.0), "noise_to_signal": ("noise ratio r", ".2g", 1.0),
                f"lowpass_psnr_k{LOWPASS_K}": (f"low-pass PSNR k={LOWPASS_K}", ".2f", 1.0),
                "lowpass_fid_k10": ("low-pass rFID k=10", ".1f", 1.0)}


def seed_table_rows(rows: list[dict], columns=SEED_COLUMNS) -> list[dict]:
    """:func:`.shards.seed_rows` as display rows: each column ``"mean ± std"`` over the seeds, with the variant's
    label and its seeds. Headers: ``{"variant": ..., "seeds": ..., **{k: header}}``."""
    out = []
    for r in rows:
        row = {"variant": VARIANTS[r["variant"]].label if r["variant"] in VARIANTS else r["variant"],
               "seeds": ", ".join(map(str, r["seeds"]))}
        row.update({k: mean_pm_std(r.get(k), r.get(f"{k}_std"), fmt, scale) for k, (_, fmt, scale) in columns.items()})
        out.append(row)
    return out


def seed_table_columns(columns=SEED_COLUMNS) -> dict[str, str]:
    """The headers of :func:`seed_table_rows`, as :func:`smlib.results.html_table` takes them."""
    return {"variant": "variant", "seeds": "seeds", **{k: header for k, (header, _, _) in columns.items()}}


def run_values(runs: list[dict], metric: str) -> dict[str, np.ndarray]:
    """{variant: (S,) one value of ``metric`` per seed}. ``metric`` is a column of :func:`.recipe.table_rows`,
    ``lowpass_psnr_loss`` (PSNR minus the PSNR of decoding a latent low-passed at :data:`LOWPASS_K`) or
    ``high_band_mass`` (the latent descriptor's share in bins 9-16, :func:`..latent_spectra.high_band_mass`)."""
    out: dict[str, list[float]] = {}
    for r in sorted(runs, key=lambda r: int(r["seed"])):
        row = table_rows({r["variant"]: r})[0]
        if metric == "lowpass_psnr_loss":
            value = row["psnr"] - row[f"lowpass_psnr_k{LOWPASS_K}"]
        elif metric == "high_band_mass":
            value = high_band_mass(r["metrics"]["spectra"]["p_z"])
        else:
            value = row.get(metric)
        if value is None:
            raise KeyError(f"run {r['variant']} seed {r['seed']} has no {metric!r}; columns: {', '.join(row)}.")
        out.setdefault(r["variant"], []).append(float(value))
    return {v: np.asarray(x) for v, x in out.items()}


def judge_lab(runs: list[dict], declared=DECLARED, alpha: float = 0.05) -> dict[str, list[dict]]:
    """{metric: :func:`smlib.stats.judge` rows} of the declared pairs over the lab's seeds; pairs with a variant not
    in ``runs`` are left out."""
    judged = {}
    for metric, (lower, comparisons) in declared.items():
        values = run_values(runs, metric)
        present = [c for c in comparisons if c.better in values and c.worse in values]
        judged[metric] = judge(values, present, alpha=alpha, lower_is_better=lower) if present else []
    return judged


__all__ = ["LOWPASS_K", "DECLARED", "SEED_COLUMNS", "seed_table_rows", "seed_table_columns", "run_values", "judge_lab"]
