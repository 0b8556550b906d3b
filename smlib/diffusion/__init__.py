"""Diffusion: noise paths, formulations with their training loss, and samplers.

- :mod:`~smlib.diffusion.schedules`  paths x_t = alpha(t) x0 + sigma(t) eps on t in [0, 1]: DDPM linear/cosine,
  continuous VP (all with DCTdiff's SNR scale), and the linear interpolant of SiT
- :mod:`~smlib.diffusion.losses`     :class:`Formulation` = path + prediction ("eps", "x0", "v"): targets,
  conversions to (x0_hat, eps_hat), and the per-sample MSE loss
- :mod:`~smlib.diffusion.samplers`   DDIM, Euler/Heun (probability-flow ODE), Euler-Maruyama (reverse SDE), with
  classifier-free guidance and x0-trajectories
- :mod:`~smlib.diffusion.edm`        EDM's sigma formulation: preconditioning, loss, Karras grid, Heun sampler
- :mod:`~smlib.diffusion.alignment`  REPA / iREPA / DoG-REPA: the representation-alignment loss term
- :mod:`~smlib.diffusion.sigma_bands` the training loss by band of EDM's ln(sigma), for a loop to log

Time convention: t = 0 is data, t = 1 is noise; models receive this t and scale it by 1000 themselves.
"""
from smlib.diffusion.edm import (EDM, EDMPrecond, EDMTimes, backbone_t_scale, edm_formulation, edm_weight, sample_edm,
                                vp_denoiser)
from smlib.diffusion.losses import (FORMULATIONS, PREDICTIONS, Formulation, ddpm, interpolant, make_formulation,
                                    mean_part)
from smlib.diffusion.samplers import (SAMPLERS, Trajectory, ddim_noise_std, guided_output, logsnr_grid, sample,
                                      sample_ddim, sample_dpmpp_2m, sample_euler, sample_euler_maruyama, sample_heun,
                                      time_grid)
from smlib.diffusion.sigma_bands import BandMeter, SigmaBands, edm_sigma
from smlib.diffusion.schedules import (PATHS, ContinuousVP, CosineVP, DiscreteVP, LinearBetaVP, LinearInterpolant,
                                       NoisePath, VPPath, cosine_alpha_bar, draw_normal, draw_uniform, make_path,
                                       scale_alpha_bar_snr, time_at_log_snr)

__all__ = [
    "NoisePath", "VPPath", "DiscreteVP", "LinearBetaVP", "CosineVP", "ContinuousVP", "LinearInterpolant", "PATHS",
    "make_path", "cosine_alpha_bar", "scale_alpha_bar_snr", "time_at_log_snr", "draw_uniform", "draw_normal",
    "Formulation", "PREDICTIONS", "FORMULATIONS", "ddpm", "interpolant", "make_formulation", "mean_part",
    "Trajectory", "ddim_noise_std", "guided_output", "time_grid", "logsnr_grid", "sample", "sample_ddim",
    "sample_euler", "sample_heun", "sample_euler_maruyama", "sample_dpmpp_2m", "SAMPLERS",
    "EDM", "EDMPrecond", "EDMTimes", "backbone_t_scale", "edm_formulation", "edm_weight", "sample_edm", "vp_denoiser",
    "SigmaBands", "BandMeter", "edm_sigma",
]
