"""Models: the autoencoder (SD-VAE design), the PatchGAN discriminator, the diffusion backbones (DiT/SiT, U-ViT)
with their factory, the chapter-1 pixel denoiser, and pretrained encoders (offline weights explicit).

- :mod:`~smlib.models.autoencoder`    encoder/decoder with a diagonal Gaussian posterior, named configs
- :mod:`~smlib.models.discriminator`  PatchGAN
- :mod:`~smlib.models.dit`, :mod:`~smlib.models.uvit`   diffusion transformers, with hidden states for REPA
- :mod:`~smlib.models.factory`        ``build_backbone`` by name or size, ``count_parameters``
- :mod:`~smlib.models.denoiser`       the dilated-conv denoiser of chapter 1
- :mod:`~smlib.models.encoders`       frozen feature encoders by name (EfficientNet-Lite2 offline, DINOv2 online)
"""
from smlib.models.encoders import (PatchEncoder, WeightsUnavailableError, available_encoders, build_encoder,
                                   efficientnet_lite2_weights_path, load_efficientnet_lite2_weights)
from smlib.models.factory import build_backbone, count_parameters

__all__ = ["PatchEncoder", "WeightsUnavailableError", "available_encoders", "build_encoder",
           "efficientnet_lite2_weights_path", "load_efficientnet_lite2_weights", "build_backbone", "count_parameters"]
