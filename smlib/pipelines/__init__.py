"""The pipelines several chapters share, each one run from data to scores: a layer below the chapters
(:mod:`smlib.experiments`), above the models, losses, metrics and the training loop.

- :mod:`.autoencoder`         train and evaluate an autoencoder variant (chapter 4's lab; chapters 3, 5, 6 use it)
- :mod:`.autoencoder_runs`    a lab run folder: its record (files named relative to the folder) and its weights
- :mod:`.autoencoder_config`  the lab's knobs and presets, and the named regularizer recipes (SD-VAE, ESM, ...)
- :mod:`.latent_diffusion`    an autoencoder's latents -> a diffusion model -> gFID, KID (chapters 5, 6)
- :mod:`.latent_source`       the autoencoder a latent run diffuses, and what its decoder alone scores (its floor)
- :mod:`.pixel_diffusion`     images (or their tokens) -> a diffusion model -> decoded samples -> gFID, KID (7, 8)

A chapter package imports these, never another chapter (``tests/test_layers.py``).
"""
