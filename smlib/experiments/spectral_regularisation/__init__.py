"""Chapter 8, spectral regularisation (notebook ``08_spectral_regularisation``): Fourier and wavelet L1 terms on
x0_hat added to DDPM and EDM training (Chandran et al. 2026).

- :mod:`.config`    :class:`SpectralRegConfig`, the arms (formulation x term x lam), the ``ci`` / ``small`` /
  ``paper`` presets
- :mod:`.recipe`    one run: CIFAR-10 -> U-ViT (DDPM or EDM) + lam w L_S -> samples -> gFID / KID / PSD error
- :mod:`.toy`       the paper's checkerboard toy
- :mod:`.analysis`  each term's pull per frequency and per noise level, before training
- :mod:`.sweep`     every (arm, seed), each committed as ``results/spectral_regularisation/<preset>/<arm>-seed<k>.json``
- :mod:`.report`    the declared comparisons, judged by :mod:`smlib.stats`, and the seeds a gain would need

The losses are :mod:`smlib.diffusion.spectral_loss`, EDM is :mod:`smlib.diffusion.edm`.
"""
from smlib.experiments.spectral_regularisation.config import AP, ARMS, Arm, SpectralRegConfig
from smlib.experiments.spectral_regularisation.recipe import (PixelDecoder, SpectralRegTask, arm_of, as_config,
                                                              build_run, formulation_for, initial_weights, model_for,
                                                              run_arm, run_dir, training_images)
from smlib.experiments.spectral_regularisation.report import (DECLARED, PAPER_GAINS, TOY_DECLARED, judge_sweep,
                                                              judge_toy, seeds_needed)
from smlib.experiments.spectral_regularisation.sweep import CHAPTER, SCORES, aggregate, load_sweep, run_sweep
from smlib.experiments.spectral_regularisation.toy import (checkerboards, load_toy, run_toy, run_toy_arm, toy_arms,
                                                           toy_samples)

__all__ = ["AP", "ARMS", "Arm", "SpectralRegConfig", "PixelDecoder", "SpectralRegTask", "arm_of", "as_config",
           "build_run", "formulation_for", "initial_weights", "model_for", "run_arm", "run_dir", "training_images",
           "DECLARED", "PAPER_GAINS", "TOY_DECLARED", "judge_sweep", "judge_toy", "seeds_needed", "CHAPTER", "SCORES",
           "aggregate", "load_sweep", "run_sweep", "checkerboards", "load_toy", "run_toy", "run_toy_arm", "toy_arms",
           "toy_samples"]
