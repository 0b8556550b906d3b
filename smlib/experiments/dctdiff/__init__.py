"""Chapter 7, DCTdiff (notebook ``07_dctdiff``): diffusion on block-DCT tokens, and the ladder from pixels to it.

- :mod:`.config`  :class:`DCTdiffConfig`, the ladder's arms, the ``ci`` / ``small`` / ``paper`` presets
- :mod:`.recipe`  one run: images -> tokens -> U-ViT diffusion -> decoded, quantised samples -> gFID/KID
- :mod:`.sweep`   every (arm, seed), each committed as ``results/dctdiff/<preset>/<arm>-seed<k>.json``
- :mod:`.report`  the declared comparisons, judged by :mod:`smlib.stats`

The token representation itself is :mod:`smlib.spectral.dct_tokens`.
"""
from smlib.experiments.dctdiff.config import ARMS, PAPER_SETTINGS, Arm, DCTdiffConfig
from smlib.experiments.dctdiff.recipe import (TokenDiffusionTask, TokenGridDecoder, arm_of, as_config, build_run,
                                              formulation_for, loss_weight, reference_for, run_arm, run_dir,
                                              tokenizer_for, training_images)
from smlib.experiments.dctdiff.report import DECLARED, judge_ladder
from smlib.experiments.dctdiff.sweep import CHAPTER, aggregate, load_sweep, run_sweep, shard_name

__all__ = ["ARMS", "PAPER_SETTINGS", "Arm", "DCTdiffConfig", "TokenDiffusionTask", "TokenGridDecoder", "arm_of",
           "as_config", "build_run", "formulation_for", "loss_weight", "reference_for", "run_arm", "run_dir",
           "tokenizer_for", "training_images", "DECLARED", "judge_ladder", "CHAPTER", "aggregate", "load_sweep",
           "run_sweep", "shard_name"]
