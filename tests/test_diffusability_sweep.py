"""Chapter 5's sweep over (variant, autoencoder seed), on tiny data: a sweep interrupted between runs and resumed in a
fresh session (no run folders, so its autoencoders are retrained) writes the same files and the same table as one
uninterrupted sweep; the retrained autoencoder is bit-identical to the first; the floor is taken at the final gFID's
N and carries its bootstrap interval; runs of one autoencoder are averaged (the autoencoder is the unit)."""
import dataclasses

import pytest
import torch

from smlib.experiments import diffusability as D
from smlib.pipelines import autoencoder as lab
from smlib.pipelines import latent_diffusion as ld
from smlib.pipelines import latent_source
from smlib.results import RunContext, read_shards
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
    monkeypatch.setattr(latent_source, "AutoencoderConfig", TinyLabPresets)


def tiny_cfg(**kw):
    return D.DiffusabilityConfig.at(
        "ci", dataset="deadleaves", n_images=24, n_reference=12, n_fid=6, kid_subset=6, n_final_fid=10, n_boot=20,
        n_freq=8, n_grid=4, steps=4, eval_every=2, batch_size=8, log_every=1, warmup_steps=0, seeds=(0, 1),
        variants=("plain", "esm"), sample_steps=2,
        model=dict(arch="dit", hidden_size=32, depth=1, num_heads=2, patch_size=2), **kw)


def ctx(tmp_path, results, runs):
    return RunContext(device="cpu", features=PixelFeatures(), results_dir=tmp_path / results, runs_dir=tmp_path / runs)


def test_an_interrupted_sweep_resumed_in_a_fresh_session_equals_an_uninterrupted_one(tmp_path, tiny_lab):
    cfg = tiny_cfg()
    arms = ["plain", "esm"]
    whole = D.SWEEP.run(cfg, ctx(tmp_path, "whole", "runs-whole"), arms)
    assert [(r["variant"], r["ae_seed"], r["seed"]) for r in whole] == [("plain", 0, 0), ("esm", 0, 0),
                                                                          ("plain", 1, 0), ("esm", 1, 0)]

    # the first session stops after two runs (a Ctrl-C between runs) ...
    real, calls = D.SWEEP.run_one, []

    def stop_at_the_third(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    cut = dataclasses.replace(D.SWEEP, run_one=stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        cut.run(cfg, ctx(tmp_path, "cut", "runs-first"), arms)
    assert len(read_shards("diffusability", "ci", tmp_path / "cut")) == 2
    # ... and the next one has the committed files but no run folders: it runs the two that are missing
    resumed = D.SWEEP.run(cfg, ctx(tmp_path, "cut", "runs-second"), arms)
    assert not (tmp_path / "runs-second" / "diffusability" / "ci" / "deadleaves" / "plain" / "ae0-seed0").exists()

    def scores(rows):
        return [(r["final"]["fid"], r["final"]["kid"], r["floor"]["fid"], r["final"]["fid_low"]) for r in rows]

    assert scores(resumed) == scores(whole)
    assert resumed[0]["samples"]["shape"] == [4, 3, 32, 32]                  # n_grid = 4 < N_SAMPLES
    book = D.SWEEP.load("ci", tmp_path / "cut", arms, seeds=[0, 1, 2])
    assert book.missing == ["plain-seed2", "esm-seed2"]
    assert D.SWEEP.values(book.runs, "fid") == D.SWEEP.values(D.SWEEP.load("ci", tmp_path / "whole").runs, "fid")
    assert all(r["config"] == D.SWEEP.run_identity(cfg, r["variant"], r["ae_seed"]) for r in book.runs)
    assert all(r["config"]["ae_seed"] == r["ae_seed"] and r["config"]["autoencoder_recipe"]["spec"] == ({"esm": {
        "delta": 1.0, "weight": 0.01}} if r["variant"] == "esm" else {}) for r in book.runs)
    assert all(set(r["probes"]) >= {"esm_kl", "hf_energy_share"} for r in book.runs)
    # chapter 5 writes no other chapter's results
    assert not (tmp_path / "cut" / "autoencoders").exists()


def test_a_retrained_autoencoder_is_bit_identical_to_the_first(tmp_path):
    first = lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=1, runs_dir=tmp_path / "a")
    again = lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=1, runs_dir=tmp_path / "b")
    a, b = lab.load_autoencoder(first).state_dict(), lab.load_autoencoder(again).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = lab.load_autoencoder(lab.fit_autoencoder("esm", TinyLabPresets.at("ci"), device="cpu", seed=2,
                                                     runs_dir=tmp_path / "c")).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)     # the seed does reach the weights


def test_runs_of_one_autoencoder_are_averaged_the_autoencoder_is_the_unit():
    def run(v, k, j, fid, floor):
        return {"variant": v, "ae_seed": k, "seed": j, "completed": True,
                "final": {"fid": fid, "kid": fid / 100, "fid_label": "FID-10"}, "floor": {"fid": floor}}

    runs = [run("plain", 0, 0, 10.0, 1.0), run("plain", 0, 1, 14.0, 1.0), run("plain", 1, 0, 20.0, 3.0),
            run("esm", 0, 0, 5.0, 2.0)]
    values = D.SWEEP.values(runs, "fid")
    assert list(values) == ["esm", "plain"]                            # the book's order, not the files'
    assert values["plain"] == {0: 12.0, 1: 20.0} and values["esm"] == {0: 5.0}
    assert D.SWEEP.values(runs, "floor")["plain"] == {0: 1.0, 1: 3.0}


def test_the_floor_is_taken_at_the_final_n_with_its_interval(tmp_path, tiny_lab):
    cfg = tiny_cfg(ae_seed=0)
    c = RunContext(device="cpu", runs_dir=tmp_path, features=PixelFeatures())
    ae = ld.obtain_autoencoder("plain", cfg, c, 0)
    floor = ld.decoder_floor(ae, cfg, c)
    assert floor["n_samples"] == 10 and floor["fid_low"] <= floor["fid_high"] and floor["n_boot"] == 20
    assert ld.decoder_floor(ae, cfg, c) == floor                       # cached
    with pytest.raises(ValueError, match=r"n_images >= n_reference \+ N \(12 \+ 10\)"):
        ld.decoder_floor(ae, cfg.replace(n_images=20), c)


def test_bad_arms_and_seeds_fail_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="unknown arm.*nope.*choose from"):
        D.SWEEP.run(tiny_cfg(), RunContext(results_dir=tmp_path), ["nope"])
    with pytest.raises(ValueError, match="seeds must be non-negative"):
        D.SWEEP.run(tiny_cfg(), RunContext(results_dir=tmp_path), ["plain"], [-1])


def test_the_cli_prints_one_line_per_run_finished_scored_or_stopped():
    from smlib.cli import _run_line

    scored = {"final": {"fid_label": "FID-1000", "fid": 12.345, "kid": 0.01234}, "completed": True}
    assert _run_line("esm ae 1 seed 0", scored, ", decoder floor 3.00") == \
        "esm ae 1 seed 0: FID-1000 = 12.35, KID = 0.0123, decoder floor 3.00"
    assert _run_line("x", {"completed": True, "final": {}}) == "x: finished, not scored (n_fid = 0)"
    assert _run_line("x", {"completed": False, "steps": 40, "config_steps": 3000}) == "x: stopped at step 40 of 3000"
