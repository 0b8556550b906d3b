"""The DCTdiff ladder's recipe: what each arm feeds the model, a bit-exact resume of a DCT-space run, the paper
preset at full size for 2 steps, the sweep end to end with its per-run shards, and the declared comparisons."""
from __future__ import annotations

import pytest
import torch

from smlib.experiments import dctdiff as X
from smlib.results import RunContext, read_shards
from smlib.spectral import dct_tokens as dt
from smlib.train import fit, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(arch="uvit", hidden_size=16, depth=2, num_heads=2, patch_size=1, final_conv=False)


class PixelFeatures:
    """A cheap stand-in for Inception: the first 12 pixels of each image, as float64."""

    feature_id = "pixels12"

    def __call__(self, x):
        return x.flatten(1)[:, :12].double().numpy()


def images(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, torch.full((n,), -1)


def test_each_arm_feeds_the_model_its_own_tokens():
    cfg = X.DCTdiffConfig.at("ci")
    x, _ = images(2)
    shapes = {a: X.tokenizer_for(X.arm_of(a), cfg).encode(x).shape[1:] for a in X.ARMS}
    assert shapes == {"pixel": (64, 48), **{a: (64, 24) for a in ("ycbcr420", "dct", "eta", "snr2", "ebfr")}}
    scales = {a: X.tokenizer_for(X.arm_of(a), cfg).scale for a in X.ARMS}
    assert scales["dct"] == 127.5 and scales["eta"] == scales["ebfr"] == cfg.eta
    snr = {a: X.formulation_for(X.arm_of(a), cfg).path.snr_scale for a in X.ARMS}
    assert [a for a, c in snr.items() if c == 2.0] == ["snr2", "ebfr"]
    weights = {a: X.loss_weight(X.arm_of(a), cfg, X.tokenizer_for(X.arm_of(a), cfg)) for a in X.ARMS}
    assert [a for a, w in weights.items() if w is not None] == ["ebfr"] and weights["ebfr"].shape == (1, 24, 1, 1)
    # the pixel arm's tokens are the [-1, 1] pixels themselves, 4 x 4 patches in some fixed order
    tok = X.tokenizer_for(X.arm_of("pixel"), cfg).encode(x)
    assert torch.allclose(tok.flatten().sort().values, x.flatten().sort().values, atol=1e-6)


def test_a_dct_run_resumed_ends_bit_identical(tmp_path):
    cfg = X.DCTdiffConfig.at("ci", model=TINY, steps=6, batch_size=4, ckpt_every=2, log_every=1, warmup_steps=2,
                             n_fid=0)
    x, y = images()

    def run(out, **kw):
        task = X.build_run("ebfr", cfg, x, seed=5)
        return fit(task, cfg.train_config(seed=5, device="cpu", out_dir=out), (x, y), progress=False, **kw)

    full = run(tmp_path / "full")
    assert run(tmp_path / "part", max_steps_this_call=3).step == 3
    torch.manual_seed(99)            # a disturbed global RNG must not matter: the checkpoint holds the RNG states
    resumed = run(tmp_path / "part")
    assert resumed.completed and resumed.step == 6
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for name, tensor in a["ema"]["shadow"].items():
        assert torch.equal(tensor, b["ema"]["shadow"][name]), name


def test_paper_preset_full_configuration_trains_two_steps(tmp_path):
    cfg = X.DCTdiffConfig.at("paper")
    assert (cfg.setting, cfg.model["name"], cfg.block, cfg.eta, cfg.snr_scale) == ("cifar10", "M/1", 2, 242.382, 2.0)
    assert (cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.betas, cfg.warmup_steps, cfg.ema_decay, cfg.steps) == \
        (256, 2e-4, 0.03, (0.99, 0.99), 5000, 0.9999, 500000)
    run_cfg = X.DCTdiffConfig.at("paper", batch_size=2, steps=2, ckpt_every=None, log_every=1, n_fid=0)
    x, y = images(4)
    task = X.build_run("ebfr", run_cfg, x, seed=0)
    n_params = sum(p.numel() for p in task.model.parameters())
    assert len(task.model.in_blocks) + 1 + len(task.model.out_blocks) == 17      # U-ViT-M: 8 + mid + 8
    assert n_params == pytest.approx(131e6, rel=0.03)
    out = fit(task, run_cfg.train_config(seed=0, device="cpu", out_dir=tmp_path), (x, y), progress=False)
    assert out.completed and out.step == 2 and torch.isfinite(torch.tensor(out.train_logs["loss"]))
    ffhq = X.DCTdiffConfig.at("paper", setting="ffhq256")
    tok = X.tokenizer_for(X.arm_of("ebfr"), ffhq)
    assert (tok.block, tok.keep, tok.scale, ffhq.snr_scale) == (4, 8, 485.0, 1.0)
    assert tok.token_shape(256) == (1024, 48)


def test_the_sweep_writes_one_file_per_run_and_reads_them_back(tmp_path):
    cfg = X.DCTdiffConfig.at("ci", dataset="deadleaves", n_images=16, n_reference=8, n_fid=4, kid_subset=4,
                             n_grid=2, steps=4, eval_every=2, batch_size=8, log_every=1, warmup_steps=0, model=TINY,
                             sample_steps=2)
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                     features=PixelFeatures())
    rows = X.SWEEP.run(cfg, ctx, ["pixel", "ebfr"], [0, 1])
    assert [(r["arm"], r["seed"]) for r in rows] == [("pixel", 0), ("ebfr", 0), ("pixel", 1), ("ebfr", 1)]
    files = read_shards("dctdiff", "ci", tmp_path / "results")
    assert sorted((s["arm"], s["seed"]) for s in files) == [("ebfr", 0), ("ebfr", 1), ("pixel", 0), ("pixel", 1)]
    assert all(s["completed"] and "git_commit" in s["provenance"] and s["grid"].endswith("grid.pt") for s in files)
    assert all(s["tokens"] == ([64, 48] if s["arm"] == "pixel" else [64, 24]) for s in files)
    book = X.SWEEP.load("ci", tmp_path / "results")
    assert list(X.SWEEP.values(book.runs, "fid")) == ["pixel", "ebfr"] and book.runs[0]["final"]["fid_label"] == "FID-4"
    assert [s for s, _ in rows[0]["curve"]["eval/fid"]] == [2, 4]
    # a rerun reads the finished runs back, and the same folders under another recipe are refused
    again = X.SWEEP.run(cfg, ctx, ["pixel"], [0])
    assert again[0]["final"]["fid"] == rows[0]["final"]["fid"]
    with pytest.raises(ValueError, match=r"another configuration \(differs in: n_fid\)"):
        X.SWEEP.run(cfg.replace(n_fid=3), ctx, ["pixel"], [0])


def test_the_declared_families_are_fixed_and_judged_paired_on_the_arms_present():
    assert [(c.better, c.worse) for c in X.DECLARED] == [("ebfr", "pixel")]
    assert [(f.metric, f.primary) for f in X.FAMILIES] == [("fid", True), ("fid_curve", True), ("fid", False)]
    first, = X.FIRST_SWEEP.families                     # the first ladder keeps the family it was declared with
    assert [(c.better, c.worse) for c in first.comparisons][:2] == [("ebfr", "pixel"), ("ycbcr420", "pixel")]
    runs = [{"arm": a, "seed": s, "completed": True, "final": {"fid": 10.0 + 3 * i + 0.5 * s + 0.01 * s * s * i},
             "curve": {"eval/fid": [[1, 30.0 + 3 * i + s], [2, 10.0 + 3 * i + 0.5 * s]]}}
            for i, a in enumerate(("pixel", "ebfr")) for s in range(3)]
    judged = {fam.metric + ("" if fam.primary else "-ladder"): rows for fam, rows in X.SWEEP.judge(runs)}
    assert [(r["better"], r["worse"]) for r in judged["fid"]] == [("ebfr", "pixel")]
    assert judged["fid"][0]["verdict"] == "reversed" and judged["fid"][0]["df"] == 2
    assert judged["fid"][0]["test"] == "paired-t"
    # the curve family reads the mean over evaluations: (30 + 10) / 2 + 3i + 0.75 s, so ebfr is 3 worse again
    assert judged["fid_curve"][0]["difference"] == pytest.approx(-3.0, abs=0.05)
    assert judged["fid-ladder"] == []                   # no rung between the two ends has runs


def test_the_small_preset_is_the_16px_rerun_and_the_first_ladder_its_own_recipe():
    small = X.DCTdiffConfig.at("small")
    assert small.resolution == 16 and small.eta == X.CIFAR10_16PX["eta"] and len(small.seeds) >= 5
    assert small.entropies["y"] == X.CIFAR10_16PX["entropy_y"]
    assert X.FIRST_SMALL.preset == "small-v1" and X.FIRST_SMALL.resolution == 32
    assert X.FIRST_SMALL.eta == dt.DCTDIFF_CIFAR10["eta"]
    assert small.run_identity() != X.FIRST_SMALL.run_identity()


def test_bad_input_is_one_line(capsys):
    from smlib.cli import main

    assert main(["dctdiff", "--arm", "jpeg", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown arm(s) jpeg") and "\n" not in err
    with pytest.raises(ValueError, match="unknown arm"):
        X.DCTdiffConfig.at("ci", arms=("pixel", "jpeg"))


# -- the chapter's measurements ----------------------------------------------------------------------------------

def test_coordinate_snr_is_one_for_pixels_and_unchanged_by_the_rotation():
    from smlib.experiments.dctdiff.analysis import coordinate_snr

    x, _ = images(4)
    snr = coordinate_snr(x.double(), X.DCTdiffConfig.at("ci"))
    assert snr["pixel"]["mean"] == pytest.approx(1.0, rel=1e-9)                   # pixel tokens are the pixels
    assert snr["dct"]["mean"] == pytest.approx(snr["ycbcr420"]["mean"], rel=1e-9)  # orthonormal: energy kept
    eta = X.DCTdiffConfig.at("ci").eta
    assert snr["eta"]["mean"] == pytest.approx(snr["dct"]["mean"] * (127.5 / eta) ** 2, rel=1e-9)
    assert snr["snr2"]["mean"] == pytest.approx(2 * snr["eta"]["mean"], rel=1e-9)


def test_resolving_times_put_snr_at_one():
    from smlib.diffusion import make_path
    from smlib.experiments.dctdiff.analysis import resolving_times

    path = make_path("vp-continuous", snr_scale=2.0)
    power = [4.0, 1.0, 0.01]
    t = torch.as_tensor(resolving_times(path, power))
    assert torch.allclose(path.snr(t) * torch.tensor(power, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
                          atol=1e-8)
    assert (t.diff() < 0).all()          # weaker coordinates are resolved later in the reverse process (smaller t)


def test_dataset_statistics_and_upsampling_on_known_images():
    from smlib.experiments.dctdiff.analysis import dataset_statistics, upsampling_comparison

    x, _ = images(8)
    stats = dataset_statistics(x, block=2, batch=3)
    assert len(stats["entropy_y"]) == len(stats["entropy_cr"]) == 4 and stats["n_images"] == 8
    flat = torch.full((2, 3, 16, 16), 0.2)
    up = upsampling_comparison(flat, block=4)
    assert up["low"].shape == (2, 3, 8, 8)
    for name in ("dct", "bicubic", "lanczos"):                # a constant survives every upsampler to uint8
        assert up[name]["images"].shape == (2, 3, 16, 16) and up[name]["psnr"] > 45


def test_upsampling_is_judged_paired_over_the_same_images():
    import numpy as np
    import scipy.stats

    from smlib.experiments.dctdiff.analysis import judge_upsampling, upsampling_lines, upsampling_table

    rng = np.random.default_rng(0)
    base = rng.normal(28.0, 2.0, 40)                         # faces differ far more than the methods do
    dct = base + 0.4 + rng.normal(0, 0.1, 40)
    lanczos = base + 0.6 + rng.normal(0, 0.1, 40)
    up = {"dct": {"psnr_per_image": dct.tolist()}, "bicubic": {"psnr_per_image": base.tolist()},
          "lanczos": {"psnr_per_image": lanczos.tolist()}}
    rows = judge_upsampling(up)
    assert [(r["better"], r["worse"], r["verdict"]) for r in rows] == [("dct", "bicubic", "holds"),
                                                                        ("dct", "lanczos", "reversed")]
    assert rows[0]["difference"] == pytest.approx(np.mean(dct - base), rel=1e-12)      # higher PSNR counts as better
    assert rows[1]["p"] == pytest.approx(scipy.stats.ttest_rel(dct, lanczos).pvalue, rel=1e-9)
    assert rows[0]["wins"] == int(np.sum(dct > base)) and rows[1]["wins"] == int(np.sum(dct > lanczos))
    # unpaired, the spread between faces would hide both gaps; paired over the same faces it does not
    assert scipy.stats.ttest_ind(dct, base).pvalue > 0.05 and rows[0]["n"] == 40
    lines = upsampling_lines(rows)
    assert lines[0].startswith("dct better than bicubic: holds (PSNR +0.") and lines[1].startswith(
        "dct better than lanczos: reversed (PSNR -0.") and f"higher on {rows[1]['wins']} of 40 images" in lines[1]
    table = repr(upsampling_table(rows, "caption"))
    assert "dct higher than lanczos" in table and "reversed" in table
    with pytest.raises(ValueError, match="no upsampling result for lanczos"):
        judge_upsampling({"dct": up["dct"], "bicubic": up["bicubic"]})


def test_the_data_floor_scores_real_images_of_another_split_like_samples(tmp_path):
    from smlib.metrics.generation import evaluate_generation
    from smlib.pipelines import pixel_diffusion

    cfg = X.DCTdiffConfig.at("ci", dataset="deadleaves", n_images=32, n_reference=16, n_fid=8, kid_subset=8)
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                     features=PixelFeatures())
    floor = pixel_diffusion.data_floor(cfg, ctx)
    assert floor["n_samples"] == 8 and floor["n_reference"] == 16 and floor["split"] == "test"
    # by hand: the same reference, the test images on uint8 levels
    reference = pixel_diffusion.reference_for(cfg, pixel_diffusion.training_images(cfg)[0], ctx.features)
    from smlib.data import image_subset

    real, _ = image_subset("deadleaves", 8, cfg.resolution, "test", 0)
    levels = ((real + 1) * 127.5).round() / 127.5 - 1
    assert floor["fid"] == pytest.approx(evaluate_generation(levels, reference, ctx.features)["fid"], rel=1e-9)
    noise = torch.rand(8, 3, cfg.resolution, cfg.resolution, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert floor["fid"] < evaluate_generation(noise, reference, ctx.features)["fid"]
