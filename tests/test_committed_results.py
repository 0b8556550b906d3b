"""The committed sweeps against the code that reads them: every committed run holds the recipe its preset declares
today (so a fresh clone's ``python -m smlib <chapter> --preset small`` skips it instead of re-running or refusing),
every declared family names arms of its sweep, and each ``declared.toml`` was committed before the first run it
judges, as git shows it."""
import json
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

#: the sweeps whose first version is archived in small-v1, with the sweep and recipe that read it
FIRST_SWEEPS = {
    "dctdiff": (dctdiff.FIRST_SWEEP, dctdiff.FIRST_SMALL),
    "spectral_regularisation": (spectral_regularisation.FIRST_SWEEP, spectral_regularisation.FIRST_SMALL),
    "toy": (spectral_regularisation.FIRST_TOY_SWEEP, spectral_regularisation.FIRST_SMALL),
}
RERUNS = ("diffusability", "dctdiff", "spectral_regularisation", "toy")


@pytest.mark.parametrize("name", SWEEPS)
def test_every_committed_run_is_skipped_by_its_preset(name):
    """Chapters 5, 7 and 8 re-run their first sweeps (archived in small-v1), so their small folders fill run by run;
    the archived runs hold the first sweeps' recipes."""
    sweep, cfg = SWEEPS[name]
    runs = sweep.load("small").runs
    assert runs or name in RERUNS, f"no committed runs for {name}"
    for r in runs:
        arm, seed = sweep.arm_of(r), sweep.seed_of(r)
        assert sweep.committed(cfg, arm, seed) is not None, f"{name}: {arm}-seed{seed} would be re-run"
    if name in FIRST_SWEEPS:
        first, first_cfg = FIRST_SWEEPS[name]
        archived = first.load(first_cfg.preset).runs
        assert archived, f"no archived first-sweep runs for {name}"
        for r in archived:
            assert first.committed(first_cfg, first.arm_of(r), first.seed_of(r)) is not None


def test_a_run_of_another_recipe_is_refused_the_eqvae_of_the_first_sweeps_was_trained_from_scratch():
    sweep, cfg = SWEEPS["autoencoders"]
    scratch = next(r for r in sweep.load("small").runs if r["variant"] == "eqvae-scratch")
    assert sweep.committed(cfg, "eqvae-scratch", scratch["seed"]) is not None
    assert "recipe" not in scratch["config"]          # committed before recipes entered run identities
    first = diffusability.FIRST_SWEEP.load("small-v1").runs
    assert len(first) == 21 and {r["variant"] for r in first} >= {"eqvae-scratch", "sd-vae"}


@pytest.mark.parametrize("name", SWEEPS)
def test_every_declared_family_names_arms_and_metrics_of_its_sweep(name):
    sweep, _ = SWEEPS[name]
    assert sweep.families, f"{name} declares no family"
    for fam in sweep.families:
        sweep.metric(fam.metric)
        assert {a for c in fam.comparisons for a in (c.better, c.worse)} <= set(sweep.arms)


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def added_by(path: Path) -> str:
    """The commit that added this file, following renames back to its first name; where a path was re-used (chapter
    5's re-run writes the names its first sweep had before that moved to small-v1) the latest add, which is this
    file's. A file no commit added fails in one line."""
    added = git("log", "--follow", "--diff-filter=A", "--format=%H", "--", str(path.relative_to(ROOT))).split()
    assert added, f"{path.relative_to(ROOT)} is not committed: a run is reported only from a commit"
    return added[0]


@pytest.mark.skipif(not (ROOT / ".git").exists() or git("rev-parse", "--is-shallow-repository") == "true",
                    reason="needs the repository's whole history")
@pytest.mark.parametrize("name", SWEEPS)
def test_each_family_was_committed_before_every_run_it_judges(name):
    """The commit a family names (where its pairs first stood; they were moved into declared.toml later, unchanged)
    is an ancestor of, and not, the commit that added each committed run file of the arms it compares,
    leaving out the arms it lists as ``seen`` (already read when it was declared). A family none of whose runs is
    committed yet is checked once they are."""
    sweep, _ = SWEEPS[name]
    checks = [(sweep.families, "small")]
    if name == "diffusability":
        checks.append((diffusability.FIRST_SWEEP.families, "small-v1"))
    if name in FIRST_SWEEPS:
        checks.append((FIRST_SWEEPS[name][0].families, "small-v1"))
    for families, folder in checks:
        files = sorted((ROOT / "results" / sweep.chapter / folder).glob("*.json"))
        runs = {p: sweep.arm_of(r) for p in files if (r := json.loads(p.read_text())).get(sweep.arm_key)}
        for fam in families:
            arms = {a for c in fam.comparisons for a in (c.better, c.worse)} - set(fam.seen)
            judged = [p for p, arm in runs.items() if arm in arms]
            if not judged:
                continue
            assert fam.commit, f"{name}: family {fam.title!r} judges committed runs but names no commit"
            for p in judged:
                added = added_by(p)
                precedes = subprocess.run(["git", "merge-base", "--is-ancestor", fam.commit, added],
                                          cwd=ROOT).returncode == 0
                assert precedes and not added.startswith(fam.commit), (
                    f"{name}: {fam.title!r} names commit {fam.commit}, which does not precede {p.name} ({added[:7]})")
