"""Chapter 4, the autoencoder lab (notebook ``04_autoencoders``): every regularizer variant trained with one budget,
then scored on reconstructions and latents.

- :mod:`.config`         :class:`AutoencoderConfig`, its knobs and the ``ci`` / ``small`` / ``paper`` presets
- :mod:`.variants`       the named regularizer recipes (SD-VAE, ESM, DSM, Scale Equivariance, EQ-VAE, VA-VAE, plain)
- :mod:`.recipe`         build, train, evaluate and tabulate runs
- :mod:`.special_cases`  Scale Equivariance as a spectral mask: exact DCT-domain resizing against bilinear
- :mod:`.shards`         one committed shard per (variant, seed): the table with its seed spread
- :mod:`.report`         the chapter's claims as declared comparisons over the seeds, judged by :mod:`smlib.stats`
"""
from smlib.experiments.autoencoders.config import AutoencoderConfig
from smlib.experiments.autoencoders.recipe import (CHAPTER, TABLE_COLUMNS, AERecipe, AutoencoderTask, TrainedAE,
                                                   as_config, build_recipe, build_vf_source, check_sizes,
                                                   data_description, eval_images, eval_settings, fit_autoencoder,
                                                   load_autoencoder, model_config, run_dir_for, run_key,
                                                   run_variants, table_rows, train_config, training_data,
                                                   write_results)
from smlib.experiments.autoencoders.special_cases import dct_resize, resize_agreement
from smlib.experiments.autoencoders.variants import (VARIANTS, Variant, get_variant, list_variants,
                                                     matched_kl_weight, resolve_spec)

ALL_VARIANTS = tuple(list_variants())

__all__ = ["AutoencoderConfig", "CHAPTER", "TABLE_COLUMNS", "AERecipe", "AutoencoderTask", "TrainedAE", "as_config",
           "build_recipe", "build_vf_source", "check_sizes", "data_description", "eval_images", "eval_settings",
           "fit_autoencoder", "load_autoencoder", "model_config", "run_dir_for", "run_key", "run_variants",
           "table_rows", "train_config", "training_data", "write_results", "dct_resize", "resize_agreement",
           "VARIANTS", "Variant", "get_variant", "list_variants", "matched_kl_weight", "resolve_spec", "ALL_VARIANTS"]
