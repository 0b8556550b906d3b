"""The SD-VAE-style autoencoder and PatchGAN: shapes, parameter counts against SD's KL-f8, closed forms."""
import math

import pytest
import torch
import torch.nn.functional as F

from smlib.models.autoencoder import (AE_CONFIGS, AEConfig, AttentionBlock, AutoEncoder, DiagonalGaussian,
                                      Downsample, ae_config)
from smlib.models.factory import count_parameters
from smlib.models.discriminator import PatchDiscriminator


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name, f", [("tiny-f4d4", 4), ("tiny-f8d4", 8)])
def test_tiny_shapes(name, f):
    torch.manual_seed(0)
    model = AutoEncoder(name)
    assert model.factor == f == ae_config(name).factor
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    post = model.encode(x)
    assert post.mean.shape == post.logvar.shape == (2, 4, 32 // f, 32 // f)
    x_hat, post2, z = model(x)
    assert x_hat.shape == x.shape and z.shape == (2, 4, 32 // f, 32 // f)
    assert model.latent_shape(32) == (4, 32 // f, 32 // f)
    # non-square images work too
    assert model(torch.zeros(1, 3, 32, 16))[2].shape == (1, 4, 32 // f, 16 // f)
    # the mean path is deterministic, the sampling path is seeded by the generator
    assert torch.equal(model(x, sample=False)[2], post.mean)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model(x, generator=g1)[2], model(x, generator=g2)[2])


def test_paper_config_matches_sd_kl_f8_parameter_count():
    # CompVis/diffusers AutoencoderKL (KL-f8, ch 128, mult 1,2,4,4, 2 res blocks, z 4): 83,653,863 parameters,
    # 34,163,664 in encoder + quant_conv and 49,490,199 in post_quant_conv + decoder.
    model = AutoEncoder("f8d4")
    assert count_parameters(model.encoder) + count_parameters(model.quant_conv) == 34_163_664
    assert count_parameters(model.decoder) + count_parameters(model.post_quant_conv) == 49_490_199
    assert count_parameters(model) == 83_653_863
    assert AE_CONFIGS["f16d16"].factor == 16 and AE_CONFIGS["f16d16"].latent_size == 16


def test_diagonal_gaussian_closed_forms():
    torch.manual_seed(0)
    mean, logvar = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    post = DiagonalGaussian(mean, logvar)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mean, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).flatten(1)
    torch.testing.assert_close(post.kl("sum"), ref.sum(1))
    torch.testing.assert_close(post.kl("mean"), ref.mean(1))
    std_normal = DiagonalGaussian(torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3))
    assert torch.count_nonzero(std_normal.kl()) == 0
    # logvar clamp [-30, 20] keeps exp() finite
    clamped = DiagonalGaussian(torch.zeros(1, 1, 1, 2), torch.tensor([[[[-100.0, 100.0]]]]))
    assert clamped.logvar.flatten().tolist() == [-30.0, 20.0]
    assert torch.isfinite(clamped.kl()).all()
    with pytest.raises(ValueError, match="reduction"):
        post.kl("max")


def test_attention_matches_explicit_softmax():
    torch.manual_seed(0)
    block = AttentionBlock(16, groups=4)
    x = torch.randn(2, 16, 3, 5)
    y = block.norm(x)
    q, k, v = (m(y).flatten(2) for m in (block.q, block.k, block.v))       # (B, C, N)
    w = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(16), dim=-1)       # (B, N, N)
    ref = x + block.proj_out((v @ w.transpose(1, 2)).reshape(2, 16, 3, 5))
    torch.testing.assert_close(block(x), ref, atol=1e-5, rtol=1e-5)


def test_downsample_pads_right_and_bottom_only():
    down = Downsample(1, "conv")
    x = torch.randn(1, 1, 8, 8, requires_grad=True)
    out = down(x)
    assert out.shape == (1, 1, 4, 4)
    out[0, 0, 0, 0].backward()
    support = (x.grad[0, 0] != 0).nonzero()
    assert support.max().item() <= 2 and support.min().item() >= 0  # output (0,0) sees inputs 0..2 (SD's pad 0,1)
    assert AutoEncoder(AEConfig(channels=(8, 8), layers_per_block=1, groups=4, downsample="avgpool"))(
        torch.zeros(1, 3, 8, 8))[2].shape == (1, 4, 4, 4)


def test_group_count_falls_back_for_narrow_layers():
    model = AutoEncoder(AEConfig(channels=(12, 20), layers_per_block=1, groups=32, latent_channels=2))
    groups = {m.num_channels: m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)}
    assert groups == {12: 12, 20: 20}
    model = AutoEncoder(AEConfig(channels=(48, 40), layers_per_block=1, groups=32, latent_channels=2))
    groups = {m.num_channels: m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)}
    assert groups == {48: 24, 40: 20}


def test_decoder_depth_is_layers_plus_one():
    model = AutoEncoder("tiny-f4d4")
    assert [len(level.blocks) for level in model.encoder.down] == [1, 1, 1]
    assert [len(level.blocks) for level in model.decoder.up] == [2, 2, 2]


def test_bad_inputs_fail_clearly():
    model = AutoEncoder("tiny-f4d4")
    with pytest.raises(ValueError, match="multiple of the AE factor f=4"):
        model.encode(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"expected images \(B, 3, H, W\)"):
        model.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"expected latents \(B, 4, h, w\)"):
        model.decode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="unknown autoencoder config 'f7'"):
        ae_config("f7")
    with pytest.raises(ValueError, match="downsample"):
        AEConfig(downsample="maxpool")


def test_patch_discriminator_shapes():
    torch.manual_seed(0)
    disc = PatchDiscriminator()
    widths = [m.out_channels for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [64, 128, 256, 512, 1]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in disc.modules()) == 3
    # 64 -> 32 -> 16 -> 8 (stride 2) -> 7 -> 6 (stride 1, k4 p1); 256 would give 30 x 30
    assert disc(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="at least 32x32"):
        disc(torch.randn(1, 3, 16, 16))
    assert F.leaky_relu(torch.tensor(-1.0), 0.2) == disc.model[1](torch.tensor(-1.0))
