"""EQ-VAE as its paper trains it (issue 23): the transforms on the lab's 8x8 latent, and the fine-tuning from the
SD-VAE run of the same seed (smlib.regularizers.eqvae, smlib.pipelines.autoencoder and its config)."""
import pytest
import torch
import torch.nn.functional as F

from smlib.pipelines import autoencoder as lab
from smlib.pipelines.autoencoder import finetune_start
from smlib.pipelines.autoencoder_config import EXTRA_VARIANTS, FINETUNE_SHARE, get_variant, list_variants
from smlib.provenance import resolve_repo_path
from smlib.regularizers.eqvae import EQVAE, EQVAE_SCALES, eqvae_scales
from smlib.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

SCALES_8 = (4 / 8, 5 / 8, 6 / 8, 7 / 8)
# the micro budget of test_autoencoder_lab: 32 px, a 3-level AE of width 8 (8x8x4 latents), a few steps
TINY = dict(ae_channels=(8, 8, 8), n_train=32, steps=6, batch_size=8, warmup_steps=2, log_every=2, ckpt_every=3,
            fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0, 8), eval_batch=8, dataset="deadleaves")


def tiny(**extra):
    return lab.AutoencoderConfig.at("ci", **{**TINY, **extra})


def latent_pair(eq, x, z, s, k=0):
    return eq.apply(x, z, {"active": True, "scale": (s, s), "angle": k}, factor=4)


# ------------------------------------------------------------------------------------------------ transforms
def test_scales_follow_the_released_rule_from_one_half():
    """One scale per integer latent side from h/2 to h-1; with the floor 1/4 at h = 32 it is the released set."""
    assert eqvae_scales(8) == SCALES_8
    assert eqvae_scales(32, min_scale=0.25) == EQVAE_SCALES == tuple(k / 32 for k in range(8, 32))
    assert eqvae_scales(16) == tuple(k / 16 for k in range(8, 16))
    with pytest.raises(ValueError, match="no integer latent side"):
        eqvae_scales(1)
    def built(variant):   # the EQVAE module the lab's objective actually holds
        return next(r for r in lab.build_recipe(variant, tiny(), seed=0).ae_loss.regularizers if isinstance(r, EQVAE))

    assert built("eqvae").scales == SCALES_8                               # the arm on the 8x8 latent
    assert built("eqvae-scratch").scales == EQVAE_SCALES                   # the released set, kept by name


def test_every_latent_position_reaches_the_pair_from_one_half_down_to_not_below():
    """The docstring's claim, by the Jacobian of the latent resize: for s in {4..7}/8 every one of the 8 x 8
    positions feeds some output; at 3/8 rows/columns 2 and 5 feed none, at 2/8 rows/columns 0, 3, 4 and 7."""
    eq, x = EQVAE(scales=SCALES_8), torch.zeros(1, 3, 32, 32)

    def reached(s):   # (8, 8) bool: does latent position (i, j) feed any output? (bilinear weights are >= 0)
        z = torch.zeros(1, 1, 8, 8, requires_grad=True)
        (jac,) = torch.autograd.grad(latent_pair(eq, x, z, s)[1].sum(), z)
        return jac[0, 0] > 0

    for s in SCALES_8:
        assert reached(s).all(), s
    assert reached(3 / 8).any(0).nonzero().flatten().tolist() == [0, 1, 3, 4, 6, 7]
    assert reached(2 / 8).any(0).nonzero().flatten().tolist() == [1, 2, 5, 6]
    assert torch.equal(reached(2 / 8), reached(2 / 8).T)


def test_downscale_of_a_smooth_latent_matches_the_closed_form():
    """Bilinear resampling is exact on a linear ramp: output (p, q) is the ramp at source coordinates
    ((p + 1/2) / s - 1/2, (q + 1/2) / s - 1/2), for every scale of the arm; at s = 1/2 it is the 2x2 mean of any
    latent; the image goes to exactly 4 h' px."""
    eq, x = EQVAE(scales=SCALES_8), torch.randn(2, 3, 32, 32)
    i = torch.arange(8.0)
    ramp = (0.3 * i[:, None] - 0.7 * i[None, :] + 0.1).expand(2, 4, 8, 8)
    for s in SCALES_8:
        x_t, z_t = latent_pair(eq, x, ramp, s)
        n = round(8 * s)
        c = (torch.arange(n, dtype=torch.float64) + 0.5) / s - 0.5
        expected = (0.3 * c[:, None] - 0.7 * c[None, :] + 0.1).float()
        assert z_t.shape == (2, 4, n, n) and x_t.shape == (2, 3, 4 * n, 4 * n)
        torch.testing.assert_close(z_t[0, 0], expected, rtol=0, atol=1e-5)
    z = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(latent_pair(eq, x, z, 0.5)[1], F.avg_pool2d(z, 2), rtol=0, atol=1e-6)


def test_rotations_are_exact_and_commute_with_the_scales():
    """rot90 by k is a permutation of the grid (rot by 4 is the identity, no value changes), the pair rotates its
    image and latent alike, and on these scales (h s an integer, so the resize's sample grid is symmetric)
    resizing commutes with rotation up to float rounding; at s = 1/2 a latent that is the
    4x4 pixel mean of its image stays the 4x4 pixel mean of the transformed image, for every angle."""
    eq = EQVAE(scales=SCALES_8)
    x, z = torch.randn(2, 3, 32, 32), torch.randn(2, 4, 8, 8)
    for k in (1, 2, 3):
        x_k, z_k = latent_pair(eq, x, z, 1.0, k)
        assert torch.equal(z_k, torch.rot90(z, k, dims=(-1, -2))) and torch.equal(x_k, torch.rot90(x, k, (-1, -2)))
        assert torch.equal(torch.rot90(z_k, 4 - k, dims=(-1, -2)), z)
        assert sorted(z_k.flatten().tolist()) == sorted(z.flatten().tolist())
        for s in SCALES_8:
            x_t, z_t = latent_pair(eq, x, z, s, k)
            x_0, z_0 = latent_pair(eq, x, z, s, 0)
            torch.testing.assert_close(z_t, torch.rot90(z_0, k, dims=(-1, -2)), rtol=0, atol=0)
            torch.testing.assert_close(latent_pair(eq, torch.rot90(x, k, (-1, -2)), torch.rot90(z, k, (-1, -2)),
                                                   s, 0)[1], z_t, rtol=0, atol=1e-5)   # mirrored weights round
        x_t, z_t = latent_pair(eq, x, F.avg_pool2d(x, 4), 0.5, k)
        torch.testing.assert_close(F.avg_pool2d(x_t, 4), z_t, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ fine-tuning
def test_variants_name_their_protocol():
    """eqvae fine-tunes sd-vae; the from-scratch arm and the extra-steps control exist only under their own names,
    outside the table and "all"."""
    eq = get_variant("eqvae")
    assert (eq.init_from, eq.finetune_share) == ("sd-vae", FINETUNE_SHARE) and 0 < FINETUNE_SHARE < 1
    assert set(EXTRA_VARIANTS) == {"eqvae-scratch", "sd-vae-ft"}
    assert not set(EXTRA_VARIANTS) & set(list_variants()) and not set(EXTRA_VARIANTS) & set(tiny().variants)
    assert get_variant("eqvae-scratch").init_from == "" and "scratch" in get_variant("eqvae-scratch").label
    assert get_variant("sd-vae-ft").spec == get_variant("sd-vae").spec
    with pytest.raises(ValueError, match="eqvae-scratch"):
        get_variant("eq-vae")
    with pytest.raises(ValueError, match="trained from scratch"):
        finetune_start("eqvae-scratch", tiny())


def test_finetuned_run_starts_from_the_sd_vae_run_of_the_same_seed(tmp_path):
    """The eqvae run trains SD-VAE first (or reuses it), starts from its final weights, trains round(share x steps)
    more, and says so in its result; one Adam step moves no weight by more than the learning rate, so its final
    weights lie within lr of SD-VAE's while a fresh initialisation is far."""
    cfg = tiny()
    common = dict(data_root=None, device="cpu", seed=1, runs_dir=tmp_path, evaluate=False)
    eq = lab.fit_autoencoder("eqvae", cfg, **common)
    sd = lab.fit_autoencoder("sd-vae", cfg, **common)
    assert sd["cached"] and not eq["cached"]                                 # the eqvae call trained sd-vae
    steps = max(1, round(FINETUNE_SHARE * cfg.steps))
    assert {k: eq[k] for k in ("init_from", "init_key", "init_run", "init_steps", "finetune_steps")} == \
        {"init_from": "sd-vae", "init_key": sd["key"], "init_run": sd["run_dir"], "init_steps": cfg.steps,
         "finetune_steps": steps}
    assert eq["steps"] == steps and eq["total_steps"] == cfg.steps + steps and eq["seed"] == 1

    sd_state = load_checkpoint(resolve_repo_path(sd["checkpoint"]))["model"]
    sd_final = {k[3:]: v for k, v in sd_state.items() if k.startswith("ae.")}
    record, start, ft_cfg = finetune_start("eqvae", cfg, **common)
    assert record == {k: eq[k] for k in record} and ft_cfg.steps == steps and ft_cfg.replace(steps=cfg.steps) == cfg
    assert start.keys() == sd_final.keys() and all(torch.equal(start[k], sd_final[k]) for k in start)

    fresh = lab.build_recipe("eqvae", cfg, seed=1).model.state_dict()
    eq_final = lab.load_autoencoder(eq).state_dict()
    moved = max((eq_final[k] - sd_final[k]).abs().max().item() for k in sd_final if sd_final[k].is_floating_point())
    away = max((fresh[k] - sd_final[k]).abs().max().item() for k in sd_final if sd_final[k].is_floating_point())
    assert 0 < moved <= cfg.lr * (1 + 1e-5) < 2 * cfg.lr < away

    again = lab.fit_autoencoder("eqvae", cfg, **common)
    assert again["cached"] and again["run_dir"] == eq["run_dir"]
    scratch = lab.fit_autoencoder("eqvae-scratch", cfg.replace(steps=1), **common)
    assert "init_from" not in scratch and scratch["run_dir"] != eq["run_dir"]
