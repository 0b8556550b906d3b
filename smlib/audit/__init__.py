"""A spectrum audit for any autoencoder: smlib run folders and diffusers ``AutoencoderKL`` folders alike.

    from smlib.audit import audit, autoencoder_probes, probe_correlations
    record = audit("runs/autoencoders/small/dsm-<key>", dataset="cifar10", n_images=512)   # audit.json + audit.png
    probes = autoencoder_probes(model, images)            # {probe: float} of one AE, for a sweep's run result
    rows = probe_correlations({"esm_kl": {...}, ...}, {run: gfid, ...})   # rho, permutation p, Fisher-z interval

Modules: ``load`` (any autoencoder behind one interface), ``probes`` (every spectral number of one autoencoder and
their definitions), ``report`` (the audit's JSON and figure), ``correlate`` (does a probe predict an outcome).
"""
from smlib.audit.correlate import detectable_rho, fisher_interval, probe_correlations, spearman_permutation
from smlib.audit.load import AuditedAutoencoder, load_audited, load_diffusers, load_smlib_run, wrap
from smlib.audit.probes import (ESM_DELTA, PROBES, autoencoder_probes, band_correspondence, hf_energy_share, measure,
                                probe_values, white_share)
from smlib.audit.report import audit, audit_figure, summary_lines

__all__ = ["audit", "audit_figure", "summary_lines", "measure", "probe_values", "autoencoder_probes", "PROBES",
           "ESM_DELTA", "band_correspondence", "hf_energy_share", "white_share", "probe_correlations",
           "spearman_permutation", "fisher_interval", "detectable_rho", "AuditedAutoencoder", "load_audited",
           "load_smlib_run", "load_diffusers", "wrap"]
