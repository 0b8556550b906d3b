"""Chapter 8's recipe: the arms, lam = 0 leaving training bit-identical, the term's gradient through the network,
a bit-exact EDM resume, the paper preset for 2 steps, the EDM sampler on a VP formulation, the per-frequency
analysis against closed forms, the toy's data, the sweep's shards and the declared comparisons."""
from __future__ import annotations

import math

import pytest
import torch

from smlib.diffusion import sample
from smlib.diffusion.edm import EDM, sample_edm, vp_denoiser
from smlib.diffusion.spectral_loss import SpectralLossSpec
from smlib.experiments import spectral_regularisation as SR
from smlib.experiments.spectral_regularisation import analysis
from smlib import results
from smlib.results import RunContext, read_shards
from smlib.train import fit, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(arch="uvit", hidden_size=16, depth=2, num_heads=2, patch_size=4)


class PixelFeatures:
    """A cheap stand-in for Inception: the first 12 pixels of each image, as float64."""

    feature_id = "pixels12"

    def __call__(self, x):
        return x.flatten(1)[:, :12].double().numpy()


def images(n=8, seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.full((n,), -1)


def tiny(**kw):
    knobs = dict(model=TINY, steps=4, batch_size=4, ckpt_every=2, log_every=1, warmup_steps=0, n_fid=0)
    return SR.SpectralRegConfig.at("ci", **{**knobs, **kw})


def train(arm: SR.Arm, cfg, x, y, out, seed=3, **kw):
    torch.manual_seed(seed)
    from smlib.models.factory import build_backbone

    f = SR.formulation_for(arm)
    model = SR.model_for(arm, build_backbone(cfg.model, tuple(x.shape[1:])), f)
    task = SR.SpectralRegTask(model, f, arm, {"arm": arm.label})
    return fit(task, cfg.train_config(seed=seed, device="cpu", out_dir=out), (x, y), progress=False, **kw)


def weights(result):
    return load_checkpoint(result.checkpoint)["model"]


# -- the arms and the loss --------------------------------------------------------------------------------------

def test_arms_declare_their_formulation_term_and_scale():
    assert {a: (arm.formulation, arm.term, arm.lam, arm.weighted) for a, arm in SR.ARMS.items()
            if a in ("ddpm", "ddpm-ap-1", "edm", "edm-ap-1", "edm-wavelet-1")} == {
        "ddpm": ("ddpm", None, 0.0, False), "ddpm-ap-1": ("ddpm", SR.AP, 1.0, False), "edm": ("edm", None, 0.0, False),
        "edm-ap-1": ("edm", SR.AP, 1.0, True), "edm-wavelet-1": ("edm", "wavelet", 1.0, True)}
    assert SR.formulation_for(SR.ARMS["ddpm"]).prediction == "eps"
    assert SR.formulation_for(SR.ARMS["edm"]).prediction == "x0"
    with pytest.raises(ValueError, match="unknown spectral loss 'fourier-phase'"):
        SR.Arm("bad", "ddpm", "fourier-phase", 1.0)
    with pytest.raises(ValueError, match="formulation must be one of ddpm, edm"):
        SR.Arm("bad", "ve")


@pytest.mark.parametrize("formulation", ["ddpm", "edm"])
def test_lam_zero_leaves_training_bit_identical(tmp_path, formulation):
    cfg = tiny()
    x, y = images()
    plain = train(SR.Arm("plain", formulation), cfg, x, y, tmp_path / "plain")
    zero = train(SR.Arm("zero", formulation, SR.AP, 0.0, weighted=True), cfg, x, y, tmp_path / "zero")
    a, b = weights(plain), weights(zero)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and a non-zero lam does change it (so the comparison above could have failed)
    on = train(SR.Arm("on", formulation, SR.AP, 1.0, weighted=True), cfg, x, y, tmp_path / "on")
    assert not all(torch.equal(a[k], weights(on)[k]) for k in a)


@pytest.mark.parametrize("arm", ["ddpm-ap-1", "edm-wavelet-1"])
def test_the_spectral_term_reaches_the_network(arm):
    cfg = tiny()
    x, _ = images(4)
    task = SR.build_run(arm, cfg, x, seed=0)
    torch.manual_seed(0)
    base, term = task.terms(x)
    grads = torch.autograd.grad(term.sum(), [p for p in task.model.parameters()], allow_unused=True)
    assert term.shape == (4,) and (term > 0).all()
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    # EDM's loss is lambda_EDM-weighted: the base term is lambda(sigma) * MSE(D, x0), not the plain MSE
    edm = SR.build_run("edm", cfg, x, seed=0)
    torch.manual_seed(1)
    per_sample, logs = edm.formulation.loss(edm.model, x, None)
    torch.manual_seed(1)
    weighted, none = edm.terms(x)
    sigma = edm.formulation.sigma(logs["t"]) / edm.formulation.alpha(logs["t"])
    assert none is None and torch.allclose(weighted, EDM().loss_weight(sigma) * per_sample, rtol=1e-5)


def test_a_one_step_ddim_to_zero_returns_the_eq5_x0_hat():
    """The paper's audio recipe takes x0_hat from a deterministic DDIM update; to t = 0 that is Eq. 5 exactly."""
    f = SR.formulation_for(SR.ARMS["ddpm"])
    eps_model = lambda x, t, y=None: 0.3 * x + 0.1        # noqa: E731 - any eps-prediction will do
    x_t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    t = 0.4
    ddim = sample(eps_model, f, x_t.shape, sampler="ddim", steps=1, x_init=x_t, grid=[t, 0.0], device="cpu")
    tt = torch.full((2,), t)
    eq5 = (x_t - f.sigma(tt)[0] * eps_model(x_t, tt)) / f.alpha(tt)[0]
    assert torch.allclose(ddim, eq5, atol=1e-5)


# -- runs ---------------------------------------------------------------------------------------------------------

def test_an_edm_run_with_its_term_resumes_bit_identical(tmp_path):
    cfg = tiny(steps=6, ema_decay=0.9)
    x, y = images()
    arm = SR.ARMS["edm-ap-1"]
    full = train(arm, cfg, x, y, tmp_path / "full")
    assert train(arm, cfg, x, y, tmp_path / "part", max_steps_this_call=3).step == 3
    torch.manual_seed(99)            # a disturbed global RNG must not matter: the checkpoint holds the RNG states
    resumed = train(arm, cfg, x, y, tmp_path / "part")
    assert resumed.completed and resumed.step == 6
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    for part in ("model",):
        assert all(torch.equal(t, b[part][k]) for k, t in a[part].items())
    assert all(torch.equal(t, b["ema"]["shadow"][k]) for k, t in a["ema"]["shadow"].items())


def test_paper_preset_trains_two_steps_from_a_given_checkpoint(tmp_path):
    cfg = SR.SpectralRegConfig.at("paper")
    assert (cfg.batch_size, cfg.lr, cfg.steps, cfg.sampler, cfg.sample_steps, cfg.n_fid) == \
        (16, 2e-4, 31250, "edm", 18, 50000)
    assert cfg.arms == ("edm", "edm-ap-1", "edm-wavelet-1") and cfg.seeds == (0, 1, 2)
    x, y = images(4, size=32)
    # "the checkpoint a user gives": here a random initialisation of the same backbone, saved as a state_dict
    from smlib.models.factory import build_backbone

    torch.manual_seed(7)
    start = build_backbone(cfg.model, (3, 32, 32))
    torch.save(start.state_dict(), tmp_path / "start.pt")
    run_cfg = cfg.replace(init_from=str(tmp_path / "start.pt"), batch_size=2, steps=2, ckpt_every=None, log_every=1,
                          n_fid=0)
    task = SR.build_run("edm-ap-1", run_cfg, x, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(task.model.backbone.state_dict().values(),
                                                 start.state_dict().values()))
    assert sum(p.numel() for p in task.model.parameters()) == 55_732_739     # EDM's DDPM++ for CIFAR-10
    assert task.model.t_scale == 1000.0                    # the U-Net's embedding sees c_noise, as EDM's does
    out = fit(task, run_cfg.train_config(seed=0, device="cpu", out_dir=tmp_path / "run"), (x, y), progress=False)
    assert out.completed and out.step == 2 and math.isfinite(out.train_logs["loss"])
    assert "loss/spectral" in out.train_logs
    torch.save({"not": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not fit the configured backbone"):
        SR.build_run("edm", run_cfg.replace(init_from=str(tmp_path / "other.pt")), x)


def test_init_from_takes_the_state_dict_of_an_edm_network(tmp_path):
    from pathlib import Path

    from smlib.models.edm_weights import unet_state_from_edm

    fixture = torch.load(Path(__file__).with_name("fixtures") / "edm_songunet_tiny.pt", weights_only=True)
    edm_state = {k: v for k, v in fixture["state"].items() if not k.startswith("map_label.")}   # unconditional
    torch.save(edm_state, tmp_path / "edm.pt")
    c = fixture["config"]
    model = dict(arch="unet", model_channels=c["model_channels"], channel_mult=c["channel_mult"],
                 num_blocks=c["num_blocks"], attn_resolutions=c["attn_resolutions"])
    cfg = SR.SpectralRegConfig.at("paper").replace(model=model, resolution=8, init_from=str(tmp_path / "edm.pt"))
    task = SR.build_run("edm", cfg, images(2, size=8)[0], seed=0)
    loaded = task.model.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in unet_state_from_edm(edm_state).items())


def test_edm_arms_take_their_own_sampler_only_when_asked():
    cfg = SR.FIRST_SMALL          # the first sweep's recipe: DPM-Solver++ for every arm
    assert cfg.sampler_for(SR.ARMS["edm"]) == cfg.sampler_for(SR.ARMS["ddpm"]) == ("dpmpp_2m", 25)
    own = cfg.replace(edm_sampler="edm")
    assert own.sampler_for(SR.ARMS["edm-ap-1"]) == ("edm", 18) and own.sampler_for(SR.ARMS["ddpm"]) == ("dpmpp_2m", 25)
    # the committed runs' identity holds at the default; asking for EDM's sampler makes another run
    assert "edm_sampler" not in cfg.run_identity() and own.run_identity()["edm_sampler"] == "edm"
    x, _ = images(4, size=32)
    task = SR.build_run("edm", own.replace(n_fid=0), x)
    assert (task.config["sampler"], task.config["sample_steps"]) == ("edm", 18)


def test_edm_sampler_on_a_vp_formulation_is_sample_edm_through_vp_denoiser():
    f = SR.formulation_for(SR.ARMS["edm"])
    torch.manual_seed(0)
    from smlib.diffusion.edm import EDMPrecond

    net = EDMPrecond(lambda x, t, y=None: torch.tanh(x) * 0.5, f.path)
    noise = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    ours = sample(net, f, noise.shape, sampler="edm", steps=6, x_init=noise, device="cpu")
    ref = sample_edm(vp_denoiser(f, net), noise, 6)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_the_sweep_writes_files_with_psd_readouts_and_skips_committed_runs(tmp_path):
    import shutil

    cfg = SR.SpectralRegConfig.at("ci", dataset="deadleaves", n_images=16, n_reference=8, n_fid=4, kid_subset=4,
                                  n_grid=2, steps=4, eval_every=2, batch_size=8, log_every=1, warmup_steps=0,
                                  model=dict(TINY), sample_steps=2, seeds=(0,), arms=("ddpm", "edm-ap-1"))
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                     features=PixelFeatures())
    rows = SR.SWEEP.run(cfg, ctx, ["ddpm", "edm-ap-1"])
    assert [(r["arm"], r["seed"]) for r in rows] == [("ddpm", 0), ("edm-ap-1", 0)]
    files = read_shards("spectral_regularisation", "ci", tmp_path / "results")
    assert all(s["completed"] and "git_commit" in s["provenance"] and s["psd"]["freqs"] for s in files)
    assert all(0 <= s["final"]["psd_error"] < 10 for s in files)
    assert all(results.unpack_uint8(s["samples"]).shape == (2, 3, cfg.resolution, cfg.resolution) for s in files)
    assert [v for _, v in rows[1]["curve"]["loss/spectral"]] and not rows[0]["curve"]["loss/spectral"]
    book = SR.SWEEP.load("ci", tmp_path / "results", ["ddpm", "edm-ap-1"], [0, 1])
    assert book.missing == ["ddpm-seed1", "edm-ap-1-seed1"]
    # a rerun takes the committed runs without running (no runs folder: nothing to resume from)
    shutil.rmtree(tmp_path / "runs")
    again = SR.SWEEP.run(cfg, ctx, ["ddpm", "edm-ap-1"])
    assert [r["final"]["fid"] for r in again] == [r["final"]["fid"] for r in rows]
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match=r"another configuration \(differs in: n_fid\)"):
        SR.SWEEP.run(cfg.replace(n_fid=3), ctx, ["ddpm"])


def test_resampling_a_finished_run_reproduces_its_score_and_changes_only_the_sampler(tmp_path):
    cfg = SR.SpectralRegConfig.at("ci", dataset="deadleaves", n_images=16, n_reference=8, n_fid=4, kid_subset=4,
                                  n_grid=2, steps=2, eval_every=2, batch_size=8, log_every=1, warmup_steps=0,
                                  model=dict(TINY), sample_steps=2, edm_sampler="edm", edm_sample_steps=3)
    ctx = RunContext(device="cpu", runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                     features=PixelFeatures())
    with pytest.raises(FileNotFoundError, match="no finished run of this configuration.*train it first"):
        SR.resample_arm("edm", 0, cfg, ctx, [("edm", 3)])
    trained = SR.SWEEP.run(cfg, ctx, ["edm"], [0])[0]
    again = SR.resample_arm("edm", 0, cfg, ctx, [("edm", 3), ("dpmpp_2m", 2)])
    assert again["trained"] == {"sampler": "edm", "sample_steps": 3, "fid": trained["final"]["fid"],
                                "psd_error": trained["final"]["psd_error"]}
    own, other = again["rows"]
    assert own["fid"] == pytest.approx(trained["final"]["fid"], rel=1e-9)     # same weights, same noise
    assert own["psd_error"] == pytest.approx(trained["final"]["psd_error"], rel=1e-9)
    assert other["fid"] != own["fid"] and again["weights"] == "ema" and "git_commit" in again["provenance"]
    assert results.unpack_uint8(own["samples"]).shape == (2, 3, cfg.resolution, cfg.resolution)


def test_the_cli_refuses_a_sampler_without_steps(capsys):
    from smlib.cli import main

    assert main(["spectral-reg", "--arm", "edm", "--resample", "edm", "--device", "cpu"]) == 2
    assert "--resample takes SAMPLER:STEPS (e.g. edm:18 dpmpp_2m:25), got 'edm'" in capsys.readouterr().err


def test_the_toy_boards_and_one_toy_run(tmp_path):
    import shutil

    boards = SR.checkerboards(6, 16, (2, 4), seed=0)
    assert boards.shape == (6, 1, 16, 16) and torch.equal(boards.abs().unique(), torch.tensor([0.8]))
    for b in boards[:, 0]:                     # a board is periodic with twice its square side, and not constant
        side = next(s for s in (2, 4) if torch.equal(b.roll(2 * s, 0), b) and torch.equal(b.roll(2 * s, 1), b)
                    and torch.equal(b.roll(s, 0), -b))
        assert side in (2, 4)
    cfg = SR.SpectralRegConfig.at("ci", toy_size=16, toy_images=16, toy_steps=2, toy_samples=4, batch_size=8,
                                  sample_steps=2, toy_seeds=(0,))
    ctx = RunContext(results_dir=tmp_path / "results", device="cpu", runs_dir=tmp_path / "runs")
    runs = SR.TOY_SWEEP.run(cfg, ctx, seeds=cfg.toy_seeds)
    assert [r["arm"] for r in runs] == ["toy-ddpm", "toy-ddpm-ap"]
    assert all(r["steps"] == 2 and math.isfinite(r["psd_error"]) for r in runs)
    # each toy run is a committed file, read back (samples included) and skipped by a rerun
    committed = SR.TOY_SWEEP.load("ci", tmp_path / "results").runs
    assert [r["psd_error"] for r in committed] == [r["psd_error"] for r in runs]
    assert SR.toy_samples(committed[0]).shape == (4, 1, 16, 16)
    shutil.rmtree(tmp_path / "runs")
    assert SR.TOY_SWEEP.run(cfg, ctx, seeds=(0,))[1]["psd_error"] == runs[1]["psd_error"]
    assert not (tmp_path / "runs").exists()
    assert SR.SWEEP.load("ci", tmp_path / "results").runs == []       # toy runs are not the sweep's arms
    assert all(0 <= r["board_share"] <= 1 for r in runs) and "curve" not in runs[0]


def test_board_share_reads_boards_and_rejects_noise_and_shifts():
    boards = SR.checkerboards(32, 32, (4, 8), seed=1)
    assert SR.board_share(boards) == 1.0
    assert SR.board_share(0.5 * boards + 0.1) == 1.0                        # contrast and level do not matter
    noise = torch.randn(32, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert SR.board_share(noise) == 0.0
    # a board of another period (square 6) is not in the family of squares 4 and 8
    assert SR.board_share(SR.checkerboards(8, 32, (6,), seed=2)) == 0.0
    half = torch.cat([boards[:16], noise[:16]])
    assert SR.board_share(half) == 0.5


def test_toy_learning_curve_knobs_keep_the_committed_identity(tmp_path):
    cfg = SR.FIRST_SMALL
    ident = SR.toy_identity(cfg)
    assert ident["model"] == SR.TOY_MODEL and "toy_eval_every" not in ident   # the committed toy runs' identity
    assert SR.toy_identity(cfg.replace(toy_eval_every=100))["toy_eval_every"] == 100
    small = SR.SpectralRegConfig.at("ci", toy_size=16, toy_images=16, toy_steps=4, toy_samples=4, batch_size=8,
                                    sample_steps=2, toy_eval_every=2, toy_squares=(2, 4),
                                    toy_model=dict(arch="uvit", hidden_size=16, depth=2, num_heads=2, patch_size=2))
    ctx = RunContext(results_dir=tmp_path / "results", device="cpu", runs_dir=tmp_path / "runs")
    run = SR.run_toy_arm("toy-ddpm", 0, small, ctx)
    assert [s for s, _ in run["curve"]["eval/board_share"]] == [2, 4]          # every 2 steps and at the end
    assert run["curve"]["eval/board_share"][-1][1] == run["board_share"]


def test_the_cli_runs_one_toy_arm(tmp_path, capsys):
    from smlib.cli import main

    model = '{"arch": "uvit", "hidden_size": 16, "depth": 2, "num_heads": 2, "patch_size": 2}'
    args = ["spectral-reg", "--toy", "--arm", "toy-ddpm", "--seeds", "0", "--device", "cpu",
            "--results", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"),
            "--set", "toy_size=16", "--set", "toy_images=16", "--set", "toy_steps=2", "--set", "toy_samples=4",
            "--set", "toy_squares=[2, 4]", "--set", "sample_steps=2", "--set", f"toy_model={model}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "toy toy-ddpm     seed 0: PSD error" in out and ", boards " in out and "toy-ddpm-ap" not in out
    assert [p.name for p in (tmp_path / "results" / "spectral_regularisation" / "ci").iterdir()] == \
        ["toy-ddpm-seed0.json"]


# -- the analysis -------------------------------------------------------------------------------------------------

def test_fourier_l2_pulls_like_the_mse_and_amplitude_l1_pulls_flat():
    x0, _ = images(2, size=8)
    x0 = x0.double()
    x0_hat = x0 + 0.3 * torch.randn(x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fns = analysis.loss_functions({"amp": SpectralLossSpec("fourier-amplitude")})
    _, mse = analysis.gradient_spectrum(fns["MSE"], x0, x0_hat)
    _, l2 = analysis.gradient_spectrum(fns["Fourier L2"], x0, x0_hat)
    assert torch.allclose(mse, l2, rtol=1e-9)                       # Parseval
    # amplitude L1: |F[grad]| = 1 / n (n = C H W) at every coefficient, so the ring means are all 1 / n^2
    x = x0_hat.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fns["amp"](x0, x).sum(), x)
    coeff = torch.fft.fft2(g, norm="ortho").abs()
    assert torch.allclose(coeff, torch.full_like(coeff, 1 / (3 * 8 * 8)), rtol=1e-6)


def test_wiener_estimate_and_term_profile():
    x, _ = images(16, size=8)
    mean, power = analysis.data_power(x)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(analysis.wiener_estimate(x, 1e-6, mean, power, g), x.double(), atol=1e-5)
    far = analysis.wiener_estimate(x, 1e6, mean, power, g)          # all noise: the estimate is the mean
    assert torch.allclose(far, mean.expand_as(far), atol=1e-4)
    prof = analysis.term_profile(x, [0.01, 0.1, 1.0], {"amp": SpectralLossSpec("fourier-amplitude")})
    ratio = prof["amp"] / prof["base"]
    assert ratio[0] > ratio[1] > ratio[2]                          # the weighted L1 dominates as sigma -> 0


def test_psd_error_is_zero_on_itself_and_counts_decades():
    from smlib.spectral import psd_log_error

    x, _ = images(8)
    same = psd_log_error(x, x)
    assert same["error"] == pytest.approx(0.0, abs=1e-12)
    louder = psd_log_error(2 * x, x)          # 4x the power in every ring = log10(4) decades
    assert louder["error"] == pytest.approx(math.log10(4), rel=1e-9)
    assert all(v == pytest.approx(math.log10(4), rel=1e-9) for v in louder["log_ratio"])


def test_the_rerun_is_declared_with_learning_bars_on_its_baselines():
    from smlib.learning_bar import bar_lines

    for sweep, baselines in ((SR.SWEEP, {"ddpm", "edm"}), (SR.TOY_SWEEP, {"toy-ddpm"})):
        assert {b.arm for b in sweep.bars} == baselines and sweep.families
        for fam in sweep.families:
            sweep.metric(fam.metric)                          # every family's metric is one the sweep scores
            assert {a for c in fam.comparisons for a in (c.better, c.worse)} <= set(sweep.arms)
        assert all(sweep.metric(b.metric) for b in sweep.bars)
    assert [f.metric for f in SR.SWEEP.families if f.primary] == ["fid"]
    lines = bar_lines(SR.SWEEP.learning_bars([]))
    assert lines[0].startswith("learning bar: ddpm fid at most 150.00 (at every seed") and "not checked yet" in lines[0]
    run = {"arm": "ddpm", "seed": 0, "completed": True, "final": {"fid": 149.0}}
    assert SR.SWEEP.learning_bars([run])[0]["met"] is True


def test_the_declared_family_and_bad_input(capsys):
    assert [(c.better, c.worse) for c in SR.DECLARED] == [("ddpm-ap-1", "ddpm"), ("edm-ap-1", "edm")]
    first = SR.FIRST_SWEEP.families[0].comparisons
    assert [(c.better, c.worse) for c in first][:3] == [("ddpm-ap-1", "ddpm"), ("edm-ap-1", "edm"),
                                                        ("edm-wavelet-1", "edm")]
    for pairs in (SR.DECLARED, first):
        assert {c.source for c in pairs} == {"our inference"}     # the CIFAR-10 pairs are ours, not the paper's
        assert all(c.better in SR.ARMS and c.worse in SR.ARMS for c in pairs)
    runs = [{"arm": a, "seed": s, "completed": True, "final": {"fid": 10.0 + s}} for a in ("ddpm", "edm") for s in (0, 1)]
    assert all(rows == [] for _, rows in SR.SWEEP.judge(runs))       # no declared pair is present
    from smlib.cli import main

    assert main(["spectral-reg", "--arm", "fourier", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown arm(s) fourier") and "\n" not in err


# -- reading the committed results ------------------------------------------------------------------------------

def test_board_correlation_finds_the_data_family_by_brute_force():
    import numpy as np

    boards = SR.checkerboards(5, 16, (2, 4), seed=1)
    assert SR.every_board(16, (2, 4)).shape == (4 * 4 + 8 * 8, 16, 16)
    assert torch.allclose(SR.board_correlation(boards, (2, 4)), torch.ones(5, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(SR.board_correlation(-boards, (2, 4)), torch.ones(5, dtype=torch.float64), atol=1e-9)
    noise = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    got = SR.board_correlation(noise, (2, 4))
    # the reference: np.corrcoef against every shifted board, built by rolling one board of each side
    for x, c in zip(noise, got):
        best = max(np.corrcoef(x.flatten().numpy(), np.roll(np.roll(base, oy, 0), ox, 1).flatten())[0, 1]
                   for side in (2, 4)
                   for base in [np.kron(np.indices((16 // side, 16 // side)).sum(0) % 2 * 2.0 - 1, np.ones((side, side)))]
                   for oy in range(2 * side) for ox in range(2 * side))
        assert float(c) == pytest.approx(best, abs=1e-9)
    assert float(got.max()) < 0.5                                     # noise is not a board
    assert float(SR.board_correlation(torch.zeros(1, 1, 16, 16), (2, 4))) == 0.0
    with pytest.raises(ValueError, match="grayscale"):
        SR.board_correlation(torch.zeros(1, 3, 16, 16))


def verdict_rows():
    from smlib.stats import Comparison
    from smlib.sweep import Family, Metric, Sweep

    # seed effects shared by the arms; "b" is a quiet arm much better than "base", "c" a noisy arm that is not
    values = {"base": [10.0, 14.0, 12.0, 11.0], "b": [8.0, 12.1, 9.9, 9.0], "c": [40.0, -20.0, 15.0, 0.0]}
    runs = [{"arm": a, "seed": s, "final": {"m": v}} for a, vs in values.items() for s, v in enumerate(vs)]
    fam = Family("m", "m", (Comparison("b", "base", "our inference"), Comparison("c", "base", "our inference")))
    sweep = Sweep("x", {a: a for a in values}, (Metric("m", "m", lambda r: r["final"]["m"]),), (fam,))
    return sweep.verdicts(runs)[0][1]


def test_seeds_for_a_relative_gain_reach_the_power_by_the_noncentral_t():
    import scipy.stats

    lo, hi = SR.paper_relative_gains()
    assert (lo, hi) == (pytest.approx(0.02 / 2.56), pytest.approx(0.07 / 2.04))
    rows = [{"better": "a", "worse": "b", "mean_worse": 100.0, "sd": sd, "mdd_alpha": 0.01} for sd in (2.0, 4.0, 9.0)]
    got = SR.seeds_for_relative_gain(rows, 0.05)
    assert [r["seeds"] for r in got] == sorted(r["seeds"] for r in got) and got[0]["seeds"] >= 4
    for row in got:
        assert row["gap"] == pytest.approx(5.0)
        n, alpha = row["seeds"], 0.01

        def power(k):        # two-sided paired t at level alpha, true gap `gap`, spread sd: scipy's noncentral t
            crit = scipy.stats.t.ppf(1 - alpha / 2, k - 1)
            nc = row["gap"] / (row["sd"] / math.sqrt(k))
            return scipy.stats.nct.sf(crit, k - 1, nc) + scipy.stats.nct.cdf(-crit, k - 1, nc)

        assert power(n) >= 0.8 > power(n - 1)
    with pytest.raises(ValueError, match="fraction"):
        SR.seeds_for_relative_gain([], 5)


def test_the_exact_denoiser_of_two_points_is_a_tanh():
    # x0 = +-a with prior (w, 1 - w): E[x0 | x_t] = a tanh(alpha a x_t / sigma^2 + ln(w / (1 - w)) / 2)
    a, w = 0.8, 0.3
    modes, weights = torch.tensor([[a], [-a]]), torch.tensor([w, 1 - w])
    x_t = torch.linspace(-2, 2, 9)[:, None]
    alpha, sigma = torch.full((9,), 0.7), torch.full((9,), 0.5)
    got = SR.exact_denoiser(modes, weights, x_t, alpha, sigma)[:, 0]
    want = a * torch.tanh(0.7 * a * x_t[:, 0].double() / 0.25 + 0.5 * math.log(w / (1 - w)))
    assert torch.allclose(got, want, atol=1e-12)


def test_optimal_eps_mse_is_zero_for_one_board_and_small_for_the_toy():
    f = SR.formulation_for(SR.toy_arms(SR.SpectralRegConfig.at("ci"))["ddpm"])
    one = SR.checkerboards(1, 8, (2,), seed=0)
    assert SR.optimal_eps_mse(f, one.expand(4, -1, -1, -1), one, n=256)["all"] < 1e-20
    boards = SR.checkerboards(64, 8, (2,), seed=0)
    family = 0.8 * SR.every_board(8, (2,))[:, None]
    floor = SR.optimal_eps_mse(f, boards, family, n=512)
    assert 0 < floor["all"] < 0.05 and set(floor["bands"]) == {"0..0.1", "0.1..0.3", "0.3..0.6", "0.6..1"}
    with pytest.raises(ValueError, match="one of the modes"):
        SR.optimal_eps_mse(f, boards + 0.1, family, n=8)


def test_the_committed_learning_curves_read_back(tmp_path):
    from smlib.experiments.spectral_regularisation import curves as C

    folder = tmp_path / "curves" / "demo" / "spectral_regularisation" / "small"
    (folder / "resampled").mkdir(parents=True)
    run = {"arm": "edm", "seed": 0, "curve": {"eval/fid": [[500, 300.0], [1000, 200.0]]}}
    results.write_result(folder / "edm-seed0.json", run)
    results.write_result(folder / "resampled" / "edm-seed0.json", {"rows": [{"sampler": "edm", "fid": 199.0}]})
    got = C.curve("demo", "edm", results_dir=tmp_path)
    assert C.fid_curve(got) == ([500, 1000], [300.0, 200.0]) and C.fid_at(got, 1000) == 200.0
    assert C.fid_at(got, 1500) is None
    assert C.resampled("demo", "edm", results_dir=tmp_path)["rows"][0]["fid"] == 199.0
    assert C.fid_curve({"curve": {"eval/kid": [[500, 0.1]]}}, "eval/kid") == ([500], [0.1])
    with pytest.raises(FileNotFoundError, match="no learning curve at .*ddpm-seed0.json; run `python -m smlib "
                                                "spectral-reg --preset small --arm ddpm --seeds 0 --results "
                                                "results/curves/demo`"):
        C.curve("demo", "ddpm", results_dir=tmp_path)
    # every curve the chapter names is committed
    assert all(C.curve(name, arm) for name, arm, _ in C.CURVES.values())
