"""FID against the decoder's reconstructions (smlib.metrics.reconstruction_reference) on a toy whose decoder is a
known blur.

The toy: images are random fields with a 1/f^2 power spectrum (16 x 16 x 3); the "autoencoder" encodes by the
identity (latent = image, a small posterior std) and decodes by a fixed Gaussian blur of width sigma; the features
are a fixed random conv net (seeded), injected where the book uses Inception. Everything else is the real code path:
reference_set / reconstruction_reference caches, encode_images -> posterior_sample -> decode_latents, and
evaluate_generation's FID and KID. A "generator" that samples the true latent distribution is the posterior of
held-out images; wrong generators rescale those latents, whiten their spectrum, or add a checkerboard.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smlib.data.latents import autoencoder_fingerprint
from smlib.metrics import reconstruction_reference as R
from smlib.metrics.generation import decode_latents
from smlib.metrics.reference import reference_set
from smlib.models.autoencoder import DiagonalGaussian

N, SIZE = 400, 16
SIGMAS = (0.0, 0.7, 1.5, 3.0)


def fields(n: int, slope: float, seed: int) -> torch.Tensor:
    """n random images (n, 3, SIZE, SIZE) in [-1, 1] with power spectrum ~ 1/|f|^slope and a random mean colour."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(SIZE)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2).clamp_min(1.0 / SIZE)
    x = torch.fft.ifft2(torch.fft.fft2(torch.randn(n, 3, SIZE, SIZE, generator=g)) * radius ** (-slope / 2)).real
    x = x - x.mean(dim=(-1, -2), keepdim=True)
    x = 0.3 * x / x.std(dim=(1, 2, 3), keepdim=True) + 0.2 * torch.randn(n, 3, 1, 1, generator=g)
    return x.clamp(-1, 1)


class BlurAutoencoder(nn.Module):
    """encode: the identity with posterior std ``post_std``; decode: a 7x7 Gaussian blur of width ``sigma``
    (reflect padding; sigma 0 is the identity). Its only state is the kernel buffer, so the fingerprint names
    the blur."""

    def __init__(self, sigma: float, post_std: float = 0.02):
        super().__init__()
        t = torch.arange(7, dtype=torch.float64) - 3
        w = torch.exp(-t ** 2 / (2 * sigma ** 2)) if sigma > 0 else (t == 0).double()
        w = (w / w.sum()).float()
        self.register_buffer("kernel", (w[:, None] * w[None, :]).expand(3, 1, 7, 7).clone())
        self.register_buffer("logvar", torch.tensor(2 * math.log(post_std)))
        self.encode_calls = 0

    def encode(self, x):
        self.encode_calls += 1
        return DiagonalGaussian(x, self.logvar.expand_as(x))

    def decode(self, z):
        return F.conv2d(F.pad(z, (3, 3, 3, 3), mode="reflect"), self.kernel, groups=3)


class RandomConvFeatures:
    """A fixed random conv net (seed 0): per-channel spatial mean and std of two ReLU conv layers -> (B, 32)."""

    feature_id = "toy-randconv-32"

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(16, 3, 3, 3, generator=g) / math.sqrt(27)
        self.w2 = torch.randn(16, 16, 3, 3, generator=g) / math.sqrt(144)
        self.b1, self.b2 = 0.1 * torch.randn(16, generator=g), 0.1 * torch.randn(16, generator=g)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> np.ndarray:
        h = F.relu(F.conv2d(F.relu(F.conv2d(x, self.w1, self.b1, padding=1)), self.w2, self.b2, stride=2, padding=1))
        return 10 * torch.cat([h.mean((-1, -2)), h.std((-1, -2))], 1).double().numpy()


@pytest.fixture(scope="module")
def toy(tmp_path_factory, one_thread):
    """Every score of the toy, once: per sigma the two floors and four generators against both references."""
    cache = tmp_path_factory.mktemp("references")
    features = RandomConvFeatures()
    reference, held_out, other = fields(N, 2.0, 1), fields(N, 2.0, 2), fields(N, 2.0, 3)
    real = reference_set("toy", "train", SIZE, N, reference, features, subset="s0", cache_dir=cache)
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(SIZE)] for i in range(SIZE)])
    signs = torch.randn(N, 1, 1, 1, generator=torch.Generator().manual_seed(7)).sign()
    out = {}
    for sigma in SIGMAS:
        ae = BlurAutoencoder(sigma)
        recon = R.reconstruction_reference(ae, reference, features, dataset="toy", split="train", resolution=SIZE,
                                           subset="s0", ae_key=autoencoder_fingerprint(ae), cache_dir=cache)
        floors = R.reconstruction_floors(ae, other, features, real, recon)
        z = ae.encode(held_out).sample(torch.Generator().manual_seed(5))         # the true latent distribution
        generators = {"right": z, "rescaled": 1.25 * z,
                      "white": ae.encode(fields(N, 0.0, 2)).sample(torch.Generator().manual_seed(5)),
                      "checker": z + 0.15 * signs * checker}
        scores = {name: R.evaluate_against_reconstructions(features(decode_latents(ae, u, R.IDENTITY)), recon,
                                                           real=real)
                  for name, u in generators.items()}
        out[sigma] = {"floors": floors, **scores}
    return out


def test_blind_to_the_blur_for_the_true_latent_distribution(toy):
    """The right generator sits at the metric's own floor (two independent sets of reconstructions) at every blur,
    and that floor hardly moves; raw gFID of the same samples grows with the blur by two orders of magnitude."""
    floor0 = toy[0.0]["floors"]["fid_recon"]
    raw = [toy[s]["right"]["fid"] for s in SIGMAS]
    for s in SIGMAS:
        right, floor = toy[s]["right"]["fid_recon"], toy[s]["floors"]["fid_recon"]
        assert right < 1.5 * floor and floor < 2.0 * floor0, (s, right, floor, floor0)
        # the decoder floor is what raw gFID of a perfect model reads: the two agree within sampling noise
        assert toy[s]["right"]["fid"] == pytest.approx(toy[s]["floors"]["fid"], rel=0.5, abs=3 * floor0)
    assert all(b > a for a, b in zip(raw, raw[1:])), raw
    assert raw[-1] > 50 * toy[SIGMAS[-1]]["right"]["fid_recon"]


def test_sensitive_to_a_wrong_latent_distribution(toy):
    """Rescaled latents (x 1.25) and a white spectrum (instead of 1/f^2) score well above the floor at every blur;
    KID says the same (the right generator's unbiased KID is ~0, the wrong ones' are not). Raw gFID, by contrast,
    prefers the rescaled latents to the true ones once there is blur: their extra contrast offsets the decoder's
    loss of it."""
    for s in SIGMAS:
        floor = toy[s]["floors"]["fid_recon"]
        assert toy[s]["rescaled"]["fid_recon"] > 8 * floor, s
        assert toy[s]["white"]["fid_recon"] > 3 * floor, s
        wrong_kid = min(toy[s]["rescaled"]["kid_recon"], toy[s]["white"]["kid_recon"])
        assert wrong_kid > 5 * abs(toy[s]["right"]["kid_recon"]), s
        if s > 0:
            assert toy[s]["rescaled"]["fid"] < toy[s]["right"]["fid"], s          # raw gFID: the wrong one wins
            assert toy[s]["rescaled"]["fid_recon"] > 8 * toy[s]["right"]["fid_recon"], s


def test_blind_to_what_the_decoder_erases(toy):
    """The limitation the chapter states: a checkerboard added to the latents is caught without blur but is
    invisible once the decoder's blur removes it (a Gaussian of width 3 passes exp(-2 pi^2 9 / 4) ~ 1e-19 of the
    Nyquist frequency): the metric judges decoded images, not latents."""
    assert toy[0.0]["checker"]["fid_recon"] > 5 * toy[0.0]["floors"]["fid_recon"]
    assert toy[3.0]["checker"]["fid_recon"] < 1.5 * toy[3.0]["floors"]["fid_recon"]


def test_reconstructions_are_decoded_posterior_samples(one_thread):
    """reconstruct = decode(mean + std * eps), eps drawn at once from a CPU generator seeded with ``seed`` (the
    draw decoder_floor makes), by hand; batching does not change it; another seed gives another draw."""
    ae, x = BlurAutoencoder(1.0, post_std=0.1), fields(10, 2.0, 4)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    by_hand = ae.decode(x + 0.1 * eps).clamp(-1, 1)
    torch.testing.assert_close(R.reconstruct(ae, x, seed=3), by_hand, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(R.reconstruct(ae, x, seed=3, batch_size=3), by_hand, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(R.reconstruct(ae, x, seed=4), by_hand)


def test_the_reference_is_cached_per_autoencoder(tmp_path, one_thread):
    """Computed once per (autoencoder weights, posterior seed): the second call encodes nothing; another blur (other
    weights) or seed is another file; the key extends the real reference's."""
    features, images = RandomConvFeatures(), fields(20, 2.0, 5)
    ae = BlurAutoencoder(1.0)
    key = autoencoder_fingerprint(ae)
    kw = dict(dataset="toy", split="train", resolution=SIZE, subset="s0", cache_dir=tmp_path)
    first = R.reconstruction_reference(ae, images, features, ae_key=key, **kw)
    assert ae.encode_calls == 1 and first.key == f"toy_train_16px_n20_s0-recon-{key[:12]}-post1_toy-randconv-32"
    again = R.reconstruction_reference(ae, images, features, ae_key=key, **kw)
    assert ae.encode_calls == 1 and np.array_equal(again.features, first.features)
    other = BlurAutoencoder(2.0)
    assert autoencoder_fingerprint(other) != key
    assert R.reconstruction_reference(other, images, features, ae_key=autoencoder_fingerprint(other), **kw).key \
        != first.key
    assert R.reconstruction_reference(ae, images, features, ae_key=key, seed=0, **kw).key.endswith("post0_toy-randconv-32")
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_mismatched_references_are_refused(tmp_path):
    feats = np.random.default_rng(0).normal(size=(30, 4))
    real = reference_set("toy", "train", SIZE, 30, torch.zeros(30, 3, 4, 4), lambda x: feats[: len(x)],
                         feature="a", cache_dir=tmp_path)
    fewer = reference_set("toy", "train", SIZE, 20, torch.zeros(20, 3, 4, 4), lambda x: feats[: len(x)],
                          feature="a", subset="r", cache_dir=tmp_path)
    other = reference_set("toy", "train", SIZE, 30, torch.zeros(30, 3, 4, 4), lambda x: feats[: len(x)],
                          feature="b", subset="r", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="different N"):
        R.evaluate_against_reconstructions(feats, fewer, real=real)
    with pytest.raises(ValueError, match="different features"):
        R.evaluate_against_reconstructions(feats, other, real=real)
    with pytest.raises(ValueError, match="name the autoencoder"):
        R.reconstruction_subset("s0", "")
