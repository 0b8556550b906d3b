"""Chapter 7, DCTdiff (notebook ``07_dctdiff``): diffusion on block-DCT tokens, and the ladder from pixels to it.

- :mod:`.config`    :class:`DCTdiffConfig`, the ladder's arms, the ``ci`` / ``small`` / ``paper`` presets
- :mod:`.recipe`    one run (images -> tokens -> U-ViT diffusion -> decoded, quantised samples -> gFID/KID), the
  sweep of them and its declared comparisons
- :mod:`.analysis`  the measurements before training: eta and entropies, per-coordinate SNR, DCT upsampling

The token representation itself is :mod:`smlib.spectral.dct_tokens`, the shared pipeline
:mod:`smlib.pipelines.pixel_diffusion`.
"""
from smlib.experiments.dctdiff.config import ARMS, CIFAR10_16PX, FIRST_SMALL, PAPER_SETTINGS, Arm, DCTdiffConfig
from smlib.experiments.dctdiff.recipe import (DECLARED, DECLARED_TOML, FAMILIES, FIRST_SWEEP, METRICS, SWEEP,
                                              TokenDiffusionTask, TokenGridDecoder, arm_of, build_run,
                                              formulation_for, loss_weight, run_arm, tokenizer_for)

__all__ = ["ARMS", "CIFAR10_16PX", "FIRST_SMALL", "PAPER_SETTINGS", "Arm", "DCTdiffConfig", "DECLARED",
           "DECLARED_TOML", "FAMILIES", "FIRST_SWEEP", "METRICS", "SWEEP", "TokenDiffusionTask", "TokenGridDecoder",
           "arm_of", "build_run", "formulation_for", "loss_weight", "run_arm", "tokenizer_for"]
