"""Reading chapter 5's sweep: the declared families and where each pair comes from, the comparisons read at every
logged step (paired by autoencoder seed), and the mean curve over seeds."""
import pytest

from smlib import results
from smlib.experiments import diffusability as diff


def test_the_declared_family_names_only_arms_of_the_sweep_and_says_where_each_comes_from():
    arms = {n for c in diff.DECLARED for n in (c.better, c.worse)}
    assert arms <= set(diff.VARIANTS)
    assert {c.source for c in diff.DECLARED} == {"abstract", "paper prose", "our inference"}
    assert [(c.better, c.worse) for c in diff.DECLARED if c.source == "abstract"] == [("esm", "sd-vae"),
                                                                                      ("dsm", "sd-vae")]
    assert [(c.better, c.worse) for c in diff.DECLARED_BASELINES] == [("eqvae", "sd-vae"), ("vf", "sd-vae")]
    assert [f.primary for f in diff.FAMILIES] == [True, False]
    assert {f.metric for f in diff.FAMILIES} == {"fid"}              # the above-the-floor family is withdrawn


def test_mean_curve_averages_seeds_on_shared_steps():
    runs = [{"variant": "a", "curve": {"eval/fid": [[100, 5.0], [200, 3.0]]}},
            {"variant": "a", "curve": {"eval/fid": [[100, 7.0], [200, 5.0], [300, 1.0]]}}]
    steps, mean, per_seed = results.mean_curve(runs)
    assert steps.tolist() == [100, 200] and mean.tolist() == [6.0, 4.0] and per_seed.shape == (2, 2)
    with pytest.raises(KeyError, match="no 'loss' curve"):
        results.mean_curve(runs, "loss")


def test_judge_by_step_reads_each_logged_step_per_autoencoder_and_names_pairs_whose_order_flips():
    def run(v, k, j, curve):
        return {"variant": v, "ae_seed": k, "seed": j, "curve": {"eval/fid": [[s, f] for s, f in curve]}}

    # esm leads sd-vae at step 1000 and trails at 2000; dsm leads throughout; two diffusion seeds of sd-vae ae0
    runs = [run("esm", k, 0, [(1000, 10 + k), (2000, 30 + k)]) for k in range(3)]
    runs += [run("sd-vae", k, 0, [(1000, 20 + k), (2000, 20 + k)]) for k in range(3)]
    runs += [run("sd-vae", 0, 1, [(1000, 22), (2000, 22)]), run("dsm", 0, 0, [(1000, 5), (2000, 5), (3000, 4)])]
    runs += [run("dsm", k, 0, [(1000, 5 + k), (2000, 5 + k)]) for k in (1, 2)]
    out = diff.judge_by_step(runs)
    assert out["steps"] == [1000, 2000]                           # step 3000 is not in every run
    by = {(r["better"], r["worse"]): r for r in out["rows"][1000]}
    assert by["esm", "sd-vae"]["mean_worse"] == pytest.approx((21 + 21 + 22) / 3)   # ae0 = mean of its two seeds
    assert by["esm", "sd-vae"]["n"] == 3 and by["esm", "sd-vae"]["test"] == "paired-t"
    assert out["order"][1000] == ["dsm", "esm", "sd-vae"] and out["order"][2000] == ["dsm", "sd-vae", "esm"]
    assert out["sign_changes"] == ["esm < sd-vae"]
