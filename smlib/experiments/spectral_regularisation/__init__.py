"""Chapter 8, spectral regularisation (notebook ``08_spectral_regularisation``): Fourier and wavelet L1 terms on
x0_hat added to DDPM and EDM training (Chandran et al. 2026).

- :mod:`.config`    :class:`SpectralRegConfig`, the arms (formulation x term x lam), the ``ci`` / ``small`` /
  ``paper`` presets
- :mod:`.recipe`    one run (CIFAR-10 -> U-ViT (DDPM or EDM) + lam w L_S -> samples -> gFID / KID / PSD error),
  the sweep of them and its declared comparisons
- :mod:`.toy`       the paper's checkerboard toy, its own small sweep
- :mod:`.analysis`  each term's pull per frequency and per noise level, before training

The losses are :mod:`smlib.diffusion.spectral_loss`, EDM is :mod:`smlib.diffusion.edm`, the shared pipeline
:mod:`smlib.pipelines.pixel_diffusion`.
"""
from smlib.experiments.spectral_regularisation.config import (AP, ARMS, FIRST_SMALL, TOY_MODEL, UNET_32, Arm,
                                                              SpectralRegConfig)
from smlib.experiments.spectral_regularisation.recipe import (DECLARED, FAMILIES, METRICS, PAPER_BASELINES,
                                                              PAPER_GAINS, FIRST_SWEEP, SWEEP, PixelDecoder,
                                                              SpectralRegTask, arm_of, build_run, formulation_for,
                                                              initial_weights, model_for, paper_relative_gains,
                                                              psd_score, resample_arm, run_arm, run_folder,
                                                              seeds_for_relative_gain)
from smlib.experiments.spectral_regularisation.toy import (BOARD_R, TOY_ARMS, FIRST_TOY_SWEEP, TOY_SWEEP,
                                                           board_correlation, board_share, checkerboards, every_board,
                                                           exact_denoiser, optimal_eps_mse, run_toy_arm, toy_arms,
                                                           toy_identity, toy_samples)

__all__ = ["AP", "ARMS", "FIRST_SMALL", "UNET_32", "Arm", "SpectralRegConfig", "DECLARED", "FAMILIES", "METRICS", "PAPER_BASELINES",
           "PAPER_GAINS", "FIRST_SWEEP", "SWEEP", "FIRST_TOY_SWEEP", "PixelDecoder", "SpectralRegTask", "arm_of",
           "build_run", "formulation_for", "initial_weights", "model_for", "paper_relative_gains", "psd_score",
           "resample_arm", "run_arm", "run_folder", "seeds_for_relative_gain", "BOARD_R", "TOY_MODEL", "TOY_ARMS",
           "TOY_SWEEP", "board_correlation", "board_share", "checkerboards", "exact_denoiser", "optimal_eps_mse",
           "every_board", "run_toy_arm", "toy_arms", "toy_identity", "toy_samples"]
