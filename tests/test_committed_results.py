"""The committed sweeps against the code that reads them: every committed run holds the recipe its preset declares
today (so a fresh clone's ``python -m smlib <chapter> --preset small`` skips it instead of re-running or refusing),
every declared family names arms of its sweep, and each ``declared.toml`` was committed before the first run it
judges, as git shows it."""
import subprocess
from pathlib import Path

import pytest

from smlib.experiments import autoencoders, dctdiff, diffusability, repa, spectral_regularisation
from smlib.pipelines.autoencoder import AutoencoderConfig

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = {
    "autoencoders": (autoencoders.SWEEP, AutoencoderConfig.at("small")),
    "diffusability": (diffusability.SWEEP, diffusability.DiffusabilityConfig.at("small")),
    "repa": (repa.SWEEP, repa.RepaConfig.at("small")),
    "dctdiff": (dctdiff.SWEEP, dctdiff.DCTdiffConfig.at("small")),
    "spectral_regularisation": (spectral_regularisation.SWEEP, spectral_regularisation.SpectralRegConfig.at("small")),
    "toy": (spectral_regularisation.TOY_SWEEP, spectral_regularisation.SpectralRegConfig.at("small")),
}


@pytest.mark.parametrize("name", SWEEPS)
def test_every_committed_run_is_skipped_by_its_preset(name):
    sweep, cfg = SWEEPS[name]
    runs = sweep.load("small").runs
    assert runs, f"no committed runs for {name}"
    for r in runs:
        arm, seed = sweep.arm_of(r), sweep.seed_of(r)
        assert sweep.committed(cfg, arm, seed) is not None, f"{name}: {arm}-seed{seed} would be re-run"


@pytest.mark.parametrize("name", SWEEPS)
def test_every_declared_family_names_arms_and_metrics_of_its_sweep(name):
    sweep, _ = SWEEPS[name]
    assert sweep.families, f"{name} declares no family"
    for fam in sweep.families:
        sweep.metric(fam.metric)
        assert {a for c in fam.comparisons for a in (c.better, c.worse)} <= set(sweep.arms)


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not (ROOT / ".git").exists() or git("rev-parse", "--is-shallow-repository") == "true",
                    reason="needs the repository's whole history")
@pytest.mark.parametrize("name", SWEEPS)
def test_each_family_was_committed_before_the_first_run_it_judges(name):
    """The commit a family names (where its pairs first stood; they were moved into declared.toml later,
    unchanged) is an ancestor of, and not, the first commit that added a run file of any arm the family compares,
    leaving out the arms it lists as ``seen`` (already read when it was declared)."""
    sweep, _ = SWEEPS[name]
    for fam in sweep.families:
        assert fam.commit, f"{name}: family {fam.title!r} names no commit"
        arms = sorted({a for c in fam.comparisons for a in (c.better, c.worse)} - set(fam.seen))
        added = git("log", "--diff-filter=A", "--format=%H", "--reverse", "--",
                    *[f"results/{sweep.chapter}/small/{a}-*" for a in arms]).split()
        assert added, f"{name}: no committed run of {arms}"
        precedes = subprocess.run(["git", "merge-base", "--is-ancestor", fam.commit, added[0]], cwd=ROOT).returncode
        assert precedes == 0 and not added[0].startswith(fam.commit), (
            f"{name}: {fam.title!r} names commit {fam.commit}, which does not precede its first run {added[0][:7]}")
