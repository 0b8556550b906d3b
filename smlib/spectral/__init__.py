"""The spectral toolkit: transforms, spectra, filters and the RMSC of token fields.

Everything works on batched torch tensors on any device and is differentiable, so the same functions serve the
analysis in the notebooks and the regularizers in training.
"""
from smlib.spectral.blocks import (block_dct2, block_idct2, block_lowpass, block_merge, block_split, lowpass_mask,
                                   zigzag_order)
from smlib.spectral.contrast import (directional_energy, directional_spectrum, dog_dct_gain, dog_filter, dog_normalize,
                                     gaussian_dct_gain, rmsc,
                                     spatial_normalize, unit_tokens)
from smlib.spectral.dct import dct2, dct_matrix, idct2
from smlib.spectral.dct_tokens import DCTTokenizer, dct_upsample, rgb_to_ycbcr, ycbcr_to_rgb
from smlib.spectral.filters import (difference_of_gaussians, dog_peak_frequency, dog_response, downsampling_response,
                                    esm_image_target, gaussian_blur, gaussian_kernel1d, gaussian_response, resize)
from smlib.spectral.latent_transforms import LatentTransform, fit_transform, radial_power, transform_spectra
from smlib.spectral.power import (PowerLawFit, band_power, dct_power, dct_radial_bins, fft_power, fit_power_law,
                                  psd_log_error, radial_average, radial_frequency_grid, radial_pool, radial_psd,
                                  spectrum_distribution)
from smlib.spectral.synthesis import power_law_field

__all__ = [
    "dct_matrix", "dct2", "idct2",
    "DCTTokenizer", "rgb_to_ycbcr", "ycbcr_to_rgb", "dct_upsample",
    "block_split", "block_merge", "block_dct2", "block_idct2", "zigzag_order", "lowpass_mask", "block_lowpass",
    "dct_power", "dct_radial_bins", "radial_pool", "band_power", "spectrum_distribution",
    "fft_power", "radial_frequency_grid", "radial_average", "radial_psd", "psd_log_error", "PowerLawFit",
    "fit_power_law",
    "gaussian_kernel1d", "gaussian_blur", "difference_of_gaussians", "gaussian_response", "dog_response",
    "dog_peak_frequency", "resize", "downsampling_response", "esm_image_target",
    "unit_tokens", "rmsc", "directional_spectrum", "directional_energy", "spatial_normalize", "dog_normalize",
    "gaussian_dct_gain", "dog_dct_gain", "dog_filter",
    "power_law_field",
    "LatentTransform", "fit_transform", "radial_power", "transform_spectra",
]
