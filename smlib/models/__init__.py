"""Models: pretrained encoders (and, later, the autoencoder and diffusion transformers)."""
from smlib.models.encoders import (PatchEncoder, WeightsUnavailableError, available_encoders, build_encoder,
                                   efficientnet_lite2_weights_path, load_efficientnet_lite2_weights)

__all__ = ["PatchEncoder", "WeightsUnavailableError", "available_encoders", "build_encoder",
           "efficientnet_lite2_weights_path", "load_efficientnet_lite2_weights"]
