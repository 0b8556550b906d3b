"""The book's scorecard (smlib.scorecard): generated from the committed results and notebooks, never typed, and
the committed book/_scorecard.md is what the generator writes today."""
import json

import pytest

from smlib import scorecard
from smlib.results import RunContext
from test_sweep import SWEEP, ToyConfig


def test_the_committed_scorecard_is_what_the_results_say_today():
    rows = scorecard.scorecard()
    assert scorecard.SCORECARD_PATH.read_text() == scorecard.markdown(rows), \
        "book/_scorecard.md is stale: run `python tools/scorecard.py` (after the notebooks and results it reads)"
    readme = scorecard.README_PATH.read_text()
    assert scorecard.with_readme_scorecard(readme, rows) == readme, \
        "README.md's scorecard is stale: run `python tools/scorecard.py`"


def test_a_pair_verdict_is_the_sweeps_primary_judgement(tmp_path):
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path))
    read = scorecard.pairs_verdict(lambda: SWEEP, "ci", [("a", "b")], "toy scale", planned=12, results_dir=tmp_path)
    assert read() == ("holds (provisional: 9 of 12 runs)", "toy scale")
    both = scorecard.pairs_verdict(lambda: SWEEP, "ci", [("a", "b"), ("c", "a")], "toy", results_dir=tmp_path)
    assert both()[0] == "holds 1, unresolved 1"
    none = scorecard.pairs_verdict(lambda: SWEEP, "nothing-here", [("a", "b")], "toy", results_dir=tmp_path)
    assert none() == ("not run yet", "toy")
    undeclared = scorecard.pairs_verdict(lambda: SWEEP, "ci", [("b", "c")], "toy", planned=12, results_dir=tmp_path)
    assert undeclared() == ("not judged yet (provisional: 9 of 12 runs)", "toy")


def test_a_sweep_whose_baseline_misses_its_learning_bar_is_not_judged(tmp_path):
    import dataclasses

    from smlib.learning_bar import LearningBar

    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path))
    unmet = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 0.0, "at most"),))
    read = scorecard.pairs_verdict(lambda: unmet, "ci", [("a", "b")], "toy", planned=12, results_dir=tmp_path)
    assert read() == ("not judged: a baseline misses its learning bar (9 of 12 runs)", "toy")
    unchecked = dataclasses.replace(SWEEP, bars=(LearningBar("d", "fid", 0.0, "at most"),))
    read = scorecard.pairs_verdict(lambda: unchecked, "ci", [("a", "b")], "toy", results_dir=tmp_path)
    assert read() == ("not judged yet (learning bar unchecked)", "toy")
    met = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 100.0, "at most"),))
    read = scorecard.pairs_verdict(lambda: met, "ci", [("a", "b")], "toy", results_dir=tmp_path)
    assert read() == ("holds", "toy")


def test_a_fact_verdict_reads_the_committed_notebooks_check_output(tmp_path, monkeypatch):
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "text": ["noise\n", "the bar is met: True (93%)\n", "the identity holds: False\n"]}]}]}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "x.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(scorecard, "REPO_ROOT", tmp_path)
    assert scorecard.fact_verdict("x", "the bar is met", "ci")() == ("holds", "ci")
    assert scorecard.fact_verdict("x", "the identity holds", "ci")() == ("fails", "ci")
    assert scorecard.fact_verdict("x", "never printed", "ci")() == ("not run", "ci")
    assert scorecard.fact_verdict("missing", "x", "ci")() == ("not run", "ci")


@pytest.mark.parametrize("claim", scorecard.CLAIMS, ids=lambda c: f"ch{c.chapter}-{c.claim[:30]}")
def test_every_claim_reads_a_verdict_from_something_that_exists(claim):
    verdict, scale = claim.verdict()
    assert verdict not in ("not run", "not read"), f"chapter {claim.chapter}: {claim.claim!r} reads no fact"
    assert (scorecard.REPO_ROOT / "notebooks" / f"{claim.doc}.ipynb").is_file()
