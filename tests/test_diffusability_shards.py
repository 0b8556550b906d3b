"""Chapter 5's sharded sweep over (variant, autoencoder seed, diffusion seed), on tiny data: a sweep interrupted
between runs and resumed in a fresh session (no run folders, so its autoencoders are retrained) writes the same
shards and the same table as one uninterrupted sweep; the retrained autoencoder is bit-identical to the first; the
table's unit is the autoencoder; the floor is taken at the final gFID's N and carries its bootstrap interval."""
import pytest
import torch

from smlib.experiments import autoencoders as lab
from smlib.experiments import diffusability as D
from smlib.experiments.diffusability import recipe, shards
from smlib.results import read_shards
from test_diffusability import PixelFeatures

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_AE = dict(dataset="deadleaves", ae_channels=(8, 8, 8), n_train=16, steps=2, batch_size=8, warmup_steps=1,
               log_every=1, ckpt_every=2, fid_n=0, n_spectrum=8, n_examples=2, lowpass_ks=(0,), eval_batch=8)


class TinyLabPresets:
    """The lab's presets with the tiny overrides, so every autoencoder of the sweep trains in a second."""

    @staticmethod
    def at(preset, **overrides):
        return lab.AutoencoderConfig.at(preset, **{**overrides, **TINY_AE})


@pytest.fixture
def tiny_lab(monkeypatch):
    monkeypatch.setattr(recipe, "AutoencoderConfig", TinyLabPresets)


def tiny_cfg(**kw):
    return D.DiffusabilityConfig.at(
        "ci", dataset="deadleaves", n_images=24, n_reference=12, n_fid=6, kid_subset=6, n_final_fid=10, n_boot=20,
        n_freq=8, n_grid=4, steps=4, eval_every=2, batch_size=8, log_every=1, warmup_steps=0, ae_seeds=(0, 1),
        seeds=(0,), variants=("plain", "esm"), sample_steps=2,
        model=dict(arch="dit", hidden_size=32, depth=1, num_heads=2, patch_size=2), **kw)


def test_an_interrupted_sweep_resumed_in_a_fresh_session_equals_an_uninterrupted_one(tmp_path, tiny_lab,
                                                                                      monkeypatch):
    cfg = tiny_cfg()
    where = dict(device="cpu", features=PixelFeatures())
    whole = shards.run_shards(cfg, results_dir=tmp_path / "whole", runs_dir=tmp_path / "runs-whole", **where)
    assert [(r["variant"], r["ae_seed"], r["seed"]) for r in whole] == [("plain", 0, 0), ("plain", 1, 0),
                                                                          ("esm", 0, 0), ("esm", 1, 0)]

    # the first session stops after two runs (a Ctrl-C between runs) ...
    real, calls = shards.run_variant, []

    def stop_at_the_third(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(shards, "run_variant", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        shards.run_shards(cfg, results_dir=tmp_path / "cut", runs_dir=tmp_path / "runs-first", **where)
    assert len(read_shards("diffusability", "ci", tmp_path / "cut")) == 2
    # ... and the next one has the committed shards but no run folders: it runs the two that are missing
    monkeypatch.setattr(shards, "run_variant", real)
    resumed = shards.run_shards(cfg, results_dir=tmp_path / "cut", runs_dir=tmp_path / "runs-second", **where)
    assert not (tmp_path / "runs-second" / "diffusability" / "ci" / "deadleaves" / "plain").exists()

    def scores(rows):
        return [(r["final"]["fid"], r["final"]["kid"], r["floor"]["fid"], r["final"]["fid_low"]) for r in rows]

    assert scores(resumed) == scores(whole)
    assert resumed[0]["samples"]["shape"] == [4, 3, 32, 32]                  # n_grid = 4 < N_SAMPLES
    assert shards.seed_table(resumed) == shards.seed_table(whole)
    assert shards.load_shards("ci", cfg, tmp_path / "cut")["missing"] == []
    # every autoencoder is also chapter 4's shard, with its evaluation, and the seed spread is read from them
    from smlib.experiments.autoencoders import shards as lab_shards
    book = lab_shards.load_shards("ci", tmp_path / "cut", variants=["plain", "esm"], seeds=[0, 1, 2])
    assert [(r["variant"], r["seed"]) for r in book["runs"]] == [("plain", 0), ("plain", 1), ("esm", 0),
                                                                  ("esm", 1)]     # the book's order, then seed
    assert book["missing"] == ["plain-seed2", "esm-seed2"]
    assert all("examples" not in r["metrics"] and r["metrics"]["psnr"] > 0 for r in book["runs"])
    rows = {r["variant"]: r for r in book["rows"]}
    assert rows["esm"]["seeds"] == [0, 1] and rows["esm"]["psnr_std"] is not None
    same = lab_shards.load_shards("ci", tmp_path / "whole")
    assert [r["metrics"]["psnr"] for r in same["runs"]] == [r["metrics"]["psnr"] for r in book["runs"]]


def test_a_retrained_autoencoder_is_bit_identical_to_the_first(tmp_path):
    first = lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=1, runs_dir=tmp_path / "a")
    again = lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=1, runs_dir=tmp_path / "b")
    a, b = lab.load_autoencoder(first).state_dict(), lab.load_autoencoder(again).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = lab.load_autoencoder(lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=2,
                                                     runs_dir=tmp_path / "c")).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)     # the seed does reach the weights


def test_the_table_averages_diffusion_seeds_within_an_autoencoder_and_subtracts_its_own_floor():
    def run(v, k, j, fid, floor):
        return {"variant": v, "ae_seed": k, "seed": j, "final": {"fid": fid, "kid": fid / 100, "fid_label": "FID-10"},
                "floor": {"fid": floor, "kid": floor / 100, "n_samples": 10}}

    runs = [run("plain", 0, 0, 10.0, 1.0), run("plain", 0, 1, 14.0, 1.0), run("plain", 1, 0, 20.0, 3.0),
            run("esm", 0, 0, 5.0, 2.0)]
    table = shards.seed_table(runs)
    assert list(table) == ["esm", "plain"]                             # the book's order, not the files'
    assert table["plain"]["fid"]["values"] == [12.0, 20.0] and table["plain"]["n_runs"] == 3
    assert table["plain"]["fid"]["std"] == pytest.approx(2 ** 0.5 * 4)
    assert table["plain"]["fid_above_floor_values"] == [11.0, 17.0] and table["plain"]["floor"]["fid"] == 2.0
    assert table["esm"]["fid"]["std"] is None and table["esm"]["ae_seeds"] == [0]
    assert table["plain"]["fid_boot_std"] is None                      # these runs carry no intervals
    runs[0]["final"]["fid_boot_std"], runs[1]["final"]["fid_boot_std"], runs[2]["final"]["fid_boot_std"] = 1, 2, 3
    assert shards.seed_table(runs)["plain"]["fid_boot_std"] == 2.0
    planned = shards.planned_arms(D.DiffusabilityConfig.at("ci", ae_seeds=(0, 1)), ["plain", "esm"])
    assert shards.missing_runs(runs, planned, [0, 1]) == ["esm-ae1-seed0", "plain-ae1-seed1", "esm-ae0-seed1",
                                                          "esm-ae1-seed1"]


def test_the_floor_is_taken_at_the_final_n_with_its_interval(tmp_path, tiny_lab):
    cfg = tiny_cfg(ae_seed=0)
    floor = D.decoder_floor("plain", cfg, device="cpu", runs_dir=tmp_path, features=PixelFeatures())
    assert floor["n_samples"] == 10 and floor["fid_low"] <= floor["fid_high"] and floor["n_boot"] == 20
    with pytest.raises(ValueError, match=r"n_images >= n_reference \+ N \(12 \+ 10\)"):
        D.decoder_floor("plain", cfg.replace(n_images=20), device="cpu", runs_dir=tmp_path, features=PixelFeatures())


def test_bad_arms_and_a_sweep_without_autoencoder_seeds_fail_in_one_line():
    assert shards.parse_arm("scale_equivariance-ae2") == ("scale_equivariance", 2)
    with pytest.raises(ValueError, match="is not <variant>-ae<k>"):
        shards.parse_arm("nope-ae1")
    with pytest.raises(ValueError, match="--ae-seeds"):
        shards.planned_arms(D.DiffusabilityConfig.at("ci"))


def test_the_cli_prints_one_line_per_run_finished_scored_or_stopped():
    from smlib.cli import _run_line

    scored = {"final": {"fid_label": "FID-1000", "fid": 12.345, "kid": 0.01234}, "completed": True}
    assert _run_line("esm ae 1 seed 0", scored, ", decoder floor 3.00") == \
        "esm ae 1 seed 0: FID-1000 = 12.35, KID = 0.0123, decoder floor 3.00"
    assert _run_line("x", {"completed": True, "final": {}}) == "x: finished, not scored (n_fid = 0)"
    assert _run_line("x", {"completed": False, "steps": 40, "config_steps": 3000}) == "x: stopped at step 40 of 3000"
