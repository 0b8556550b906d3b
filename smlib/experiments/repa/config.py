"""Chapter 6's knobs (REPA, iREPA, DoG-REPA), declared once, its arms, and the three presets.

Every arm is the chapter-5 latent diffusion recipe on the same autoencoder's latents, with the same backbone, budget,
seeds, tap depth and encoder; only the alignment term differs:

    none             no alignment (the baseline)
    repa             REPA: MLP projector, raw target tokens, weight 0.5
    irepa-g0.6       iREPA: conv projector, target (z - 0.6 mean_T) / std_T, weight 1.0 (the LDM code's gamma)
    irepa-g1         iREPA with gamma 1 (the project page's formula: the target's DC removed)
    dog-0.5-2        DoG-REPA, our instantiation: DoG(0.5, 2) band-pass in the DCT domain + per-channel std
    dog-1-4          DoG-REPA with a lower band, DoG(1, 4)
    dog-0.5-2-nostd  the band-pass alone (the paper's unablated confound: is it the band or the normalisation?)

DoG arms keep iREPA's projector and weight so that the target is the only change from ``irepa-g1``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from smlib.diffusion.alignment import AlignmentSpec, make_alignment
from smlib.config import ConfigError, register_presets
from smlib.pipelines.latent_diffusion import LatentDiffusionConfig


@dataclass(frozen=True)
class Arm:
    """One arm: its label and the alignment recipe (None: no alignment) with the recipe's own arguments."""

    label: str
    recipe: str | None = None
    kwargs: dict = field(default_factory=dict)


ARMS: dict[str, Arm] = {
    "none": Arm("no alignment"),
    "repa": Arm("REPA (MLP, raw)", "repa"),
    "irepa-g0.6": Arm("iREPA (conv, gamma 0.6)", "irepa", dict(gamma=0.6)),
    "irepa-g1": Arm("iREPA (conv, gamma 1)", "irepa", dict(gamma=1.0)),
    "dog-0.5-2": Arm("DoG-REPA (0.5, 2) + std", "dog-repa", dict(sigma1=0.5, sigma2=2.0)),
    "dog-1-4": Arm("DoG-REPA (1, 4) + std", "dog-repa", dict(sigma1=1.0, sigma2=4.0)),
    "dog-0.5-2-nostd": Arm("DoG (0.5, 2), no std", "dog-repa", dict(sigma1=0.5, sigma2=2.0, std=False)),
}


@dataclass(frozen=True)
class RepaConfig(LatentDiffusionConfig):
    """Chapter 5's latent diffusion recipe plus the alignment knobs: one autoencoder (``variant``) for every arm."""

    variant: str = "sd-vae"                  # the lab autoencoder whose latents every arm diffuses
    encoder: str = "efficientnet-lite2"      # smlib.models.encoders name of the frozen target encoder
    encoder_layer: str | None = "blocks.4"   # its feature map (EfficientNet-Lite2 blocks.4: 120 ch, stride 16; "": default)
    encoder_input_size: int = 64             # chosen so the encoder's grid equals the model's token grid
    encoder_pretrained: bool = True          # False: random weights of the same shape, a labelled stand-in (tests)
    align_depth: int | None = None           # tap after block k; None = ceil(blocks / 3)
    projector_hidden: int = 2048             # REPA's MLP width
    kernel_size: int = 3                     # iREPA / DoG conv projector (3 as iREPA's README; its LDM recipe: 1)
    arms: tuple[str, ...] = tuple(ARMS)

    def alignment(self, arm: str) -> AlignmentSpec | None:
        """The arm's :class:`AlignmentSpec` with this config's depth, projector width and kernel (None for "none")."""
        spec = arm_of(arm)
        if spec.recipe is None:
            return None
        extra = dict(projector_hidden=self.projector_hidden) if spec.recipe == "repa" else \
            dict(kernel_size=self.kernel_size)
        return make_alignment(spec.recipe, depth=self.align_depth, **extra, **spec.kwargs)


def arm_of(name: str) -> Arm:
    if name not in ARMS:
        raise ConfigError(f"unknown arm {name!r}; choose one of: {', '.join(ARMS)} (or 'all').")
    return ARMS[name]


register_presets(
    RepaConfig,
    # minutes on 2 CPU cores: the ci autoencoder's latents (8x8x4 at 32 px), a 3-block DiT with patch 1 (64
    # tokens), EfficientNet-Lite2 blocks.4 at 128 px (8x8 tokens); no Inception
    ci=RepaConfig(
        ae_preset="ci", ae_seed=0, n_images=256,
        model=dict(arch="dit", hidden_size=32, depth=3, num_heads=2, patch_size=1),
        encoder_input_size=128, projector_hidden=64, steps=40, batch_size=32, warmup_steps=5, n_fid=0,
        n_freq=64, arms=("none", "repa", "irepa-g1", "dog-0.5-2"), seeds=(0,)),
    # the book's numbers: the lab's small SD-VAE latents (8x8x4), a DiT 128x6 with patch 1 (64 tokens, tap after
    # block 2), EfficientNet-Lite2 blocks.4 at 128 px (8x8x120), 7 arms x 3 seeds. Sized by measured costs on 2 CPU
    # cores (results/benchmarks/alignment_overhead.json): a step of batch 64 takes ~0.21 s without alignment and
    # ~0.23-0.25 s with a cached target, a gFID-250 evaluation ~30 s, so 1,500 steps + 3 evaluations + readouts are
    # ~8 min a run and the 21 runs ~3 h (plus the small SD-VAE, ~8 min, and the caches, once)
    small=RepaConfig(
        ae_preset="small", ae_seed=0, n_images=10000,
        model=dict(arch="dit", hidden_size=128, depth=6, num_heads=4, patch_size=1),
        encoder_input_size=128, projector_hidden=512,
        steps=1500, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=500, ckpt_every=250, log_every=50,
        n_fid=250, n_reference=1000, kid_subset=250, n_freq=512, seeds=(0, 1, 2)),
    # REPA's protocol (notes §2.1): ImageNet 256, SiT-B/2 on 32x32x4 latents (16x16 tokens), DINOv2-B/14 at 224 px
    # (16x16), tap after block 4, MLP 2048, batch 256, AdamW 1e-4, 400k steps, SDE Euler-Maruyama 250, FID-50k
    paper=RepaConfig(
        ae_preset="paper", dataset="folder", resolution=256, n_images=1281167, norm_mode="channel",
        class_conditional=True, num_classes=1000, model=dict(arch="dit", name="B/2", class_dropout_prob=0.1),
        encoder="dinov2-vitb14", encoder_layer="", encoder_input_size=224, align_depth=4,
        sampler="sde", sample_steps=250, steps=400000, batch_size=256, lr=1e-4, warmup_steps=0, ema_decay=0.9999,
        eval_every=100000, ckpt_every=10000, log_every=100, n_fid=10000, n_reference=50000, kid_subset=1000,
        n_final_fid=50000, n_freq=1024, seeds=(0,)),
)

__all__ = ["Arm", "ARMS", "RepaConfig", "arm_of"]
