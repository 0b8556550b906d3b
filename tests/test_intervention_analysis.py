"""Chapter 5b's analysis and verdict helpers (smlib.experiments.intervention.analysis / .verdict): what a map does to
the spectrum and where the scramble moves content (against a hand derivation on the 8 x 8 grid), intervals read as
the effects they rule out, the source excerpt's true line numbers, and the verdict text for no run, a partial sweep,
an effect and a null."""
import inspect

import numpy as np
import pytest
import scipy.stats
import torch

from smlib import stats
from smlib.experiments import intervention as IV
from smlib.experiments.intervention import analysis, verdict
from smlib.results import pack_uint8
from smlib.spectral import latent_transforms as lt

pytestmark = pytest.mark.usefixtures("one_thread")


def latents(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 4, 8, 8, generator=g, dtype=torch.float64)
    return z * torch.linspace(0.5, 2.0, 4, dtype=torch.float64)[None, :, None, None]


def test_the_reverse_scramble_moves_the_lowest_band_to_the_highest_and_nothing_else_moves():
    z = latents()
    moves = analysis.band_moves(lt.fit_transform("scramble", z))
    # 8 x 8, r_max = |(7, 7)|: bin 1 holds (0, 1) and (1, 0), the two lowest AC positions by (u^2 + v^2, u); reversed,
    # they take the two highest, (7, 7) in bin 15 and (7, 6) in bin floor(16 sqrt(85) / sqrt(98)) = 14
    assert moves["low_bin"] == 1 and moves["low_from"] == pytest.approx(14.5)
    assert moves["high_bin"] == 15 and moves["high_from"] == pytest.approx(1.0)
    assert 0.5 < moves["moved_share"] <= 1
    for kind in ("identity", "white"):
        still = analysis.band_moves(lt.fit_transform(kind, z))
        assert still["moved_share"] == 0 and still["mean_shift"] == 0


def test_maps_reach_their_targets_on_their_fitting_latents_only():
    z, other = latents(), latents(seed=1)
    white = lt.fit_transform("white", z)
    assert analysis.spectrum_error(white, z) < 1e-9 < analysis.spectrum_error(white, other)
    scramble = lt.fit_transform("scramble", z)
    assert analysis.radial_kept(scramble, z) < 1e-9 < analysis.radial_kept(scramble, other)
    assert analysis.radial_kept(white, z) > 1e-3          # whitening these latents changes their spectrum
    rows = analysis.spectra_rows({"white": white}, z, other)
    assert rows[0]["gain_min"] == white.gain_range[0] and rows[0]["fit_error"] < 1e-9


def row(better, worse, lo, hi, n=5, verdict_="unresolved", pooled="unresolved"):
    return {"better": better, "worse": worse, "ci_low": lo, "ci_high": hi, "difference": (lo + hi) / 2, "n": n,
            "verdict": verdict_, "verdict_pooled": pooled, "p_holm": 0.5, "sd": 1.0}


def test_the_source_excerpt_keeps_the_files_line_numbers():
    src = analysis.source_excerpt(lt.fit_transform, 'if kind == "identity":', "gains = torch.cat(")
    lines = open(inspect.getsourcefile(lt.fit_transform)).read().splitlines()
    assert lines[src.first - 1].strip() == 'if kind == "identity":'
    assert "gains = torch.cat(" in lines[src.last - 1]
    assert src.code.splitlines()[0] == 'if kind == "identity":'         # dedented to the excerpt's own indent
    with pytest.raises(ValueError, match="no line containing"):
        analysis.source_excerpt(lt.fit_transform, "no such line", "gains")


def test_run_samples_come_from_the_file_or_not_at_all():
    x = torch.randint(0, 256, (3, 3, 4, 4), dtype=torch.uint8)
    assert np.array_equal(analysis.run_samples({"samples": pack_uint8(x)}), x.numpy())
    assert analysis.run_samples({"grid": "runs/does/not/exist/grid.pt"}) is None
    assert analysis.run_samples({}) is None


def runs_of(effect: dict, seeds=range(5), noise=0.3, seed=0):
    """Fake committed runs: gFID vs reconstructions = 50 + arm effect + a shared seed effect + noise. (seed=1 is a draw
    in which no null pair comes out as a false positive; seed 0 has one, as one family in twenty should.)"""
    g = np.random.default_rng(seed)
    shared = {s: g.normal(0, 3) for s in seeds}
    return [{"arm": a, "seed": s, "final": {"fid_recon": 50 + effect.get(a, 0) + shared[s] + g.normal(0, noise)},
             "frequency_summary": {"high_band_share": 0.1 * i}}
            for s in seeds for i, a in enumerate(IV.ARMS)]


def test_the_verdict_text_follows_the_paired_verdicts():
    none = verdict.verdict_text([], 0, 30)
    assert none["status"].startswith("No run") and "not judged yet" in none["shape"]
    assert "not judged yet" in none["correspondence"]
    assert all(none[k].startswith("Not judged yet") for k in ("origin", "falck", "kling"))

    effect = IV.SWEEP.verdicts(runs_of({"white": 8.0, "identity": 8.0, "steeper": 8.0, "scramble": 8.0}, seed=1))
    text = verdict.verdict_text(effect, 30, 30)
    assert text["status"].startswith("All 30") and text["shape"].startswith("Yes, in ESM's direction")
    assert text["correspondence"].startswith("Not detectably") and "from the spectrum itself" in text["origin"]
    assert "esm < white holds" in text["shape"] and "an effect of its own" in text["kling"]
    assert "ESM's flatter target won (esm < steeper holds" in text["kling"]

    steeper_only = IV.SWEEP.verdicts(runs_of({"steeper": 8.0}, seed=1))
    text = verdict.verdict_text(steeper_only, 30, 30)
    assert text["shape"].startswith("Only in part: the spectral shape alone moved gFID where esm < steeper holds, "
                                    "while esm < white, esm < identity did not resolve")
    assert "changed gFID by no more than" in text["origin"] and "did cost gFID" in text["origin"]
    assert "from the spectrum itself" not in text["origin"]

    null = IV.SWEEP.verdicts(runs_of({}, seed=1))
    fam = verdict.family_rows(null)
    text = verdict.verdict_text(null, 30, 30)
    assert all(r["verdict"] == "unresolved" for r in fam["shape"] + fam["correspondence"] + fam["falck"])
    bound = max(max(r["ci_high"], -r["ci_low"]) for r in fam["shape"])
    assert text["shape"].startswith("Not detectably") and f"larger than {bound:.1f} FID points" in text["shape"]
    assert "consistent with 'on par'" in text["falck"] and "not by the spectrum itself" in text["kling"]
    assert "the pair is unresolved" in text["kling"]

    four = IV.SWEEP.verdicts([r for r in runs_of({}, seed=1) if r["arm"] in ("identity", "white", "esm", "scramble")])
    assert verdict.pending_pairs(four) == {"shape": ["esm < steeper"], "correspondence": [], "falck": ["image < white"]}
    text = verdict.verdict_text(four, 20, 30)
    assert text["shape"].endswith("Not run yet: esm < steeper (an arm has no committed run; the pair still counts in "
                                  "the family's Holm correction).")
    assert "Not run yet" not in text["correspondence"] and text["falck"].startswith("Not judged yet")
    assert text["kling"].endswith("has not run yet.") and "the pair is unresolved" not in text["kling"]

    partial = IV.SWEEP.verdicts(runs_of({}, seeds=[0]))     # one seed: nothing can be judged yet
    text = verdict.verdict_text(partial, 6, 30)
    assert text["status"].startswith("Provisional: 6 of the 30") and text["shape"].startswith("Not resolvable")
    assert all(text[k].startswith("Not judged yet") for k in ("origin", "falck", "kling"))


def test_smoothness_correlation_is_spearmans_over_the_shared_arms():
    share, score = {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.9}, {"a": 5.0, "b": 7.0, "c": 6.5, "x": 1.0}
    rho, n = verdict.smoothness_correlation(share, score)
    assert n == 3 and rho == pytest.approx(scipy.stats.spearmanr([0.1, 0.3, 0.2], [5.0, 7.0, 6.5]).statistic)
    assert np.isnan(verdict.smoothness_correlation({"a": 1.0}, {"a": 2.0})[0])
    assert stats.VERDICTS[0] == "holds"                    # the verdict names the text keys on


def test_spectral_slope_reads_a_power_law_and_the_maps_targets():
    f = np.array([np.nan, 0.1, 0.2, 0.4, 0.8])
    assert verdict_free_slope(f, -2.0) == pytest.approx(-2.0)
    assert np.isnan(analysis.spectral_slope([1.0, 0.0], [0.1, 0.2]))
    z = latents()
    s = analysis.slopes({"white": lt.fit_transform("white", z), "identity": lt.fit_transform("identity", z)})
    assert s["white"] == pytest.approx(0.0, abs=1e-9) and s["identity"] == pytest.approx(s["as trained"])


def verdict_free_slope(f, alpha):
    return analysis.spectral_slope(3.0 * f ** alpha, f)


def test_the_premise_text_reads_which_side_of_esms_target_the_latent_lies():
    assert verdict.premise_text(None).startswith("Not measured yet")
    assert "over-whitened in ESM's sense, as the paper" in verdict.premise_text({"as trained": -0.5, "esm": -1.2})
    assert "over-smoothed rather than" in verdict.premise_text({"as trained": -1.5, "esm": -1.2})
    assert "already about as flat" in verdict.premise_text({"as trained": -1.25, "esm": -1.3})
    assert verdict.slope_relation(-1.0, -1.05) == "about as steep as"
