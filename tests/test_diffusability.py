"""Latent diffusion recipe: latent cache (determinism, flips, keys), normalisation against numpy, bit-exact resume
of a diffusion run, the paper preset at full size for 2 steps, gFID of a set against itself through the pipeline,
the per-frequency error against the Gaussian closed form, and precision/recall by brute force."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from smlib import spectral
from smlib.diffusion import make_formulation
from smlib.experiments import diffusability as D
from smlib.pipelines import latent_diffusion as LD
from smlib.data.latents import (LatentCache, LatentNormalizer, build_latent_cache, cache_key,
                                       encode_images, fit_normalizer)
from smlib.models.autoencoder import AutoEncoder
from smlib.metrics.fid import frechet_distance_fast, precision_recall
from smlib.metrics.frequency_errors import channel_power, frequency_errors
from smlib.metrics.generation import GenerationEvaluator, decode_latents, evaluate_generation, sample_latents
from smlib.metrics.reference import reference_set
from smlib.models.factory import build_backbone
from smlib.provenance import repo_relative, resolve_repo_path
from smlib.results import RunContext
from smlib.train import load_checkpoint
from smlib.train.logs import read_metrics


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_ae(seed=0):
    torch.manual_seed(seed)
    return AutoEncoder("tiny-f4d4").eval()


def images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=g) * 2 - 1), torch.arange(n) % 3


# -- latent cache ------------------------------------------------------------------------------------------------

def test_latent_cache_is_deterministic_cached_and_flips_are_encoded(tmp_path, monkeypatch):
    ae, (x, y) = tiny_ae(), images()
    kw = dict(dataset="synthetic", resolution=32, batch_size=4)
    a = build_latent_cache(ae, x, y, cache_dir=tmp_path / "a", **kw)
    b = build_latent_cache(tiny_ae(), x, y, cache_dir=tmp_path / "b", **kw)  # same weights, fresh encode
    assert a.key == b.key and torch.equal(a.data, b.data)
    assert a.data.shape == (12, 8, 8, 8) and a.latent_shape == (4, 8, 8)
    # layout: originals, then flips of the same images in the same order
    assert a.index.tolist() == list(range(6)) * 2 and a.flipped.tolist() == [False] * 6 + [True] * 6
    assert a.labels.tolist() == y.tolist() * 2
    with torch.no_grad():
        post = ae.encode(x.flip(-1))
        assert torch.allclose(a.data[6:, :4], post.mean, atol=1e-5)
        assert torch.allclose(a.data[6:, 4:], post.logvar, atol=1e-5)
        assert not torch.allclose(a.data[6:], a.data[:6].flip(-1), atol=1e-3)  # not flip(encode(x))
    # a second call loads the file instead of encoding
    monkeypatch.setattr("smlib.data.latents.encode_images", lambda *a, **k: pytest.fail("re-encoded"))
    c = build_latent_cache(ae, x, y, cache_dir=tmp_path / "a", **kw)
    assert torch.equal(c.data, a.data) and c.meta == a.meta
    # other weights, other key
    other = cache_key("0" * 64, "synthetic", "train", 32, 6, 0, True, "moments")
    assert other != a.key and a.key.startswith("synthetic-train-32px-n6-flip-moments-")


def test_cache_file_round_trip_and_refusal(tmp_path):
    ae, (x, _) = tiny_ae(), images(4)
    data, lab, idx, flipped = encode_images(ae, [x], flips=False, store="samples")
    cache = LatentCache(data, lab, idx, flipped, "samples", {"key": "k1"})
    path = cache.save(tmp_path / "c.pt")
    back = LatentCache.load(path)
    assert torch.equal(back.data, data) and back.store == "samples" and (lab == -1).all()
    assert torch.load(path, weights_only=True)["format"] == "smlib.latents/1"
    # samples are a seeded draw: the same twice
    assert torch.equal(encode_images(ae, [x], flips=False, store="samples")[0], data)
    with pytest.raises(FileNotFoundError):
        LatentCache.load(tmp_path / "missing.pt")


def test_normalizer_matches_numpy():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.5, -2.0, 1.0]).view(1, 3, 1, 1) + 0.3 * torch.randn(200, 3, 4, 4, generator=g)
    logvar = torch.log(torch.tensor([0.25, 4.0, 1.0])).view(1, 3, 1, 1).expand(200, 3, 4, 4)
    cache = LatentCache(torch.cat([mean, logvar], 1), torch.zeros(200, dtype=torch.long),
                        torch.arange(200), torch.zeros(200, dtype=torch.bool))
    z = cache.sample(torch.arange(200), torch.Generator().manual_seed(7)).double().numpy()
    glob = fit_normalizer(cache, "global", seed=7)
    assert glob.shift == (0.0,) and glob.scale[0] == pytest.approx(1 / z.std(ddof=1), rel=1e-12)
    chan = fit_normalizer(cache, "channel", seed=7)
    zc = z.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(chan.shift, zc.mean(1), rtol=1e-10)
    np.testing.assert_allclose(chan.scale, 1 / zc.std(1, ddof=1), rtol=1e-10)
    zt = torch.from_numpy(z)
    u = chan.normalize(zt)
    np.testing.assert_allclose(u.transpose(0, 1).reshape(3, -1).std(1).numpy(), 1.0, rtol=1e-10)
    assert torch.allclose(chan.denormalize(u), zt) and torch.allclose(glob.denormalize(glob.normalize(zt)), zt)
    assert LatentNormalizer.from_dict(json.loads(json.dumps(chan.to_dict()))) == chan
    with pytest.raises(ValueError):
        fit_normalizer(cache, "per-pixel")


# -- training: resume and the paper preset ------------------------------------------------------------------------

def synthetic_cache(n=24, shape=(4, 8, 8), n_classes=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    d, h, w = shape
    mean = torch.randn(n, d, h, w, generator=g)
    logvar = torch.full((n, d, h, w), -2.0)
    labels = torch.randint(0, n_classes, (n,), generator=g) if n_classes else torch.full((n,), -1)
    return LatentCache(torch.cat([mean, logvar], 1), labels, torch.arange(n), torch.zeros(n, dtype=torch.bool),
                       meta={"key": f"synthetic-{n}-{shape}"})


def tiny_cfg(**kw):
    return D.DiffusabilityConfig.at("ci", model=dict(arch="dit", hidden_size=16, depth=1, num_heads=2, patch_size=2),
                            steps=10, batch_size=8, ckpt_every=3, log_every=2, warmup_steps=3, n_fid=0, **kw)


def test_diffusion_run_resumed_ends_bit_identical(tmp_path):
    cache = synthetic_cache()
    full = LD.fit_latent_diffusion(cache, tiny_cfg(), tmp_path / "full", device="cpu", seed=3)
    assert full["completed"] and full["step"] == 10
    part = LD.fit_latent_diffusion(cache, tiny_cfg(), tmp_path / "part", device="cpu", seed=3, max_steps_this_call=4)
    assert (part["step"], part["completed"]) == (4, False)
    torch.manual_seed(1234)  # a disturbed global RNG must not matter: the checkpoint holds every RNG state
    resumed = LD.fit_latent_diffusion(cache, tiny_cfg(), tmp_path / "part", device="cpu", seed=3)
    assert resumed["completed"] and resumed["step"] == 10
    a, b = load_checkpoint(full["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    for part_name in ("model", "optimizer", "ema"):
        flat_a, flat_b = _tensors(a[part_name]), _tensors(b[part_name])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            assert torch.equal(flat_a[k], flat_b[k]), f"{part_name}.{k}"
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    rows = lambda r: [row for row in read_metrics(r["metrics_csv"], ("loss",))["loss"]]  # noqa: E731
    assert rows(full) == rows(resumed) and len(rows(full)) == 5
    # a changed normalisation or model is another run: refused
    with pytest.raises(ValueError, match="another config"):
        LD.fit_latent_diffusion(cache, tiny_cfg(norm_mode="channel"), tmp_path / "part", device="cpu", seed=3)


def _tensors(obj, prefix=""):
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_tensors(v, f"{prefix}.{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_tensors(v, f"{prefix}[{i}]"))
    return out


def test_paper_preset_full_configuration_trains_two_steps(tmp_path):
    cfg = D.DiffusabilityConfig.at("paper")
    assert (cfg.setting, cfg.model["name"], cfg.formulation, cfg.sampler, cfg.sample_steps) == \
        ("imagenet256", "B/2", "sit", "sde", 250)
    assert (cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.ema_decay, cfg.grad_clip, cfg.steps) == \
        (256, 1e-4, 0.0, 0.9999, 1.0, 400000)
    assert (cfg.resolution, cfg.num_classes, cfg.n_final_fid, cfg.norm_mode) == (256, 1000, 50000, "channel")
    shape = (16, 16, 16)  # f16d16 at 256 px
    # the full model (SiT-B/2: 130M parameters, REPA Table 3), optimiser and EMA, fed a tiny synthetic batch at
    # the true latent shape
    cache = synthetic_cache(n=4, shape=shape, n_classes=1000)
    run_cfg = D.DiffusabilityConfig.at("paper", batch_size=2, steps=2, ckpt_every=None, log_every=1, n_fid=0)
    out = LD.fit_latent_diffusion(cache, run_cfg, tmp_path / "paper", device="cpu", seed=0)
    assert out["completed"] and out["step"] == 2 and out["num_classes"] == 1000
    assert out["num_params"] == pytest.approx(130e6, rel=0.01)
    assert np.isfinite(out["train_logs"]["loss"])
    # the CelebA-HQ setting: U-ViT-M/2 on f8d4 latents (32x32x4), DDPM eps-prediction, DDIM 50
    celeba = D.DiffusabilityConfig.at("paper", setting="celebahq256")
    assert (celeba.model["arch"], celeba.model["name"], celeba.formulation, celeba.num_classes) == \
        ("uvit", "M/2", "ddpm-linear", 0)


# -- metrics through the pipeline ---------------------------------------------------------------------------------

def test_gfid_of_a_set_against_itself_is_zero(tmp_path):
    from smlib.metrics import InceptionFeatures

    x = spectral.power_law_field(20, 3, 32, 2.0, generator=torch.Generator().manual_seed(0)).float().clamp(-3, 3) / 3
    feats = InceptionFeatures("cpu", batch_size=20)
    ref = reference_set("synthetic", "train", 32, 20, x, feats, cache_dir=tmp_path)
    assert (tmp_path / f"{ref.key}.npz").is_file() and ref.n == 20
    same = evaluate_generation(x, ref, feats)
    assert same["fid_label"] == "FID-20" and same["n_samples"] == 20 and same["n_reference"] == 20
    assert abs(same["fid"]) < 1e-2
    # a clearly different set scores far from 0 (features reused; no second Inception pass)
    other = evaluate_generation(None, ref, sample_features=ref.features[::-1] * 0.5 + 0.1)
    assert other["fid"] > 10 * max(abs(same["fid"]), 1e-3) and other["kid"] > same["kid"]
    # the cached reference is reused
    again = reference_set("synthetic", "train", 32, 20, lambda: pytest.fail("recomputed"), feats,
                          cache_dir=tmp_path)
    np.testing.assert_array_equal(again.features, ref.features)


class PixelFeatures:
    """A cheap stand-in for Inception in tests: the first 12 pixels of each image, as float64."""

    feature_id = "pixels12"

    def __call__(self, x):
        return x.flatten(1)[:, :12].double().numpy()


def test_batched_evaluator_scores_exactly_what_sampling_everything_at_once_scores(tmp_path):
    ae = tiny_ae()
    torch.manual_seed(0)
    model = build_backbone(dict(arch="dit", hidden_size=32, depth=1, num_heads=2, patch_size=2), (4, 8, 8)).eval()
    f = make_formulation("sit")
    norm = LatentNormalizer((0.0,), (1.0,))
    feats = PixelFeatures()
    ref = reference_set("synthetic", "train", 32, 30, images(30, seed=1)[0], feats, cache_dir=tmp_path)
    ev = GenerationEvaluator(ae, norm, f, ref, feats, 7, (4, 8, 8), steps=3, seed=5, batch_size=3, keep_images=4)
    scores = ev(model, 0)
    whole = decode_latents(ae, sample_latents(model, f, 7, (4, 8, 8), steps=3, seed=5, batch_size=3), norm)
    expected = evaluate_generation(whole, ref, feats)
    assert scores["n_samples"] == 7 and scores["fid"] == pytest.approx(expected["fid"], rel=1e-5)
    # decoding in batches of 3 instead of 7 changes the float rounding only
    torch.testing.assert_close(ev.last_images, whole[:4], atol=1e-5, rtol=0)  # only the first keep_images kept
    # a larger final evaluation through the same evaluator (the paper's FID-50k path)
    assert ev(model, 0, n=11)["n_samples"] == 11 and ev.n == 7


@pytest.mark.parametrize("n", [40, 200])
def test_fast_frechet_distance_matches_scipy_sqrtm(n):
    from smlib.metrics import feature_statistics, frechet_distance

    g = np.random.default_rng(n)
    ref = g.normal(size=(300, 64)) @ g.normal(size=(64, 64)) * 0.3
    x = g.normal(size=(n, 64)) @ g.normal(size=(64, 64)) * 0.3 + 0.2
    mu_r, s_r = feature_statistics(ref)
    expected = frechet_distance(*feature_statistics(x), mu_r, s_r)
    assert frechet_distance_fast(x, mu_r, s_r) == pytest.approx(expected, rel=1e-4)


def test_precision_recall_brute_force():
    g = np.random.default_rng(0)
    a = g.normal(size=(50, 5))
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a, a + 100.0) == (0.0, 0.0)


class LinearDenoiser(nn.Module):
    """A 'trained model' whose x0 estimate is a fixed per-frequency gain on the centred x_t, written here with
    torch.fft from the closed form, independently of smlib.theory: gain = a S / (a^2 S + s^2) is the Wiener
    filter; ``wrong_sigma`` builds the same filter for another noise level (a plausible schedule bug)."""

    def __init__(self, formulation, power2d, mean, wrong_sigma=None):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.f, self.power2d, self.mean, self.wrong_sigma = formulation, power2d.double(), mean.double(), wrong_sigma

    def forward(self, x_t, t, y=None):
        a, s = float(self.f.alpha(t[:1].double())[0]), float(self.f.sigma(t[:1].double())[0])
        s_filter = self.wrong_sigma if self.wrong_sigma is not None else s
        x = x_t.double()
        gain = a * self.power2d / (a * a * self.power2d + s_filter ** 2)           # (C, H, W)
        x0 = torch.fft.ifft2(torch.fft.fft2(x - a * self.mean) * gain).real + self.mean
        eps = (x - a * x0) / s
        return self.f.from_x0_eps(x0, eps, t.double().expand(x.shape[0])).float()


@pytest.mark.parametrize("name", ["sit", "ddpm-linear"])
def test_frequency_errors_of_an_independent_wiener_filter_match_prop_3_1(name):
    """Fed the exact Wiener filter (built here, not by smlib), the measured per-ring error must equal the
    library's Gaussian prediction S / (1 + a^2 S / s^2) within sampling noise; fed the same filter tuned to the
    wrong noise level, it must not: its error exceeds the prediction at the rings where the mistuning matters."""
    f = make_formulation(name)
    g = torch.Generator().manual_seed(0)
    train = spectral.power_law_field(512, 2, 16, 2.0, generator=g)
    test = spectral.power_law_field(256, 2, 16, 2.0, generator=g)
    power2d = channel_power(train)
    mean = train.mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)
    fe = frequency_errors(LinearDenoiser(f, power2d, mean), f, test.float(), train.float(), ts=(0.2, 0.5, 0.8),
                          seed=1)
    fy, fx = np.meshgrid(np.fft.fftfreq(16), np.fft.fftfreq(16), indexing="ij")
    ring = np.round(16 * np.hypot(fy, fx))
    assert fe.trained.shape == (3, 8) and fe.freqs.shape == (8,)
    assert fe.counts.tolist() == [float(((ring == k)).sum()) for k in range(1, 9)]
    ratio = fe.trained / fe.predicted
    assert np.all(np.abs(ratio - 1) < 0.15), ratio                # closed form of Prop. 3.1 within sampling noise
    s = fe.summary()
    assert 0 < s["unrecovered_predicted"] < 1 and abs(s["unrecovered_trained"] / s["unrecovered_predicted"] - 1) < 0.1
    # error rises with t at every ring; low rings are recovered better than high ones
    assert np.all(np.diff(fe.predicted, axis=0) > 0)
    lf = fe.learned_fraction("predicted")
    assert np.all(lf[:2, 0] > lf[:2, -1])
    # a filter tuned for almost no noise passes the noise through: the measured error must say so
    wrong = frequency_errors(LinearDenoiser(f, power2d, mean, wrong_sigma=1e-3), f, test.float(), train.float(),
                             ts=(0.2, 0.5, 0.8), seed=1)
    assert np.all(wrong.trained[1:, -3:] > 1.5 * wrong.predicted[1:, -3:]), wrong.trained / wrong.predicted   # t >= 0.5


def test_bad_names_fail_with_one_line(tmp_path):
    with pytest.raises(ValueError, match="unknown arm\\(s\\) vqgan"):
        D.SWEEP.run(D.DiffusabilityConfig.at("ci"), RunContext(results_dir=tmp_path), ["vqgan"])
    with pytest.raises(ValueError, match="model arch must be one of dit, uvit, unet, got 'vit'"):
        build_backbone({"arch": "vit"}, (4, 8, 8))


def test_variants_are_the_autoencoder_labs_and_unknown_ones_fail(tmp_path):
    from smlib.pipelines.autoencoder_config import EXTRA_VARIANTS
    from smlib.pipelines.autoencoder_config import VARIANTS as LAB

    assert set(D.VARIANTS) <= set(LAB) | set(EXTRA_VARIANTS) and set(D.BOOK_VARIANTS) == set(LAB)
    for preset in ("ci", "small", "paper"):
        assert set(D.DiffusabilityConfig.at(preset).variants) <= set(LAB) | set(EXTRA_VARIANTS)
    with pytest.raises(ValueError, match="unknown autoencoder variant 'sdvae'"):
        LD.obtain_autoencoder("sdvae", D.DiffusabilityConfig.at("ci", dataset="deadleaves"), RunContext(), 0)


TINY_AE = dict(ae_channels=(8, 8, 8), n_train=16, steps=2, batch_size=8, warmup_steps=1, log_every=1, ckpt_every=2,
               fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0,), eval_batch=8)


def tiny_lab_run(runs_dir):
    from smlib.pipelines import autoencoder as lab

    return lab.fit_autoencoder("plain", lab.AutoencoderConfig.at("ci", dataset="deadleaves", **TINY_AE),
                               device="cpu", runs_dir=runs_dir)


def test_a_lab_run_folder_carries_its_own_weights_copied_or_moved(tmp_path):
    import shutil

    res = tiny_lab_run(tmp_path / "runs")
    folder = resolve_repo_path(res["run_dir"])
    cfg = D.DiffusabilityConfig.at("ci")
    for given in (folder, folder / "result.json"):
        ae = LD.obtain_autoencoder("plain", cfg, RunContext(), 0, folder=given)
        assert Path(ae.checkpoint) == folder / "last.pt" and ae.info["source"] == repo_relative(given)
        assert ae.model.latent_channels == 4
    moved = tmp_path / "elsewhere" / "my-ae"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)                  # the stored checkpoint path no longer exists: the folder's own is read
    ae = LD.obtain_autoencoder("plain", cfg, RunContext(), 0, folder=moved)
    assert Path(ae.checkpoint) == moved / "last.pt"
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    (copy / "last.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="does not hold this run's autoencoder weights") as err:
        LD.obtain_autoencoder("plain", cfg, RunContext(), 0, folder=copy)
    assert "\n" not in str(err.value) and "copy/last.pt" in str(err.value)
    with pytest.raises(FileNotFoundError, match="is not an autoencoder run folder"):
        LD.obtain_autoencoder("plain", cfg, RunContext(), 0, folder=moved / "last.pt")


def test_cli_reports_a_bad_autoencoder_path_in_one_line(tmp_path, capsys):
    from smlib.cli import main

    assert main(["diffusion", "--variant", "dsm", "--autoencoder", str(tmp_path / "missing"), "--runs-dir",
                 str(tmp_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "missing is not an autoencoder run folder" in err and "\n" not in err


def test_a_run_end_to_end_scores_curves_floor_and_refuses_a_changed_recipe(tmp_path):
    """The whole latent diffusion run on tiny data: a lab AE run folder, two seeds, curves, a larger final FID, the
    decoder floor, a rerun that reads the run back, and a one-line refusal when the recipe changed under it."""
    ae_run = tiny_lab_run(tmp_path / "ae")
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", features=PixelFeatures())
    cfg = D.DiffusabilityConfig.at(
        "ci", dataset="deadleaves", n_images=24, n_reference=12, n_fid=6, kid_subset=6, n_final_fid=10, n_freq=8,
        n_grid=4, steps=4, eval_every=2, batch_size=8, log_every=1, warmup_steps=0,
        model=dict(arch="dit", hidden_size=32, depth=1, num_heads=2, patch_size=2), sample_steps=2)
    ae = LD.obtain_autoencoder("plain", cfg, ctx, 0, folder=resolve_repo_path(ae_run["run_dir"]))
    out = [LD.run("plain", cfg, s, ctx, out_dir=tmp_path / f"run{s}", ae=ae) for s in (0, 1)]
    run = out[0]
    assert run["completed"] and run["final"]["fid_label"] == "FID-10" and out[1]["final"]["fid"] != run["final"]["fid"]
    assert [s for s, _ in run["curve"]["eval/fid"]] == [2, 4]            # periodic FID-6 during training
    assert run["final_during_training"]["n_samples"] == 6 and run["final"]["n_samples"] == 10
    assert set(run["frequency_summary"]) >= {"unrecovered_trained", "unrecovered_predicted"}
    assert torch.load(resolve_repo_path(run["grid"]), weights_only=True).shape == (4, 3, 32, 32)
    # the decoder floor: reconstructions of images outside the reference set, scored like the samples and at the
    # final gFID's N (FID-N is biased by N, so the floor is taken at the N it is compared with)
    floor = LD.decoder_floor(ae, cfg, ctx)
    assert floor["n_samples"] == 10 and floor["n_reference"] == 12
    # a rerun reads the finished run back (same numbers, no training)
    assert LD.run("plain", cfg, 0, ctx, out_dir=tmp_path / "run0", ae=ae)["final"] == run["final"]
    # the same run folder under another recipe is refused, with the knob named
    with pytest.raises(ValueError, match=r"another configuration \(differs in: n_fid\)"):
        LD.run("plain", cfg.replace(n_fid=5), 0, ctx, out_dir=tmp_path / "run0", ae=ae)
