"""Chapter 5, diffusability (notebook ``05_diffusability``): which latents does one diffusion recipe generate best
from?

- :mod:`.config`  :class:`DiffusabilityConfig`, its knobs, the ``ci`` / ``small`` / ``paper`` presets
- :mod:`.recipe`  one run: the lab's autoencoder -> latent cache -> diffusion training -> gFID/KID, decoder floor
- :mod:`.sweep`   every (variant, seed) and the floors, gathered into ``results/diffusability/<preset>.json``
- :mod:`.shards`  every (variant, autoencoder seed, seed) as its own committed shard, with its autoencoder's floor
- :mod:`.report`  how the sweep is read: the declared comparisons, judged by :mod:`smlib.stats`
"""
from smlib.experiments.diffusability.config import PAPER_SETTINGS, VARIANTS, DiffusabilityConfig
from smlib.experiments.diffusability.recipe import (LatentDiffusionTask, as_config, decoder_floor,
                                                    fit_latent_diffusion, num_classes_of, obtain_autoencoder,
                                                    run_dir, run_variant, task_config)
from smlib.experiments.diffusability.shards import load_shards, run_shards, seed_table
from smlib.experiments.diffusability.sweep import aggregate, run_sweep, write_run_grids

__all__ = ["DiffusabilityConfig", "PAPER_SETTINGS", "VARIANTS", "LatentDiffusionTask", "as_config", "decoder_floor",
           "fit_latent_diffusion", "num_classes_of", "obtain_autoencoder", "run_dir", "run_variant", "task_config",
           "aggregate", "run_sweep", "write_run_grids", "run_shards", "load_shards", "seed_table"]
