"""Chapter 6's recipe: the arms and presets, the grid rule, an aligned run end to end on tiny data (target cache,
readouts, shards, a rerun that skips committed runs), and the paper preset at full size for 2 steps with a labelled
random-weight stand-in of DINOv2-B."""
import dataclasses

import numpy as np
import pytest
import torch

from smlib.config import ConfigError
from smlib.data.targets import build_target_cache
from smlib.experiments import repa as R
from smlib.models.encoders import build_encoder
from smlib.pipelines import latent_diffusion as LD
from smlib.pipelines import latent_source
from smlib.results import RunContext

from test_diffusability import PixelFeatures, synthetic_cache
from test_diffusability_sweep import TinyLabPresets

pytestmark = pytest.mark.usefixtures("one_thread")


def test_arms_differ_only_in_the_alignment_term_and_presets_match_grids():
    small = R.RepaConfig.at("small")
    specs = {a: small.alignment(a) for a in small.arms}
    assert specs["none"] is None and len(small.arms) == 7 and small.seeds == (0, 1, 2)
    assert (specs["repa"].projector, specs["repa"].weight, specs["repa"].target) == ("mlp", 0.5, "raw")
    assert specs["repa"].projector_hidden == small.projector_hidden
    conv = [a for a in small.arms if specs[a] is not None and specs[a].projector == "conv"]
    assert {specs[a].weight for a in conv} == {1.0} and {specs[a].kernel_size for a in conv} == {3}
    assert (specs["irepa-g0.6"].gamma, specs["irepa-g1"].gamma) == (0.6, 1.0)
    assert (specs["dog-0.5-2-nostd"].dog_std, specs["dog-0.5-2"].dog_std) == (False, True)
    # the small preset's encoder grid is the model's: 32 px / f4 / patch 1 = 8x8 = EfficientNet blocks.4 at 128 px
    assert R.latent_factor(small) == 4
    enc = R.target_encoder(small)
    assert enc.grid == (8, 8) and enc.out_dim == 120 and enc.pretrained
    with pytest.raises(ValueError, match="input_size=113"):
        R.target_encoder(small.replace(encoder_input_size=64))
    with pytest.raises(ConfigError, match="unknown arm 'dog'"):
        small.alignment("dog")
    paper = R.RepaConfig.at("paper")
    assert (paper.model["name"], paper.encoder, paper.encoder_input_size, paper.align_depth) == \
        ("B/2", "dinov2-vitb14", 224, 4)
    assert (paper.batch_size, paper.steps, paper.sampler, paper.sample_steps, paper.n_final_fid) == \
        (256, 400000, "sde", 250, 50000)
    assert paper.alignment("repa").weight == 0.5 and paper.alignment("irepa-g0.6").weight == 1.0


def test_an_aligned_run_end_to_end_caches_targets_reads_out_and_a_rerun_skips_committed_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(latent_source, "AutoencoderConfig", TinyLabPresets)
    cfg = R.RepaConfig.at("ci", dataset="deadleaves", variant="plain", n_images=20, n_reference=12, n_fid=6,
                          kid_subset=6, n_freq=8, n_grid=4, steps=4, eval_every=2, batch_size=8, log_every=1,
                          warmup_steps=0, sample_steps=2, encoder="random-cnn", encoder_layer="",
                          encoder_input_size=64, encoder_pretrained=False, arms=("none", "dog-0.5-2"))
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", features=PixelFeatures(),
                     results_dir=tmp_path / "results")
    rows = R.SWEEP.run(cfg, ctx, ["none", "dog-0.5-2"], [0])
    assert [r["arm"] for r in rows] == ["none", "dog-0.5-2"] and all(r["completed"] for r in rows)
    plain, dog = rows
    assert "alignment" not in plain and dog["alignment"]["target"] == "dog"
    assert dog["encoder"].startswith("STAND-IN") and dog["targets"]["n_images"] == 20 and dog["tap_depth"] == 1
    read = dog["readouts"]
    assert set(read) == {str(float(t)) for t in cfg.freq_ts} and -1 <= read["0.5"]["cosine"] <= 1
    assert len(read["0.5"]["profile"]) == 16
    assert [s for s, _ in dog["curve"]["eval/hidden_rmsc"]] == [2, 4]       # read out at every evaluation
    assert "hidden_rmsc" not in plain["final"] and "hidden_cos" in dog["final"] and dog["final"]["n_samples"] == 6
    files = sorted(p.name for p in (tmp_path / "results" / "repa" / "ci").glob("*.json"))
    assert files == ["dog-0.5-2-seed0.json", "none-seed0.json"]
    # a rerun reads the committed runs and trains nothing
    never = dataclasses.replace(R.SWEEP, run_one=lambda *a: pytest.fail("a committed run was re-run"))
    again = never.run(cfg, ctx, ["none", "dog-0.5-2"], [0])
    assert [r["final"]["fid"] for r in again] == [r["final"]["fid"] for r in rows]
    book = R.SWEEP.load("ci", tmp_path / "results", ["none", "dog-0.5-2"], [0, 1])
    assert book.missing == ["none-seed1", "dog-0.5-2-seed1"] and len(book.runs) == 2
    with pytest.raises(ValueError, match=r"another configuration \(differs in: n_fid\)"):
        R.SWEEP.run(cfg.replace(n_fid=5), ctx, ["none"], [0])


def test_paper_preset_trains_two_steps_with_a_labelled_dinov2_b_stand_in(tmp_path):
    cfg = R.RepaConfig.at("paper", batch_size=2, steps=2, ckpt_every=None, log_every=1, n_fid=0)
    enc = build_encoder("dinov2-vitb14", pretrained=False, device="cpu", input_size=224)
    assert enc.grid == (16, 16) and enc.out_dim == 768 and R.describe_encoder(enc).startswith("STAND-IN")
    # REPA's geometry: 256 px -> f8 latents 32x32x4 -> SiT-B/2 16x16 tokens = DINOv2-B/14 at 224 px
    cache = synthetic_cache(n=2, shape=(4, 32, 32), n_classes=1000)
    cache.index[:], cache.flipped[:] = torch.arange(2), False
    images = torch.rand(2, 3, 256, 256) * 2 - 1
    targets = build_target_cache(enc, images, cache_dir=tmp_path, dataset="stand-in", flips=False)
    out = LD.fit_latent_diffusion(cache, cfg, tmp_path / "paper", device="cpu", seed=0, alignment=cfg.alignment("repa"),
                                 targets=targets)
    assert out["completed"] and out["step"] == 2 and out["num_params"] == pytest.approx(130e6, rel=0.01)
    assert out["model"].alignment.depth == 4 and out["model"].alignment.projector.net[0].out_features == 2048
    logs = out["train_logs"]
    assert np.isfinite(logs["loss"]) and -1 <= logs["align_cos"] <= 1


def test_declared_pairs_are_judged_paired_and_the_energy_gain_correlation_is_exact():
    values = {"none": [10.0, 11.0, 12.0], "repa": [9.0, 10.0, 11.0], "irepa-g0.6": [8.0, 9.0, 10.0],
              "dog-0.5-2": [5.0, 6.0, 7.0], "dog-1-4": [7.0, 8.0, 9.0]}
    runs = [{"arm": a, "seed": s, "completed": True, "final": {"fid": v + 0.01 * s * i}}
            for i, (a, vs) in enumerate(values.items()) for s, v in enumerate(vs)]
    (fam, rows), = R.SWEEP.judge(runs)
    assert [(r["better"], r["worse"]) for r in rows] == [("repa", "none"), ("irepa-g0.6", "repa"),
                                                         ("dog-0.5-2", "irepa-g0.6"), ("dog-1-4", "irepa-g0.6")]
    assert all(r["test"] == "paired-t" and r["n"] == 3 for r in rows)
    share = {"repa": 0.1, "irepa-g0.6": 0.2, "dog-0.5-2": 0.4, "dog-1-4": 0.3}
    spectra = {"arms": {a: {"mid_band_share": s} for a, s in share.items()}}
    out = R.energy_gain_from_runs(spectra, runs)
    assert out["rho"] == pytest.approx(1.0) and out["n"] == 4
    assert out["p"] == pytest.approx(2 / 24)            # 2 of the 4! pairings are as extreme (rho = +-1)
    assert R.energy_gain_from_runs(spectra, [r for r in runs if r["arm"] != "none"]) is None
