"""Chapter 4, the autoencoder lab (notebook ``04_autoencoders``): every regularizer variant trained with one budget,
then scored on reconstructions and latents.

- :mod:`.recipe`         the sweep (variant x seed, one committed file each), its metrics and declared comparisons
- :mod:`.special_cases`  Scale Equivariance as a spectral mask: exact DCT-domain resizing against bilinear

The lab itself (config, variants, training, evaluation) is :mod:`smlib.pipelines.autoencoder`: chapters 3, 5 and 6
use the same autoencoders.
"""
from smlib.experiments.autoencoders.recipe import (ARMS, COLUMNS, FAMILIES, LOWPASS_K, METRICS, SWEEP, column_values,
                                                   flat_row, run_variant)
from smlib.experiments.autoencoders.special_cases import dct_resize, resize_agreement

__all__ = ["ARMS", "COLUMNS", "FAMILIES", "LOWPASS_K", "METRICS", "SWEEP", "column_values", "flat_row", "run_variant",
           "dct_resize", "resize_agreement"]
