"""AE regularizers: registry, composition, gradients, invariants, and ESM pinned to an independent numpy reference."""
import math
import urllib.error

import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn.functional as F

from smlib.models.autoencoder import AutoEncoder, DiagonalGaussian
from smlib.models.discriminator import PatchDiscriminator
from smlib.regularizers import (DSM, EQVAE, LPIPS, AELoss, ESMLoss, GANLoss, KLPenalty, LPIPSUnavailableError,
                                ScaleEquivariance, VFLoss, adaptive_gan_weight, build_regularizers, esm_divergence,
                                esm_image_target, generator_loss, hinge_d_loss, vf_terms)
from smlib.spectral import block_dct2, block_lowpass, gaussian_blur, gaussian_kernel1d


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AutoEncoder("tiny-f4d4")  # 32x32 images -> 8x8x4 latents


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _grads(module):
    """(any non-zero grad, all grads None or zero) for a module's parameters."""
    gs = [p.grad for p in module.parameters()]
    nonzero = any(g is not None and g.abs().sum() > 0 for g in gs)
    return nonzero, all(g is None or g.abs().sum() == 0 for g in gs)


def _reached(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    enc = _grads(model.encoder)[0] and _grads(model.quant_conv)[0]
    dec = _grads(model.decoder)[0]
    dec_none = _grads(model.decoder)[1] and _grads(model.post_quant_conv)[1]
    model.zero_grad(set_to_none=True)
    return enc, dec, dec_none


# --------------------------------------------------------------------------------------------------- registry
def test_registry_and_bad_specs():
    assert build_regularizers("none") == [] and build_regularizers(None) == []
    regs = build_regularizers(["kl", {"name": "esm", "delta": 0.6}, {"dsm": {"block": 8}}])
    assert [type(r) for r in regs] == [KLPenalty, ESMLoss, DSM] and regs[1].delta == 0.6
    regs = build_regularizers({"scale_equivariance": {"p": 1.0}, "eqvae": None})
    assert [r.name for r in regs] == ["scale_equivariance", "eqvae"]
    with pytest.raises(ValueError, match="unknown regularizer 'esn'; known: dsm, eqvae, esm, kl, none, "
                                         "scale_equivariance, vf"):
        build_regularizers(["esn"])
    with pytest.raises(ValueError, match="bad options for regularizer 'esm'"):
        build_regularizers({"esm": {"weigth": 0.1}})
    with pytest.raises(ValueError, match="vf regularizer needs an encoder"):
        build_regularizers("vf", latent_channels=4)
    with pytest.raises(ValueError, match="each regularizer may appear once"):
        AELoss([KLPenalty(), KLPenalty()])


def test_plain_ae_floor_is_l1(model, x):
    ae_loss = AELoss(build_regularizers("none"))
    g = torch.Generator().manual_seed(5)
    out = ae_loss(x, model, generator=g)
    z = model.encode(x).sample(torch.Generator().manual_seed(5))
    assert torch.equal(out.z, z)
    torch.testing.assert_close(out.loss, F.l1_loss(model.decode(z), x))
    assert ae_loss.trainable_parameters() == []


def test_penalties_use_the_unmasked_latent_and_add_up(model, x):
    ae_loss = AELoss([KLPenalty(), ESMLoss(), DSM(ks=(0, 3), block=4, seed=0)])
    out = ae_loss(x, model, plans={"dsm": {"active": True, "k": 3}})
    assert out.logs["dsm_k"] == 3.0
    esm_unmasked = ESMLoss()(out.x_input, z=out.z)[1]["esm"]
    esm_masked = ESMLoss()(out.x_input, z=block_lowpass(out.z, 4, 3))[1]["esm"]
    assert out.logs["esm"] == pytest.approx(esm_unmasked) and esm_masked != pytest.approx(esm_unmasked)
    assert out.logs["loss"] == pytest.approx(out.logs["rec"] + 1e-6 * out.logs["kl"] + 0.01 * out.logs["esm"],
                                             rel=1e-6)
    state = ae_loss.rng_state()
    first = ae_loss.sample_plans()
    ae_loss.load_rng_state(state)
    assert ae_loss.sample_plans() == first
    with pytest.raises(ValueError, match="lpips_weight > 0 needs an LPIPS module"):
        AELoss([], lpips_weight=0.5)


# --------------------------------------------------------------------------------------------------- KL
def test_kl_zero_for_standard_normal_and_reductions(model, x):
    post = DiagonalGaussian(torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8))
    loss, logs = KLPenalty(weight=1.0)(x, model, post)
    assert loss.item() == 0.0 and logs["kl"] == 0.0
    post = DiagonalGaussian(torch.full((2, 4, 8, 8), 0.5), torch.zeros(2, 4, 8, 8))
    # KL per entry = mu^2 / 2 = 0.125; summed over 256 entries = 32, mean = 0.125
    assert KLPenalty(weight=1.0)(x, model, post)[0].item() == pytest.approx(32.0)
    assert KLPenalty(weight=2.0, reduction="mean")(x, model, post)[0].item() == pytest.approx(0.25)
    enc, _, dec_none = _reached(model, KLPenalty(weight=1.0)(x, model, model.encode(x))[0])
    assert enc and dec_none


# --------------------------------------------------------------------------------------------------- ESM
def _np_bicubic_matrix(n_in, n_out, a=-0.75):
    """(n_out, n_in) weights of bicubic resampling, align_corners=False, no prefilter, border samples repeated.

    Written from the Keys (1981) cubic-convolution kernel with a = -0.75 and the half-pixel-centre convention
    src = (i + 0.5) * n_in / n_out - 0.5; not from torch's code."""
    def keys(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = (i + 0.5) * n_in / n_out - 0.5
        x0 = math.floor(src)
        for tap in range(x0 - 1, x0 + 3):
            m[i, min(max(tap, 0), n_in - 1)] += keys(src - tap)
    return m


def _np_esm(x, z, delta, n_bins=16, eps=1e-8, sigma=1.2, ksize=7, denominator_eps=True):
    """The authors' latent_spectral_reg_dct (SpectrumMatching@2dc73404, loss_type kl, log_power) in numpy.

    ``denominator_eps=False`` drops the code's ``+ eps`` in the two normalising denominators (bin counts and the
    distribution's sum), which ``smlib.spectral.spectrum_distribution`` omits."""
    d_eps = eps if denominator_eps else 0.0
    B, C, H, W = x.shape
    h, w = z.shape[-2:]
    if h != 32:  # 7x7 Gaussian exp(-(i^2 + j^2) / (2 sigma^2)), normalised, conv2d with zero padding
        ax = np.arange(ksize) - ksize // 2
        k2 = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
        k2 /= k2.sum()
        r = ksize // 2
        pad = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
        blurred = np.zeros_like(x)
        for i in range(ksize):
            for j in range(ksize):
                blurred += k2[i, j] * pad[:, :, i:i + H, j:j + W]
        x = blurred
    my, mx = _np_bicubic_matrix(H, h), _np_bicubic_matrix(W, w)
    x_ds = np.einsum("yY,bcYX,xX->bcyx", my, x, mx)

    rr = np.sqrt(np.arange(h)[:, None] ** 2 + np.arange(w)[None, :] ** 2)
    rmax = max(rr.max(), 1.0)

    def band(u):
        coef = scipy.fft.dctn(u - u.mean(axis=(-2, -1), keepdims=True), type=2, norm="ortho", axes=(-2, -1))
        p = np.maximum((coef**2).mean(axis=1), eps)
        p[:, 0, 0] = 0.0
        sums, counts = np.zeros((u.shape[0], n_bins)), np.zeros(n_bins)
        for a in range(h):
            for b in range(w):
                idx = min(int(np.floor(rr[a, b] / rmax * n_bins)), n_bins - 1)
                sums[:, idx] += p[:, a, b]
                counts[idx] += 1
        return sums / (np.maximum(counts, 1.0) + d_eps), counts

    sx, counts = band(x_ds)
    sz, _ = band(z)
    sx = sx * np.arange(1, n_bins + 1) ** delta
    qx, qz = np.log(sx + eps + 1.0), np.log(sz + eps + 1.0)
    px = qx / (qx.sum(1, keepdims=True) + d_eps)
    pz = qz / (qz.sum(1, keepdims=True) + d_eps)
    return (px * (np.log(px + eps) - np.log(pz + eps))).sum(1).mean(), counts


@pytest.mark.parametrize("image, latent, delta", [(64, 16, 1.0), (64, 16, 0.0), (96, 32, 1.0)])
def test_esm_matches_independent_numpy_reference(image, latent, delta):
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(2, 3, image, image, generator=g, dtype=torch.float64) * 2 - 1)
    x = x + 0.5 * torch.linspace(-1, 1, image, dtype=torch.float64)  # a gradient, so low bins carry more power
    z = torch.randn(2, 4, latent, latent, generator=g, dtype=torch.float64)
    ref, counts = _np_esm(x.numpy(), z.numpy(), delta)
    if latent == 16:  # bin occupancy of a 16x16 grid (notes §1.5)
        assert counts.tolist() == [3, 5, 7, 13, 13, 15, 23, 19, 23, 31, 31, 31, 19, 11, 9, 3]
    loss, logs = ESMLoss(weight=1.0, delta=delta)(x, z=z)
    assert abs(loss.item() - ref) < 1e-6, (loss.item(), ref)
    loss32, _ = ESMLoss(weight=1.0, delta=delta)(x.float(), z=z.float())
    assert abs(loss32.item() - ref) < 1e-6
    # without the code's 1e-8 in the two denominators the agreement is to float64 round-off
    ref_no_eps, _ = _np_esm(x.numpy(), z.numpy(), delta, denominator_eps=False)
    assert abs(loss.item() - ref_no_eps) < 1e-12
    assert logs["esm"] == pytest.approx(ref) and "esm_rgb" in logs


def test_esm_blur_is_the_authors_zero_padded_kernel():
    # torchvision's gaussian_blur(kernel_size=7, sigma=1.2) has the same 1-D kernel but reflect padding
    from torchvision.transforms.functional import gaussian_blur as tv_blur
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(x, 1.2, radius=3, mode="reflect"), tv_blur(x, [7, 7], [1.2, 1.2]))
    ax = torch.arange(-3, 4, dtype=torch.float64)
    k2 = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.2**2))
    ref = F.conv2d(x, (k2 / k2.sum()).expand(3, 1, 7, 7), padding=3, groups=3)
    torch.testing.assert_close(gaussian_blur(x, 1.2, radius=3, mode="zeros"), ref)
    torch.testing.assert_close(gaussian_kernel1d(1.2, radius=3, dtype=torch.float64),
                               torch.exp(-ax**2 / (2 * 1.2**2)) / torch.exp(-ax**2 / (2 * 1.2**2)).sum())


def test_esm_zero_when_spectra_equal_and_options(x):
    for blur, size in (("authors", 8), ("authors", 32), ("always", 16)):
        z = esm_image_target(x, (size, size), blur=blur)  # the latent *is* the resampled image
        loss, _ = ESMLoss(weight=1.0, delta=0.0, blur=blur)(x, z=z)
        assert abs(loss.item()) < 1e-7
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    base = ESMLoss(weight=1.0)(x, z=z)[0].item()
    for opts in ({"resize": "antialias"}, {"bins": "physical"}, {"delta": 0.6}):
        other = ESMLoss(weight=1.0, **opts)(x, z=z)[0].item()
        assert other >= 0 and other != pytest.approx(base)
    with pytest.raises(ValueError, match="unknown ESM bins"):
        ESMLoss(bins="log")
    # low-precision latents and autocast are computed in float32, like the authors' .float() before the DCT
    assert ESMLoss(weight=1.0)(x, z=z.bfloat16())[0].item() == pytest.approx(
        ESMLoss(weight=1.0)(x, z=z.bfloat16().float())[0].item(), abs=1e-7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ESMLoss(weight=1.0)(x, z=z)[0].item() == pytest.approx(base, abs=1e-6)


def test_esm_gradients_reach_encoder_not_decoder(model, x):
    post = model.encode(x)
    loss, logs = ESMLoss()(x, model, post, post.sample())
    assert loss.item() == pytest.approx(0.01 * logs["esm"])
    enc, _, dec_none = _reached(model, loss)
    assert enc and dec_none


ESM_SHAPES = {  # the three benchmark settings at smaller batch, plus the other code paths of the image side
    "lab 32px f4d4 (blur, dense)": ((4, 3, 32, 32), (4, 4, 8, 8)),
    "256px f8d4 (no blur, block rows)": ((2, 3, 256, 256), (2, 4, 32, 32)),
    "256px f16d16 (blur, block rows)": ((2, 3, 256, 256), (2, 16, 16, 16)),
    "64px latent 32 (no blur, dense)": ((2, 3, 64, 64), (2, 4, 32, 32)),
    "non-square": ((2, 3, 48, 40), (2, 4, 12, 10)),
}


def _esm_loss_and_grad(x, z0, **kw):
    z = z0.clone().requires_grad_(True)
    loss = esm_divergence(x, z, **kw)[0].mean()
    loss.backward()
    return loss.detach().double(), z.grad.double()


@pytest.mark.parametrize("shapes", ESM_SHAPES.values(), ids=ESM_SHAPES.keys())
def test_esm_matrix_path_equals_the_composed_reference(shapes):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shapes[0], generator=g, dtype=torch.float64) * 2 - 1
    z = torch.randn(shapes[1], generator=g, dtype=torch.float64)
    ref_loss, ref_grad = _esm_loss_and_grad(x, z, impl="composed")
    loss, grad = _esm_loss_and_grad(x, z, impl="matrix")
    assert abs(loss - ref_loss) < 1e-12 * ref_loss and (grad - ref_grad).abs().max() < 1e-10 * ref_grad.abs().max()
    # float32, the training precision: within 1e-6 (relative) of the float64 reference, loss and gradient (max-abs
    # error over max-abs; measured 0.2-0.8e-6 for the gradient over seeds 0-3, ~1e-7 for the loss)
    loss32, grad32 = _esm_loss_and_grad(x.float(), z.float())
    assert abs(loss32 - ref_loss) < 1e-6 * ref_loss
    assert (grad32 - ref_grad).abs().max() < 1e-6 * ref_grad.abs().max()


@pytest.mark.parametrize("delta", [1.0, 0.0])
def test_esm_loss_computes_both_terms_from_one_pass_like_two_reference_calls(delta):
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1
    z0 = torch.randn(2, 4, 16, 16, generator=g, dtype=torch.float64)
    ref_loss, ref_grad = _esm_loss_and_grad(x, z0, delta=delta, impl="composed")
    ref_rgb = esm_divergence(x, z0, delta=0.0, impl="composed")[0].mean().item()
    z = z0.clone().requires_grad_(True)
    loss, logs = ESMLoss(weight=0.5, delta=delta)(x, z=z)
    loss.backward()
    assert logs["esm"] == pytest.approx(ref_loss.item(), rel=1e-12)
    assert logs["esm_rgb"] == pytest.approx(ref_rgb, rel=1e-12)
    torch.testing.assert_close(z.grad, 0.5 * ref_grad, rtol=1e-10, atol=0)
    assert loss.dtype == z.dtype


def test_esm_gradient_reaches_x_when_asked_and_never_through_the_loss():
    g = torch.Generator().manual_seed(5)
    x0 = torch.rand(2, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1
    z = torch.randn(2, 4, 16, 16, generator=g, dtype=torch.float64)
    grads = []
    for impl in ("composed", "matrix"):
        x = x0.clone().requires_grad_(True)
        esm_divergence(x, z, impl=impl)[0].mean().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-12 * float(grads[0].abs().max()))
    x = x0.clone().requires_grad_(True)
    ESMLoss()(x, z=z.clone().requires_grad_(True))[0].backward()
    assert x.grad is None  # the loss detaches its target: the image is data
    with pytest.raises(ValueError, match="unknown ESM impl 'fft'; use one of"):
        esm_divergence(x0, z, impl="fft")


# --------------------------------------------------------------------------------------------------- DSM
def test_dsm_k0_equals_plain_reconstruction(model, x):
    plain = AELoss([])(x, model, generator=torch.Generator().manual_seed(3))
    dsm = AELoss([DSM(ks=(0, 3), block=4)])(x, model, generator=torch.Generator().manual_seed(3),
                                            plans={"dsm": {"active": True, "k": 0}})
    assert torch.equal(plain.loss, dsm.loss) and torch.equal(dsm.x_target, x)


def test_dsm_masks_image_and_latent_and_trains_both(model, x):
    ae_loss = AELoss([DSM(ks=(0, 3, 4, 5), block=4)])
    out = ae_loss(x, model, generator=torch.Generator().manual_seed(4), plans={"dsm": {"active": True, "k": 4}})
    # the target, from scipy's orthonormal DCT of each 4x4 block with the k = 4 highest anti-diagonals zeroed
    # (keep u + v <= 2(b - 1) - k = 2), independently of smlib.spectral
    u = np.arange(4)
    keep = (u[:, None] + u[None, :]) <= 2 * 3 - 4
    xb = x.double().numpy().reshape(2, 3, x.shape[2] // 4, 4, x.shape[3] // 4, 4)
    coeff = scipy.fft.dctn(xb, type=2, norm="ortho", axes=(3, 5)) * keep[None, None, None, :, None, :]
    expected = scipy.fft.idctn(coeff, type=2, norm="ortho", axes=(3, 5)).reshape(x.shape)
    np.testing.assert_allclose(out.x_target.double().numpy(), expected, atol=1e-5)
    assert not np.allclose(expected, x.double().numpy(), atol=1e-3)       # the mask did remove something
    coeffs = block_dct2(out.x_target, 4)
    removed = torch.from_numpy(~keep)
    assert coeffs[..., removed].abs().max() < 1e-5 and coeffs[..., ~removed].abs().max() > 1e-2
    torch.testing.assert_close(out.x_hat, model.decode(block_lowpass(out.z, 4, 4)))
    enc, dec, _ = _reached(model, out.loss)
    assert enc and dec
    ae_loss.eval()  # evaluation decodes unmasked latents
    assert ae_loss.sample_plans() == {} and torch.equal(ae_loss(x, model).x_target, x)


def test_dsm_errors_and_resumable_draws():
    with pytest.raises(ValueError, match="DSM block 8 does not divide the latent grid 4x4"):
        DSM()(torch.zeros(1, 3, 32, 32), AutoEncoder("tiny-f8d4"), plan={"active": True, "k": 0})
    with pytest.raises(ValueError, match="mask cut k must be in"):
        DSM(ks=(0, 8), block=4)
    dsm = DSM(seed=0)
    [dsm.sample_plan() for _ in range(3)]
    state = dsm.get_rng_state()
    first = [dsm.sample_plan()["k"] for _ in range(40)]
    dsm.set_rng_state(state)
    assert [dsm.sample_plan()["k"] for _ in range(40)] == first and set(first) == {0, 8, 10, 12}


# --------------------------------------------------------------------------------------------------- SE, EQ-VAE
def test_scale_equivariance_adds_a_downsampled_pair(model, x):
    se = ScaleEquivariance(factors=(2,), p=1.0)
    x_t, z_t = se.apply(x, torch.randn(2, 4, 8, 8), {"active": True, "factor": 2}, factor=4)
    assert x_t.shape == (2, 3, 16, 16) and z_t.shape == (2, 4, 4, 4)
    z = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(se.apply(x, z, {"active": True, "factor": 2}, 4)[1],
                               F.interpolate(z, size=(4, 4), mode="bilinear", align_corners=False))  # area == bilinear at 2x
    assert se.apply(x, z, {"active": True, "factor": 16}, 4)[1].shape == (2, 4, 1, 1)  # never below 1
    ae_loss = AELoss([se])
    out = ae_loss(x, model, plans={"scale_equivariance": se.sample_plan()})
    assert out.logs["loss"] == pytest.approx(out.logs["rec"] + out.logs["scale_equivariance"], rel=1e-6)
    enc, dec, _ = _reached(model, out.loss)
    assert enc and dec
    assert ScaleEquivariance(p=0.0, seed=0).sample_plan()["active"] is False


def test_eqvae_scale_and_rotation_pairs(model, x):
    eq = EQVAE()
    z = torch.randn(2, 4, 8, 8)
    x_t, z_t = eq.apply(x, z, {"active": True, "scale": (8 / 32, 8 / 32), "angle": 1}, factor=4)
    assert z_t.shape == (2, 4, 2, 2) and x_t.shape == (2, 3, 8, 8)
    x_t, z_t = eq.apply(x, z, {"active": True, "scale": (1.0, 1.0), "angle": 2}, factor=4)
    assert torch.equal(z_t, z.flip(-1, -2)) and torch.equal(x_t, x.flip(-1, -2))
    x_t, z_t = EQVAE(anisotropic=True).apply(x, z, {"active": True, "scale": (0.5, 0.75), "angle": 1}, factor=4)
    assert z_t.shape == (2, 4, 6, 4) and x_t.shape == (2, 3, 24, 16)  # rot90 swaps the (4, 6) grid
    low = eq.prepare_input(x, {"mode": "low_res", "scale": (0.75, 0.75)}, factor=4)
    assert low.shape == (2, 3, 24, 24)
    sampler = EQVAE(seed=1)
    plans = [sampler.sample_plan() for _ in range(200)]
    modes = [p["mode"] for p in plans]
    assert 0.4 < modes.count("equivariance") / len(modes) < 0.6 and "low_res" in modes
    assert all(p["angle"] in (1, 2, 3) for p in plans if p["mode"] == "equivariance")
    out = AELoss([eq])(x, model, plans={"eqvae": {"active": True, "mode": "equivariance", "scale": (0.75, 0.75),
                                                  "angle": 3}})
    assert out.x_target.shape == out.x_hat.shape == (2, 3, 24, 24) and not out.gan_applicable
    enc, dec, _ = _reached(model, out.loss)
    assert enc and dec


# --------------------------------------------------------------------------------------------------- VF
def test_vf_margins_by_hand():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])

    def grid(*tokens):  # tokens (D,) -> (1, D, 1, N)
        return torch.stack(tokens, dim=-1)[None, :, None, :]

    cos, dist = vf_terms(grid(e1), grid(e1))
    assert cos.item() == 0.0 and dist.item() == 0.0                  # aligned: ReLU(1 - 0.5 - 1) = 0
    assert vf_terms(grid(e1), grid(e2))[0].item() == pytest.approx(0.5)    # orthogonal: ReLU(0.5)
    assert vf_terms(grid(-e1), grid(e1))[0].item() == pytest.approx(1.5)   # opposite: ReLU(0.5 + 1)
    assert vf_terms(grid(e1), grid(e1 + e2))[0].item() == 0.0               # cos 0.707 > 1 - m1: inside the margin
    assert vf_terms(grid(e1), grid(e1 + 3 * e2))[0].item() == pytest.approx(0.5 - 1 / math.sqrt(10))
    # distance matrix: z' tokens (e1, e1) -> all cos 1; f tokens (e1, e2) -> identity; |diff| = 1 off-diagonal
    _, dist = vf_terms(grid(e1, 3 * e1), grid(e1, e2))
    assert dist.item() == pytest.approx(2 * 0.75 / 4)
    _, dist = vf_terms(grid(e1, e1 + 0.1 * e2), grid(e1, e1))         # |cos - 1| ~ 0.005 < m2: no penalty
    assert dist.item() == 0.0


class _TinyEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 4, stride=4)
        self.out_dim = 6

    def forward(self, x):
        return self.conv(x)


def test_vf_projection_weights_and_gradients(model, x):
    torch.manual_seed(0)
    enc = _TinyEncoder()
    vf = VFLoss(enc, latent_channels=4, label="tiny-test-encoder")
    assert [p.shape for p in vf.parameters()] == [(6, 4, 1, 1), (6,)]              # only the projection
    assert set(vf.state_dict()) == {"proj.weight", "proj.bias"}                     # the frozen encoder is not saved
    assert not any(p.requires_grad for p in enc.parameters())
    assert vf.describe()["vf_encoder"] == "tiny-test-encoder"
    vf.double()  # .to()/.double() move the held encoder with the projection
    assert enc.conv.weight.dtype == torch.float64
    vf.float()

    post = model.encode(x)
    z = post.sample()
    rec = F.l1_loss(model.decode(z), x)
    loss, logs = vf(x, model, post, z, rec_loss=rec)
    g_rec = torch.autograd.grad(rec, model.encoder_last_layer, retain_graph=True)[0]
    l_vf, _ = vf.vf_loss(x, z)
    g_vf = torch.autograd.grad(l_vf, model.encoder_last_layer, retain_graph=True)[0]
    expected = 0.1 * (g_rec.norm() / (g_vf.norm() + 1e-4)).item()
    assert logs["vf_adaptive"] == 1.0 and logs["vf_weight"] == pytest.approx(expected, rel=1e-5)
    assert logs["vf"] == pytest.approx(logs["vf_cos"] + logs["vf_distmat"], rel=1e-6)
    vf.zero_grad()
    enc_hit, _, dec_none = _reached(model, loss)
    assert enc_hit and dec_none and vf.proj.weight.grad is not None
    assert all(p.grad is None for p in enc.parameters())

    ae_loss = AELoss([vf])
    assert ae_loss.trainable_parameters() == list(vf.proj.parameters())
    assert ae_loss.describe()["vf_encoder"] == "tiny-test-encoder"
    fixed, logs = VFLoss(enc, 4, adaptive=False)(x, model, post, z)
    assert logs["vf_weight"] == pytest.approx(0.1) and logs["vf_adaptive"] == 0.0


def test_vf_with_registry_encoder(model, x):
    pytest.importorskip("smlib.models.encoders")
    regs = build_regularizers({"vf": {"encoder": "random-cnn", "pretrained": False}}, latent_channels=4,
                              device="cpu")
    assert regs[0].describe()["vf_encoder"] == "random-cnn" and regs[0].proj.out_channels == 64
    out = AELoss(regs)(x, model)
    assert math.isfinite(out.logs["vf"]) and out.logs["vf_adaptive"] == 1.0


# --------------------------------------------------------------------------------------------------- LPIPS, GAN
def test_lpips_offline_error_and_random_backbone(monkeypatch):
    lpips_pkg = pytest.importorskip("lpips")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(lpips_pkg.pretrained_networks.tv, "vgg16", offline)  # what a download attempt does here
    with pytest.raises(LPIPSUnavailableError, match="cannot be downloaded here.*disabled in the offline presets"):
        LPIPS()
    monkeypatch.undo()
    torch.manual_seed(0)
    lp = LPIPS(allow_random_backbone=True)
    assert lp.label == "LPIPS with RANDOM backbone (test only)"
    assert list(lp.parameters()) == [] and lp.state_dict() == {}
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    b = (a + 0.3 * torch.randn(2, 3, 32, 32)).requires_grad_(True)
    d = lp(b, a)
    assert d.shape == (2,) and (d > 0).all() and lp(a, a).abs().max() < 1e-6
    d.sum().backward()
    assert b.grad is not None and b.grad.abs().sum() > 0


def test_gan_losses_and_adaptive_weight(model, x):
    assert hinge_d_loss(torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])).item() == pytest.approx(0.25 + 0.5)
    assert generator_loss(torch.tensor([1.0, 3.0])).item() == -2.0
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    rec, g = (3 * w).sum(), (w**2).sum()          # grads (3, 3) and (2, 4): ratio sqrt(18) / sqrt(20)
    assert adaptive_gan_weight(rec, g, w).item() == pytest.approx(math.sqrt(18 / 20))
    assert adaptive_gan_weight(rec, 1e-9 * g, w).item() == 1e4  # clamped

    torch.manual_seed(0)
    disc = PatchDiscriminator()
    ae_loss = AELoss([], gan=GANLoss(disc_weight=0.5))
    out = ae_loss(x, model, discriminator=disc)
    assert out.gan_applicable and out.logs["gan_adaptive_weight"] > 0
    assert out.logs["loss"] == pytest.approx(
        out.logs["rec"] + 0.5 * out.logs["gan_adaptive_weight"] * out.logs["g_loss"], rel=1e-5, abs=1e-6)
    _, dec, _ = _reached(model, out.loss)
    assert dec
    d_loss, d_logs = ae_loss.gan.discriminator_term(disc, out.x_target, out.x_hat)
    disc.zero_grad()
    d_loss.backward()
    assert all(p.grad is not None for p in disc.parameters()) and d_logs["d_loss"] >= 0
