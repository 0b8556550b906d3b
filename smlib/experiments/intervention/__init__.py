"""Chapter 5b, spectrum matching under intervention (notebook ``05b_intervention``): one autoencoder, its latent
spectrum changed by an invertible linear map, nothing else.

- :mod:`.config`  :class:`InterventionConfig` (chapter 5's recipe on one autoencoder), the arms (one map each)
- :mod:`.recipe`  one run through the arm's map, the check that every arm decodes the same latents, the sweep and
  its declared comparisons
- :mod:`.analysis`  the maps fitted live on a run's own latents, what they do to the spectrum, and each declared
  effect's interval read as the effects it rules out
- :mod:`.verdict`  the chapter's verdict as sentences computed from the paired verdicts

The maps themselves are :mod:`smlib.spectral.latent_transforms`.
"""
from smlib.experiments.intervention.config import ARMS, InterventionConfig
from smlib.experiments.intervention.recipe import (FAMILIES, METRICS, SWEEP, MappedCache, TransformedNormalizer,
                                                   arm_transform, normalizer_for, reconstruction_gap, run_arm)

__all__ = ["ARMS", "InterventionConfig", "FAMILIES", "METRICS", "SWEEP", "MappedCache", "TransformedNormalizer",
           "arm_transform", "normalizer_for", "reconstruction_gap", "run_arm"]
