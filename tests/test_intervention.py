"""Chapter 5b (smlib.experiments.intervention): the arm's map inside the normaliser round-trips the latents, every
arm decodes what the autoencoder always decoded, and a tiny sweep trains every arm through its map with one shared
normalisation and records the map it used."""
import pytest
import torch

from smlib.experiments import intervention as IV
from smlib.pipelines import latent_source
from smlib.results import RunContext
from smlib.spectral.latent_transforms import LatentTransform, fit_transform
from test_diffusability import PixelFeatures, synthetic_cache, tiny_ae
from test_diffusability_sweep import TinyLabPresets

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_normaliser_with_a_map_round_trips_and_keeps_the_scale():
    cache = synthetic_cache(n=64, shape=(4, 8, 8))
    for arm in ("white", "scramble"):
        norm = IV.normalizer_for(arm, IV.InterventionConfig.at("ci"))(cache, None)
        z = cache.sample(torch.arange(16), torch.Generator().manual_seed(3))
        assert (norm.denormalize(norm.normalize(z)) - z).abs().max() < 1e-6
        plain = IV.normalizer_for("identity", IV.InterventionConfig.at("ci"))(cache, None)
        assert norm.base.scale == pytest.approx(plain.base.scale, rel=1e-9)     # level="preserve": one scale
        back = LatentTransform.from_dict(norm.to_dict()["transform"])
        assert torch.equal(back.forward(z.double()), norm.transform.forward(z.double()))


def test_every_arm_decodes_the_same_latents():
    ae = tiny_ae()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    z = torch.randn(256, 4, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for kind in ("white", "scramble"):
        t = fit_transform(kind, z)
        assert IV.reconstruction_gap(ae, t, images) < 1e-6


def test_a_tiny_sweep_trains_every_arm_through_its_map(tmp_path, monkeypatch):
    monkeypatch.setattr(latent_source, "AutoencoderConfig", TinyLabPresets)
    cfg = IV.InterventionConfig.at(
        "ci", dataset="deadleaves", n_images=24, n_reference=12, n_fid=6, kid_subset=6, n_freq=8, n_grid=4, steps=2,
        batch_size=8, log_every=1, warmup_steps=0, sample_steps=2, seeds=(0,), arms=("identity", "esm", "scramble"),
        model=dict(arch="dit", hidden_size=32, depth=1, num_heads=2, patch_size=2))
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                     features=PixelFeatures())
    runs = IV.SWEEP.run(cfg, ctx)
    assert [r["arm"] for r in runs] == ["identity", "esm", "scramble"] and all(r["completed"] for r in runs)
    assert all(r["reconstruction_gap"] < 1e-6 for r in runs)
    assert len({r["transform_key"] for r in runs}) == 3
    scales = [r["normalizer"]["base"]["scale"][0] for r in runs]          # level="preserve": one normalisation
    assert max(scales) == pytest.approx(min(scales), rel=1e-9)
    assert {r["autoencoder"]["checkpoint"] for r in runs} == {runs[0]["autoencoder"]["checkpoint"]}
    assert all(r["floor"]["fid"] == runs[0]["floor"]["fid"] for r in runs)     # one decoder, one floor
    # the notebook's live maps are the run's maps: the same cache file, the same fitted transform
    from smlib.experiments.intervention import analysis
    from smlib.pipelines import latent_diffusion as ld
    ae = ld.obtain_autoencoder(cfg.variant, cfg, ctx, int(cfg.ae_seed))
    cache, images = analysis.training_latents(cfg, ctx, ae)
    assert cache.key == runs[0]["latent_cache"] and len(cache) == 2 * cfg.n_images == 2 * len(images)
    maps = analysis.fit_arms(cache, images, cfg, arms=("esm", "scramble"))
    for r in runs[1:]:
        assert maps[r["arm"]].to_dict() == r["normalizer"]["transform"]
    held, test_images = analysis.held_out_latents(cfg, ctx, ae)
    assert held.shape == (cfg.n_freq, *cache.latent_shape) and len(test_images) == cfg.n_freq
