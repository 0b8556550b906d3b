"""Representation alignment (REPA / iREPA / DoG-REPA) against independent references: the loss against a numpy
cosine, the targets against iREPA's formula and a scipy DoG, projectors against explicit maps, where gradients go,
target caches (read back bit-identically, equal to on-the-fly tokens), training with alignment off untouched, and a
REPA run resumed bit-exactly."""
import json

import numpy as np
import pytest
import scipy.ndimage
import torch

from smlib.data.latents import LatentCache
from smlib.data.targets import OnTheFlyTargets, TargetCache, build_target_cache, encode_targets
from smlib.diffusion import alignment as A
from smlib.experiments import diffusability as D
from smlib.pipelines import latent_diffusion as LD
from smlib.models.dit import DiT
from smlib.models.encoders import build_encoder
from smlib.models.uvit import UViT
from smlib.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


# -- the loss and the targets ---------------------------------------------------------------------------------------

def test_negative_cosine_matches_numpy():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(3, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    pn, zn = p.double().numpy(), z.double().numpy()
    ref = -(np.sum(pn * zn, -1) / (np.linalg.norm(pn, axis=-1) * np.linalg.norm(zn, axis=-1))).mean(1)
    np.testing.assert_allclose(A.negative_cosine(p, z).numpy(), ref, rtol=1e-6)
    assert A.negative_cosine(p, p).allclose(torch.full((3,), -1.0))


def test_irepa_target_is_the_released_zscore_with_unbiased_std():
    z = torch.randn(2, 6, 4, 4, dtype=torch.float64) + 3.0
    spec = A.irepa(gamma=0.6)
    feat = z.flatten(2).transpose(1, 2).numpy()                      # (B, T, C) as iREPA holds it
    ref = (feat - 0.6 * feat.mean(1, keepdims=True)) / (feat.std(1, ddof=1, keepdims=True) + 1e-6)
    ours = A.grid_to_tokens(A.transform_target(z, spec)).numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-6)                  # float32 inside, as in training


@pytest.mark.parametrize("std", [True, False])
def test_dog_target_is_a_scipy_dog_with_half_sample_symmetric_padding(std):
    z = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    spec = A.dog_repa(0.5, 2.0, std=std)
    blur = lambda s: scipy.ndimage.gaussian_filter(z.numpy(), (0, 0, s, s), mode="reflect", truncate=4.0)  # noqa
    ref = blur(0.5) - blur(2.0)
    if std:
        ref = ref / (ref.std(axis=(-2, -1), keepdims=True) + 1e-6)
    np.testing.assert_allclose(A.transform_target(z, spec).numpy(), ref, atol=1e-5)
    assert abs(A.transform_target(z, spec).double().mean(dim=(-2, -1))).max() < 1e-5   # zero DC gain


def test_raw_target_is_unchanged_and_grid_round_trips():
    z = torch.randn(2, 5, 3, 4)
    assert torch.equal(A.transform_target(z, A.repa()), z)
    assert torch.equal(A.tokens_to_grid(A.grid_to_tokens(z), (3, 4)), z)
    assert torch.equal(A.grid_to_tokens(z)[:, 4], z[:, :, 1, 0])            # row-major, as the backbones' tokens


# -- projectors -----------------------------------------------------------------------------------------------------

def test_conv_projector_with_kernel_one_is_a_per_token_linear_map_and_kernel_three_sees_neighbours():
    torch.manual_seed(0)
    proj = A.ConvProjector(6, 4, (3, 3), kernel_size=1)
    h = torch.randn(2, 9, 6)
    ref = h @ proj.conv.weight[:, :, 0, 0].T + proj.conv.bias
    assert torch.allclose(proj(h), ref, atol=1e-6)
    proj3 = A.ConvProjector(6, 4, (3, 3), kernel_size=3)
    h2 = h.clone()
    h2[:, 0] += 1.0                                                        # change token (0, 0)
    moved = (proj3(h2) - proj3(h)).abs().sum(-1)[0]
    assert moved[[0, 1, 3, 4]].min() > 0 and moved[[2, 5, 6, 7, 8]].max() == 0   # only its 3x3 neighbourhood


def test_mlp_projector_is_reapas_three_linears_with_silu():
    proj = A.MLPProjector(8, 5, hidden=16)
    kinds = [type(m).__name__ for m in proj.net]
    assert kinds == ["Linear", "SiLU", "Linear", "SiLU", "Linear"]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in proj.net if hasattr(m, "bias"))


# -- the head on a backbone -----------------------------------------------------------------------------------------

def _dit(depth=3):
    torch.manual_seed(0)
    m = DiT(input_size=8, in_channels=4, patch_size=2, hidden_size=32, depth=depth, num_heads=2)
    for blk in m.blocks:           # adaLN-Zero gates start at 0; give them weight so gradients can flow
        torch.nn.init.normal_(blk.adaLN_modulation[-1].weight, std=0.1)
    return m


@pytest.mark.parametrize("arch", ["dit", "uvit"])
def test_alignment_gradients_reach_blocks_up_to_k_and_the_projector_only(arch):
    if arch == "dit":
        backbone = _dit(depth=3)
    else:
        torch.manual_seed(0)
        backbone = UViT(input_size=8, in_channels=4, patch_size=2, hidden_size=32, depth=4, num_heads=2)
    model = A.build_aligned(backbone, A.irepa(depth=1 if arch == "dit" else 2), target_dim=6)
    x, t = torch.randn(2, 4, 8, 8), torch.rand(2)
    _, hidden = model(x, t, return_hidden=True)
    loss, _ = model.alignment(hidden, torch.randn(2, 16, 6))
    loss.sum().backward()
    got = lambda mod: any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())  # noqa: E731
    assert got(model.alignment.projector)
    if arch == "dit":
        assert got(backbone.blocks[0]) and got(backbone.x_embedder)
        assert not got(backbone.blocks[1]) and not got(backbone.blocks[2]) and not got(backbone.final_layer)
    else:   # U-ViT blocks in order: in 1, in 2, mid, out 1, out 2; the tap after the second in-block
        assert got(backbone.in_blocks[0]) and got(backbone.in_blocks[1])
        assert not got(backbone.mid_block) and not any(got(b) for b in backbone.out_blocks)
        assert not got(backbone.decoder_pred)


def test_aligned_model_samples_as_its_backbone_and_strips_back_to_it():
    backbone = _dit()
    model = A.build_aligned(backbone, A.repa(projector_hidden=16), target_dim=6)
    x, t = torch.randn(2, 4, 8, 8), torch.rand(2)
    assert torch.equal(model(x, t), backbone(x, t))
    assert model.alignment.depth == 1                            # ceil(3 / 3)
    state = A.backbone_state(model.state_dict())
    assert state.keys() == backbone.state_dict().keys()
    assert A.build_aligned(backbone, None, 6) is backbone


def test_bad_alignment_input_fails_with_one_line():
    with pytest.raises(ValueError, match="0 < sigma1 < sigma2"):
        A.dog_repa(0.0, 2.0)
    with pytest.raises(ValueError, match="0 < sigma1 < sigma2"):
        A.dog_repa(2.0, 1.0)
    with pytest.raises(KeyError, match="unknown alignment"):
        A.make_alignment("repa-dog")
    with pytest.raises(ValueError, match="outside the model's blocks 1..3"):
        A.build_aligned(_dit(), A.repa(depth=4), target_dim=6)
    with pytest.raises(ValueError, match="outside the model's blocks"):
        A.build_aligned(_dit(), A.repa(depth=0), target_dim=6)
    enc = build_encoder("random-cnn", device="cpu", input_size=32)        # stride 8: a 4x4 grid
    with pytest.raises(ValueError, match=r"4x4 .* token grid 8x8; build the encoder with input_size=57"):
        A.check_grid((8, 8), enc)
    A.check_grid((4, 4), enc)
    assert A.matching_input_size(enc, 8) == 57 and enc.grid_size(57) == (8, 8) and enc.grid_size(56) == (7, 7)


# -- target caches --------------------------------------------------------------------------------------------------

def test_target_cache_reads_back_bit_identically_and_equals_on_the_fly_tokens(tmp_path):
    enc = build_encoder("random-cnn", device="cpu", input_size=32)
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(5, 3, 16, 16, generator=g) * 2 - 1
    first = build_target_cache(enc, imgs, cache_dir=tmp_path, dataset="toy", batch_size=2)
    assert first.tokens.shape == (10, 16, 64) and first.grid == (4, 4)
    assert torch.equal(first.index, torch.arange(5).repeat(2)) and first.flipped.sum() == 5
    again = build_target_cache(enc, imgs, cache_dir=tmp_path, dataset="toy", batch_size=3)
    assert torch.equal(again.tokens, first.tokens) and again.key == first.key
    assert len(list(tmp_path.glob("*.pt"))) == 1
    row = 7                                                              # image 2, flipped
    assert torch.allclose(first.tokens[row], enc.tokens(imgs[2:3].flip(-1))[0], atol=1e-6)
    fly = OnTheFlyTargets(enc, imgs, first.index, first.flipped)
    rows = torch.tensor([7, 0, 9, 3])
    assert torch.allclose(fly.rows(rows), first.rows(rows), atol=1e-6)
    other = build_target_cache(enc, imgs, cache_dir=tmp_path, dataset="toy", flips=False)
    assert other.key != first.key and len(other) == 5
    with pytest.raises(ValueError, match="rows are not the latent cache's"):
        other.check_rows(first.index, first.flipped)
    with pytest.raises(ValueError):
        encode_targets(enc, imgs[:, :1])


# -- training ---------------------------------------------------------------------------------------------------------

def _latents_and_targets(tmp_path, n=12):
    g = torch.Generator().manual_seed(0)
    cache = LatentCache(torch.cat([torch.randn(2 * n, 4, 8, 8, generator=g), torch.full((2 * n, 4, 8, 8), -2.0)], 1),
                        torch.full((2 * n,), -1), torch.arange(n).repeat(2),
                        torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)]),
                        meta={"key": "synthetic-aligned"})
    enc = build_encoder("random-cnn", device="cpu", input_size=32)       # 4x4 grid = the DiT's 8 / 2
    imgs = torch.rand(n, 3, 16, 16, generator=g) * 2 - 1
    return cache, build_target_cache(enc, imgs, cache_dir=tmp_path / "targets", dataset="toy")


def _cfg(**kw):
    return D.DiffusabilityConfig.at("ci", model=dict(arch="dit", hidden_size=16, depth=3, num_heads=2, patch_size=2),
                                    steps=8, batch_size=6, ckpt_every=3, log_every=2, warmup_steps=2, n_fid=0, **kw)


def _weights(result):
    return load_checkpoint(result["checkpoint"])["model"]


def test_alignment_off_is_the_plain_path_and_at_weight_zero_moves_nothing_but_rounding(tmp_path):
    """Off: no head, no row indices, no config key, so chapter 5's training runs as it did. At weight 0 the head is
    attached but inert: the backbone trains as without it up to float rounding (the tapped state's gradient gains a
    zero from the projector branch, in another memory layout, so BLAS may sum in another order), while weight 1
    moves it by orders of magnitude more."""
    cache, targets = _latents_and_targets(tmp_path)
    plain = LD.fit_latent_diffusion(cache, _cfg(grad_clip=None), tmp_path / "plain", device="cpu", seed=1)
    assert type(plain["model"]) is DiT
    assert "alignment" not in json.loads(load_checkpoint(plain["checkpoint"])["task_config"])
    zero = LD.fit_latent_diffusion(cache, _cfg(grad_clip=None), tmp_path / "zero", device="cpu", seed=1,
                                  alignment=A.irepa(weight=0.0), targets=targets)
    on = LD.fit_latent_diffusion(cache, _cfg(grad_clip=None), tmp_path / "on", device="cpu", seed=1,
                                alignment=A.irepa(weight=1.0), targets=targets)
    a, b, c = _weights(plain), A.backbone_state(_weights(zero)), A.backbone_state(_weights(on))
    assert a.keys() == b.keys() == c.keys()
    gap = lambda x: max(float((x[k] - a[k]).abs().max()) for k in a)  # noqa: E731
    assert gap(b) < 1e-6 and gap(c) > 1e-3


def test_a_repa_run_resumed_ends_bit_identical(tmp_path):
    cache, targets = _latents_and_targets(tmp_path)
    spec = A.repa(projector_hidden=16)
    full = LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "full", device="cpu", seed=2, alignment=spec,
                                  targets=targets)
    part = LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "part", device="cpu", seed=2, alignment=spec,
                                  targets=targets, max_steps_this_call=4)
    assert (part["step"], part["completed"]) == (4, False)
    torch.manual_seed(99)
    resumed = LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "part", device="cpu", seed=2, alignment=spec,
                                     targets=targets)
    a, b = _weights(full), _weights(resumed)
    assert any(k.startswith("alignment.projector") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="another config"):   # another target is another run
        LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "part", device="cpu", seed=2,
                               alignment=A.repa(projector_hidden=16, weight=0.25), targets=targets)


def test_alignment_without_targets_is_refused(tmp_path):
    cache, _ = _latents_and_targets(tmp_path)
    with pytest.raises(ValueError, match="both an alignment spec and its target tokens"):
        LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "x", device="cpu", alignment=A.repa())
    bad = TargetCache(torch.zeros(24, 9, 3), torch.arange(12).repeat(2), cache.flipped, (3, 3), {"key": "k"})
    with pytest.raises(ValueError, match="target grid"):
        LD.fit_latent_diffusion(cache, _cfg(), tmp_path / "y", device="cpu", alignment=A.repa(), targets=bad)


# -- diagnostics ------------------------------------------------------------------------------------------------------

def test_directional_profile_splits_prop_3_2s_energy_into_radial_bins_by_brute_force():
    import scipy.fft
    from smlib.metrics.alignment import directional_profile, mid_band_share
    x = torch.randn(3, 5, 8, 8, dtype=torch.float64) + 0.5
    prof = directional_profile(x, n_bins=16)
    u = (x / x.norm(dim=1, keepdim=True)).numpy()
    e = (scipy.fft.dctn(u, norm="ortho", axes=(-2, -1)) ** 2).sum(1) / 64          # (B, 8, 8), sums to 1
    ref = np.zeros(16)
    r_max = np.hypot(7, 7)
    for i in range(8):
        for j in range(8):
            if (i, j) != (0, 0):
                ref[min(int(16 * np.hypot(i, j) / r_max), 15)] += e[:, i, j].mean()
    np.testing.assert_allclose(prof["profile"].numpy(), ref, rtol=1e-10, atol=1e-14)
    assert abs(prof["energy"] + prof["dc"] - 1) < 1e-12
    assert abs(prof["energy"] - float((prof["rmsc"] ** 2).mean())) < 1e-12        # Prop. 3.2
    assert prof["frequency"][0] == 0 and abs(float(prof["frequency"][-1]) - np.hypot(7, 7) / 16) < 1e-12
    flat = torch.ones(16)
    assert abs(mid_band_share(flat) - 6 / 16) < 1e-12                               # bins 5..10
    assert mid_band_share(torch.zeros(16)) == 0.0


def test_a_dog_target_moves_directional_energy_off_dc_and_low_frequencies():
    from smlib.metrics.alignment import directional_profile
    g = torch.Generator().manual_seed(0)
    smooth = torch.randn(4, 16, 8, 8, generator=g, dtype=torch.float64).cumsum(-1).cumsum(-2) + 5.0
    raw = directional_profile(smooth)
    dog = directional_profile(A.transform_target(smooth, A.dog_repa(0.5, 2.0)).double())
    assert dog["energy"] > raw["energy"]                      # the DC (shared direction) is gone
    assert dog["profile"][8:].sum() / dog["energy"] > raw["profile"][8:].sum() / raw["energy"]


def test_hidden_readout_reads_the_tapped_state():
    from smlib.diffusion import make_formulation
    from smlib.metrics.alignment import hidden_readout
    from smlib.spectral import rmsc
    model = A.build_aligned(_dit(depth=3), A.irepa(), target_dim=6)
    f = make_formulation("sit")
    x0, target = torch.randn(4, 4, 8, 8), torch.randn(4, 16, 6)
    r = hidden_readout(model, f, x0, target, t_values=(0.5,), seed=0)[0.5]
    assert 0 <= r["energy"] <= 1 and r["profile"].shape == (16,)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))      # the readout's noise, by hand
    tt = torch.full((4,), 0.5)
    with torch.no_grad():
        _, hidden = model.backbone(f.add_noise(x0, tt, eps), tt, return_hidden=True)
        h = hidden[model.alignment.depth - 1]
        cos = -A.negative_cosine(model.alignment.projector(h), model.alignment.target(target))
    assert abs(r["rmsc"] - float(rmsc(A.tokens_to_grid(h, (4, 4)).double()).mean())) < 1e-6
    assert abs(r["cosine"] - float(cos.mean())) < 1e-6
