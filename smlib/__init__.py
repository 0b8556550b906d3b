"""smlib: the library behind the Spectrum Matching book.

Modules, one concept each (imports point down this list, never up):

- ``spectral``     DCT/IDCT, block DCT, zig-zag, low-pass masks, power spectra, radial pooling, filters, RMSC
- ``theory``       closed forms of Prop. 3.1 (per-frequency SNR, Gaussian recoverable power) and Prop. 3.2
- ``data``         datasets by name, data roots and archives
- ``presets``      named scales: ``ci`` (default, minutes on 2 cores), ``small`` (the book), ``paper``
- ``models``       autoencoder, diffusion transformers, pretrained encoders
- ``regularizers`` KL, ESM, DSM, Scale Equivariance, EQ-VAE, VF loss
- ``diffusion``    schedules, losses, samplers
- ``metrics``      PSNR, SSIM, Inception features, FID/KID, latent diagnostics
- ``train``        one training loop with EMA, checkpoints and resume
- ``experiments``  the recipes the notebooks call

and two utilities every layer may use: ``device`` (resolving "auto") and ``atomic`` (atomic file writes).
"""
from smlib.device import resolve_device

__version__ = "0.1.0"
__all__ = ["resolve_device", "__version__"]
