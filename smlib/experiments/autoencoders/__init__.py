"""Chapter 4, the autoencoder lab (notebook ``04_autoencoders``): every regularizer variant trained with one budget,
then scored on reconstructions and latents.

- :mod:`.recipe`         the sweep (variant x seed, one committed file each), its metrics and declared comparisons
- :mod:`.judgement`      what the chapter prints beside a family's verdicts: arms without runs, the pooled
                         sensitivity test's agreement, the effect an unresolved pair leaves open
- :mod:`.special_cases`  Scale Equivariance as a spectral mask: exact DCT-domain resizing against bilinear

The lab itself (config, variants, training, evaluation) is :mod:`smlib.pipelines.autoencoder`: chapters 3, 5 and 6
use the same autoencoders.
"""
from smlib.experiments.autoencoders.recipe import COLUMNS, FAMILIES, LOWPASS_K, METRICS, SWEEP, flat_row, run_variant
from smlib.experiments.autoencoders.judgement import (arms_without_runs, column_values, open_effect_lines,
                                                     pooled_agreement)
from smlib.experiments.autoencoders.special_cases import dct_resize, resize_agreement

__all__ = ["COLUMNS", "FAMILIES", "LOWPASS_K", "METRICS", "SWEEP", "flat_row", "run_variant", "dct_resize",
           "resize_agreement", "arms_without_runs", "column_values", "open_effect_lines", "pooled_agreement"]
