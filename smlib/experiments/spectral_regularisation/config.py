"""Chapter 8's knobs (spectral regularisation), declared once, its arms, and the three presets.

An arm is a formulation (DDPM or EDM) and, optionally, one spectral term with its scale:

    L = L_base + lam * w(sigma) * L_S(x0, x0_hat)        w = lambda_EDM(sigma) ("weighted") or 1 ("unweighted")

lam = 1 is the seed paper's own form (Eq. 17: lambda = lambda_EDM(sigma) or 1) under our reduction, where both the
base loss and L_S are per-element means (``smlib.diffusion.spectral_loss``); smaller lam are the same term weaker.
The paper gives no scale beyond that, and an L1 term has none of its own. Measured on the ci model at
initialisation (chapter 8 prints it again): the unweighted amp-phase term on DDPM's x0_hat is about 40x the
eps-MSE (x0_hat = (x_t - sigma eps_hat) / alpha amplifies the error by sigma / alpha, up to 156 at t = T), the
lambda_EDM-weighted one on EDM's D about 9x EDM's loss; hence lam in {0.01, 0.1, 1} for DDPM (0.4x to 40x the base
loss) and {0.1, 1} for EDM (1x and 9x). Our sweep, not the paper's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from smlib.diffusion.spectral_objective import EDM_TIME_INPUTS, FORMULATIONS, SpectralArm
from smlib.models.edm_weights import EDM_CIFAR10
from smlib.config import ConfigError, DiffusionRecipeConfig, PresetConfig, register_presets

#: an arm of this chapter: :class:`smlib.diffusion.spectral_objective.SpectralArm` (the audio experiment's too)
Arm = SpectralArm

AP = "fourier-amplitude-phase"
#: the toy's network in the committed toy runs: a 2-block U-ViT on 4x4 patches (64 tokens of a 32-px board)
TOY_MODEL = dict(arch="uvit", hidden_size=64, depth=2, num_heads=4, patch_size=4)
ARMS: dict[str, Arm] = {
    "ddpm": Arm("DDPM, eps-MSE"),
    "ddpm-ap-0.01": Arm("DDPM + 0.01 amp-phase", "ddpm", AP, 0.01),
    "ddpm-ap-0.1": Arm("DDPM + 0.1 amp-phase", "ddpm", AP, 0.1),
    "ddpm-ap-1": Arm("DDPM + amp-phase (paper's unweighted)", "ddpm", AP, 1.0),
    "edm": Arm("EDM, lambda_EDM-weighted MSE", "edm"),
    "edm-ap-0.1": Arm("EDM + 0.1 lambda_EDM amp-phase", "edm", AP, 0.1, weighted=True),
    "edm-ap-1": Arm("EDM + lambda_EDM amp-phase (paper's weighted)", "edm", AP, 1.0, weighted=True),
    "edm-wavelet-1": Arm("EDM + lambda_EDM Haar L1 (paper's weighted)", "edm", "wavelet", 1.0, weighted=True,
                         options=dict(wavelet="haar", levels=3, include_ll=True)),
}


@dataclass(frozen=True)
class SpectralRegConfig(DiffusionRecipeConfig):
    """Pixel diffusion on CIFAR-10 with and without a spectral term. Training knobs share their names with
    TrainConfig."""

    #: what the EDM arms' backbone embeds: 1000 c_noise (the committed runs) or c_noise as EDM does (since
    #: 2026-12-07); left out of the identity at its earlier value, so the committed runs keep theirs
    ADDED_KNOBS: ClassVar[dict] = {"edm_time_input": "1000*c_noise", "edm_sampler": "", "edm_sample_steps": 18}
    #: the checkerboard toy is its own sweep (:mod:`.toy`): its knobs do not identify a CIFAR-10 run
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = PresetConfig.NOT_IDENTITY + (
        "toy_size", "toy_squares", "toy_images", "toy_steps", "toy_lam", "toy_samples", "toy_seeds", "toy_model",
        "toy_eval_every")

    # data
    dataset: str = "cifar10"
    split: str = "train"
    resolution: int = 32
    n_images: int = 512                      # a seeded subset of the split (random h-flip every step)
    subset_seed: int = 0
    hflip: bool = True
    edm_time_input: str = "1000*c_noise"     # EDM arms: the backbone's sincos(1000 t) sees 1000 c_noise, or "c_noise"
    # model: a U-ViT on the image itself (patch 4: 64 tokens of 4x4x3 pixels, as chapter 7's pixel rung)
    model: dict = field(default_factory=lambda: dict(arch="uvit", hidden_size=64, depth=2, num_heads=4,
                                                     patch_size=4))
    init_from: str | None = None             # a state_dict (.pt, loaded weights_only) to fine-tune from (paper)
    # sampling: one sampler for every arm (EDM's model is an x0-predictor on the same VP path)
    sampler: str = "dpmpp_2m"
    sample_steps: int = 25
    # the EDM arms' own sampler, if any ("edm": EDM's Heun from sigma_max = 80, 18 steps = 35 network calls, its
    # CIFAR-10 setting); "" gives them ``sampler`` from t = 1 (sigma_EDM ~ 157), as the committed runs
    edm_sampler: str = ""
    edm_sample_steps: int = 18
    # evaluation: the final step's EMA model
    n_fid: int = 32
    n_reference: int = 64
    kid_subset: int = 32
    n_grid: int = 16
    # the checkerboard toy (the seed paper's own toy; its period, steps and lam are not given: ours)
    toy_size: int = 32
    toy_squares: tuple[int, ...] = (4, 8)    # square sides in pixels; a board has one, at a random offset
    toy_images: int = 512
    toy_steps: int = 150
    toy_lam: float = 1.0
    toy_samples: int = 64
    toy_seeds: tuple[int, ...] = (0, 1, 2)
    toy_model: dict = field(default_factory=lambda: dict(TOY_MODEL))   # the committed toy runs' network
    toy_eval_every: int | None = None        # sample and score every k steps (a learning curve); None: at the end
    # the sweep
    arms: tuple[str, ...] = tuple(ARMS)
    seeds: tuple[int, ...] = (0,)

    def sampler_for(self, arm: Arm) -> tuple[str, int]:
        """(sampler, steps) for an arm: ``edm_sampler`` for the EDM arms when set, else ``sampler``."""
        if arm.formulation == "edm" and self.edm_sampler:
            return self.edm_sampler, self.edm_sample_steps
        return self.sampler, self.sample_steps

    def __post_init__(self):
        super().__post_init__()
        if self.edm_time_input not in EDM_TIME_INPUTS:
            raise ConfigError(f"edm_time_input must be one of {', '.join(EDM_TIME_INPUTS)}, got "
                              f"{self.edm_time_input!r}.")


SpectralRegConfig.ARM_NAMES = tuple(ARMS)
#: the re-run's network: DDPM++ (smlib.models.unet) at 32 channels, one block a level, attention at 8 px
UNET_32 = dict(arch="unet", model_channels=32, channel_mult=(1, 2, 2), num_blocks=1, attn_resolutions=(8,))
register_presets(
    SpectralRegConfig,
    # a few minutes on 2 CPU cores for all arms: a smoke test of the pipeline
    ci=SpectralRegConfig(),
    # the book's sweep, the re-run (issue 25): CIFAR-10 at 16 px on a DDPM++ U-Net (1.26 M parameters), where both
    # baselines learn (their learning curves, results/curves/cifar16-unet32: gFID-250 116 (DDPM) and 95 (EDM) at
    # 4,000 steps, seed 0), 4 arms x 5 seeds; the EDM arms sample with EDM's Heun and embed c_noise as EDM does. The
    # toy on the same U-Net at 32 px (board share 0.67 at 1,500 steps on its curve). Measured alone on 2 CPU cores
    # (2026-12-07): 0.16 s a CIFAR step, ~13 min a run with its eight evaluations; 0.45 s a toy step, ~12 min a toy
    # run: ~6.3 h for the 20 + 10 runs.
    small=SpectralRegConfig(
        resolution=16, n_images=10000, model=dict(UNET_32), edm_sampler="edm", edm_time_input="c_noise",
        steps=4000, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=500, ckpt_every=250, log_every=50,
        n_fid=250, n_reference=1000, kid_subset=250, arms=("ddpm", "ddpm-ap-1", "edm", "edm-ap-1"),
        seeds=(0, 1, 2, 3, 4), toy_images=2048, toy_steps=1500, toy_samples=256, toy_model=dict(UNET_32),
        toy_eval_every=500, toy_seeds=(0, 1, 2, 3, 4)),
    # the seed paper's CIFAR-10 protocol (its Table 3: EDM's optimiser, batch 16, lr 2e-4, "Duration 0.5" = 0.5 Mimg
    # = 31,250 steps at batch 16; FID-50k, 3 seeds), fine-tuning the checkpoint a user gives in ``init_from``: EDM's
    # own DDPM++ (smlib.models.unet at EDM's CIFAR-10 size, 55.7 M parameters, EDM's dropout 0.13 and its embedding
    # of c_noise), so a state dict of EDM's released unconditional CIFAR-10 network loads as it is
    # (smlib.models.edm_weights; the paper's CIFAR-10 rows are conditional, this pipeline is unconditional).
    # Launched with torchrun. Not reproduced: EDM's 10-Mimg linear LR ramp
    # (``NVlabs/edm@008a4e5:training/training_loop.py``, lr_rampup_kimg=10000: under it a 0.5-Mimg fine-tune never
    # exceeds 5% of the nominal LR) and its augmentation.
    paper=SpectralRegConfig(
        n_images=50000, model=dict(arch="unet", **EDM_CIFAR10, dropout=0.13), edm_time_input="c_noise",
        steps=31250, batch_size=16, lr=2e-4, warmup_steps=0,
        ema_decay=0.9999, eval_every=None, ckpt_every=2500, log_every=100, sampler="edm", sample_steps=18,
        n_fid=50000, n_reference=50000, kid_subset=1000, seeds=(0, 1, 2),
        arms=("edm", "edm-ap-1", "edm-wavelet-1"),
        toy_size=64, toy_images=4096, toy_steps=5000, toy_samples=1000),
)

#: the first sweep's recipe (results/spectral_regularisation/small-v1, 8 arms x 3 seeds on 2 CPU cores): a U-ViT at
#: 32 px for 1,500 steps. Measured before it (2026-12-04): a step 154 ms (DDPM) to 166 ms (EDM + Haar term), a
#: gFID-250 evaluation 14-17 s, ~5 min a run with its three evaluations, ~2 h for the 24 runs, plus the toy (its
#: 2-block U-ViT, TOY_MODEL, 1,000 steps).
FIRST_SMALL = SpectralRegConfig(
    preset="small-v1", n_images=10000, model=dict(arch="uvit", hidden_size=128, depth=4, num_heads=4, patch_size=4),
    steps=1500, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=500, ckpt_every=250, log_every=50,
    n_fid=250, n_reference=1000, kid_subset=250, seeds=(0, 1, 2),
    toy_images=2048, toy_steps=1000, toy_samples=256)

__all__ = ["FORMULATIONS", "Arm", "ARMS", "AP", "TOY_MODEL", "UNET_32", "FIRST_SMALL", "SpectralRegConfig"]
