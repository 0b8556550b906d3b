"""Chapter 5b's verdict as text computed from the paired verdicts of its declared families (:meth:`smlib.sweep.
Sweep.verdicts`), so that the prose follows from the numbers whatever they turn out to be: with no run committed
(no verdict), with part of the sweep (provisional), and with all of it.

    rows = SWEEP.verdicts(book.runs)
    text = verdict_text(rows, n_runs=len(book.runs), n_planned=30, rho=..., n_arms=6)
    text["shape"], text["correspondence"], text["origin"], text["falck"], text["kling"], text["status"]

The rules, stated once: a pair's verdict is the primary one (paired t over seeds, Holm within its family). A family
*detects* an effect when one of its pairs holds or is reversed; when none does, the sentence gives the largest effect
that every pair's interval leaves open (the far ends of the intervals), never the minimum detectable difference.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

RESOLVED = ("holds", "reversed")


#: which family each verdict sentence reads: (an arm of it, whether it is primary)
FAMILY_KEYS = {"shape": ("esm", True), "correspondence": ("scramble", True), "falck": ("image", False)}


def _family_with(verdicts: Sequence, arm: str, primary: bool | None = None) -> tuple:
    """(family, rows) of the first family with a pair that involves ``arm`` (and of that primary flag, when
    given); (None, []) when there is none."""
    for fam, rows in verdicts:
        if primary is not None and fam.primary != primary:
            continue
        if any(arm in (c.better, c.worse) for c in fam.comparisons):
            return fam, list(rows)
    return None, []


def family_rows(verdicts: Sequence) -> dict[str, list[dict]]:
    """{"shape": ESM's pairs, "correspondence": DSM's pair, "falck": the secondary pair} of the chapter's families
    (found by their arms: the primary family with ``esm``, the one with ``scramble``, the secondary one with
    ``image``); a family with no runs yet has no rows."""
    return {key: _family_with(verdicts, arm, primary)[1] for key, (arm, primary) in FAMILY_KEYS.items()}


def pending_pairs(verdicts: Sequence) -> dict[str, list[str]]:
    """For each sentence's family, its declared pairs that have no row yet ("better < worse"): an arm of theirs has
    no committed run. They still count in the family's Holm correction (:meth:`smlib.sweep.Sweep.judge`)."""
    out = {}
    for key, (arm, primary) in FAMILY_KEYS.items():
        fam, rows = _family_with(verdicts, arm, primary)
        done = {(r["better"], r["worse"]) for r in rows}
        out[key] = [f"{c.better} < {c.worse}" for c in (fam.comparisons if fam else ()) if (c.better, c.worse) not in done]
    return out


def _pending_sentence(pairs: Sequence[str]) -> str:
    return (f" Not run yet: {', '.join(pairs)} (an arm has no committed run; the pair still counts in the family's "
            "Holm correction).") if pairs else ""


def _f(x: float, fmt: str = ".1f") -> str:
    return f"{x:{fmt}}" if x is not None and math.isfinite(x) else "–"


def _p(p: float) -> str:
    return "–" if p is None or not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _names(r: Mapping) -> str:
    return f"{r['better']} < {r['worse']}"


def pair_text(r: Mapping) -> str:
    """'esm < white holds (difference 3.1, 95% CI [1.0, 5.2], Holm p 0.012, 5 seeds)'."""
    return (f"{r['better']} < {r['worse']} {r['verdict']} (difference {_f(r['difference'])}, 95% CI "
            f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}], Holm p {_p(r['p_holm'])}, {r['n']} seeds)")


def open_bound(rows: Sequence[Mapping]) -> float:
    """The largest |effect| any pair's interval leaves open: max over pairs of max(ci_high, -ci_low)."""
    ends = [max(r["ci_high"], -r["ci_low"]) for r in rows if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"])]
    return max(ends) if ends else float("nan")


def judged(rows: Sequence[Mapping]) -> bool:
    """Whether a family has been judged at all: some pair has paired seeds enough for an interval."""
    return math.isfinite(open_bound(rows)) if rows else False


def _detected(rows: Sequence[Mapping]) -> tuple[list, list]:
    return [r for r in rows if r["verdict"] == "holds"], [r for r in rows if r["verdict"] == "reversed"]


def status_text(n_runs: int, n_planned: int) -> str:
    if n_runs == 0:
        return (f"No run of the book's sweep is committed yet (0 of {n_planned} planned), so no declared comparison "
                "has been judged and this chapter draws no conclusion about diffusability yet.")
    if n_runs < n_planned:
        return (f"Provisional: {n_runs} of the {n_planned} planned runs are committed. The verdicts below are those "
                "of the committed seeds and can change when the sweep is complete.")
    return f"All {n_planned} planned runs are committed; the verdicts below are final for this sweep."


def shape_text(rows: Sequence[Mapping], unit: str = "FID points") -> str:
    """Whether the spectral shape alone (ESM's pairs) changes how well the fixed latent diffuses."""
    if not rows:
        return "The spectral shape alone: not judged yet (no pair of ESM's family has committed runs)."
    holds, rev = _detected(rows)
    pairs = "; ".join(pair_text(r) for r in rows)
    still_open = [r for r in rows if r not in holds + rev and math.isfinite(open_bound([r]))]
    if (holds or rev) and still_open:
        moved = ", ".join(f"{_names(r)} {r['verdict']}" for r in holds + rev)
        head = (f"Only in part: the spectral shape alone moved gFID where {moved}, while "
                f"{', '.join(_names(r) for r in still_open)} did not resolve, the intervals leaving open no effect "
                f"larger than {_f(open_bound(still_open))} {unit} either way")
    elif holds and not rev:
        head = ("Yes, in ESM's direction: with the decoder, the information and the normalisation fixed, reshaping "
                "the latent's spectrum alone changed how well it diffuses")
    elif rev and not holds:
        head = ("Yes, against ESM's direction: reshaping the spectrum alone changed how well the fixed latent "
                "diffuses, and ESM's target came out worse")
    elif holds and rev:
        head = "Yes, both ways: the spectral shape alone changed the result, for some pairs in ESM's direction and " \
               "for others against it"
    elif not math.isfinite(open_bound(rows)):
        head = "Not resolvable yet: no pair of ESM's family has two paired seeds"
    else:
        head = (f"Not detectably: no pair of ESM's family resolves, and the intervals leave open no shape effect "
                f"larger than {_f(open_bound(rows))} {unit} in either direction")
    return f"{head} ({pairs})."


def correspondence_text(rows: Sequence[Mapping], unit: str = "FID points") -> str:
    """Whether the frequency correspondence alone (DSM's pair) changes it."""
    if not rows:
        return "The frequency correspondence alone: not judged yet (the identity and scramble arms have no runs)."
    holds, rev = _detected(rows)
    pairs = "; ".join(pair_text(r) for r in rows)
    if holds:
        head = ("Yes: scrambling which latent frequency carries which band, with the radial spectrum kept, made the "
                "same latent diffuse worse, as DSM expects")
    elif rev:
        head = "Yes, against DSM: the scrambled latent diffused better than the latent as trained"
    elif not math.isfinite(open_bound(rows)):
        head = "Not resolvable yet: the identity and scramble arms share fewer than two seeds"
    else:
        head = (f"Not detectably: the scramble leaves the result unresolved, and its interval leaves open no effect "
                f"larger than {_f(open_bound(rows))} {unit} either way")
    return f"{head} ({pairs})."


def origin_text(shape: Sequence[Mapping], correspondence: Sequence[Mapping]) -> str:
    """What the two answers say about where ESM's and DSM's effects (if any) must come from."""
    if not judged(shape) and not judged(correspondence):
        return "Not judged yet: no declared pair has two paired seeds."
    parts = []
    # ESM's own case is moving a latent to its target from an over-whitened spectrum (SD-VAE's, or white); the
    # steeper pair asks only whether the target's flattening guards against a spectrum that is too steep
    core = [r for r in shape if r["worse"] in ("white", "identity")]
    steep = [r for r in shape if r["worse"] == "steeper"]
    if judged(core):
        holds, rev = _detected(core)
        if holds and not rev:
            parts.append("ESM's effect can come, at least in part, from the spectrum itself: moving one fixed latent "
                         f"to ESM's target ({', '.join(_names(r) for r in holds)}) was enough to move gFID.")
        elif rev and not holds:
            parts.append("Whatever an ESM-trained autoencoder gains cannot come from its spectrum as such: moving a "
                         "fixed latent to ESM's target made it worse.")
        elif holds and rev:
            parts.append("The spectrum matters, but not in the single direction ESM predicts, so ESM's target is not "
                         "what carries an effect of the spectrum.")
        else:
            parts.append("Moving one fixed latent to ESM's target from an over-whitened spectrum "
                         f"({', '.join(_names(r) for r in core)}) changed gFID by no more than {_f(open_bound(core))} "
                         "FID points either way, so an effect of ESM larger than that cannot come from the latent's "
                         "spectrum as such; it would have to come from what the regularizer changes in what the "
                         "encoder keeps and in the decoder.")
    if judged(steep):
        r = steep[0]
        if r["verdict"] == "holds":
            parts.append(f"A spectrum steeper than the image's did cost gFID ({pair_text(r)}): the spectrum matters "
                         "at that end, the side of ESM's target that its flattening keeps away from.")
        elif r["verdict"] == "reversed":
            parts.append(f"A spectrum steeper than the image's helped ({pair_text(r)}), against ESM's flattening.")
    if judged(correspondence):
        holds, rev = _detected(correspondence)
        if holds:
            parts.append("The band correspondence DSM asks for matters in itself: breaking it alone costs gFID.")
        elif rev:
            parts.append("Breaking the band correspondence helped, so DSM's effect cannot come from the "
                         "correspondence itself.")
        else:
            parts.append("An effect of DSM larger than its interval would have to come from what its masked "
                         "training changes in the encoder and decoder, not from which frequency carries which band.")
    return " ".join(parts)


def falck_text(rows: Sequence[Mapping]) -> str:
    """How the image-shaped against the whitened latent stands against Falck et al. (arXiv 2505.11278)."""
    if not judged(rows):
        return "Not judged yet: the image and white arms share fewer than two seeds."
    r = rows[0]
    if r["verdict"] == "holds":
        return (f"The image's spectrum beat the whitened latent ({pair_text(r)}): with ESM, and against Falck et "
                "al.'s finding that an equal-SNR process performs on par (theirs is on pixels, this on a latent).")
    if r["verdict"] == "reversed":
        return (f"The whitened latent beat the image's spectrum ({pair_text(r)}): against ESM, and past Falck et "
                "al.'s 'on par', in the other direction.")
    return (f"Falck et al. find a forward process with equal SNR in every frequency on par with the standard one on "
            f"standard image benchmarks; here the image-shaped and the whitened latent are unresolved ({pair_text(r)}):"
            f" consistent with 'on par' within that interval, where ESM expected the image's shape to win.")


def smoothness_correlation(share: Mapping[str, float], score: Mapping[str, float]) -> tuple[float, int]:
    """(Spearman rho, number of arms) between each arm's mean high-frequency share of latent power and its mean
    score, over the arms that have both; (nan, n) with fewer than three arms. Descriptive: arms are not samples."""
    arms = [a for a in share if a in score]
    if len(arms) < 3:
        return float("nan"), len(arms)
    rho = scipy.stats.spearmanr([share[a] for a in arms], [score[a] for a in arms]).statistic
    return float(rho), len(arms)


def kling_text(shape: Sequence[Mapping], rho: float, n_arms: int) -> str:
    """How the intervention stands against the Kling study (arXiv 2606.03578, its abstract): latent properties, spectral
    smoothness among them, correlated with generation quality over tokenizers that differ in everything at once. The
    "spectral smoothness" explanation says smoother latents (less high-frequency energy) diffuse better; the steeper
    arm is the smoothest here, so ESM's pair against it is where that explanation and ESM disagree."""
    if not judged(shape):
        return "Not judged yet: no pair of ESM's family has two paired seeds."
    holds, rev = _detected(shape)
    text = ("The Kling study correlates latent properties, spectral smoothness among them, with generation quality "
            "over 86 tokenizers that differ in everything at once, without intervening. ")
    if holds or rev:
        text += "Here the spectrum alone, everything else fixed, moved gFID: the spectrum has an effect of its own."
    else:
        text += ("Here the spectrum alone, everything else fixed, moved nothing this sweep detects, so at this scale "
                 "such a correlation would have to be carried by what comes with a smooth spectrum (what the encoder "
                 "keeps, the decoder), not by the spectrum itself.")
    steeper = next((r for r in shape if r["worse"] == "steeper"), None)
    if steeper is not None and steeper["verdict"] == "holds":
        text += (" On the steeper arm, the smoothest here, ESM's flatter target won "
                 f"({pair_text(steeper)}): against 'smoother is better'.")
    elif steeper is not None and steeper["verdict"] == "reversed":
        text += (" On the steeper arm, the smoothest here, the steeper latent won "
                 f"({pair_text(steeper)}): with 'smoother is better' and against ESM.")
    elif steeper is not None:
        text += (" On the steeper arm, the smoothest here, where 'smoother is better' and ESM disagree, the pair is "
                 "unresolved.")
    if np.isfinite(rho):
        way = ("the direction 'smoother is better' predicts" if rho > 0 else "the opposite direction" if rho < 0
               else "no direction")
        text += (f" Over the {n_arms} arms the rank correlation between the share of latent power above half Nyquist "
                 f"and the mean gFID vs reconstructions is {_f(rho, '+.2f')} ({way}; descriptive: {n_arms} arms, not "
                 "a test).")
    return text


#: slopes closer than this (log-log, per unit log frequency) are read as the same shape
SLOPE_TOLERANCE = 0.1


def slope_relation(own: float, esm: float, tolerance: float = SLOPE_TOLERANCE) -> str:
    """"flatter than", "steeper than" or "about as steep as" (within ``tolerance`` in log-log slope): how a latent's
    spectrum stands against ESM's target."""
    if own - esm > tolerance:
        return "flatter than"
    if esm - own > tolerance:
        return "steeper than"
    return "about as steep as"


def premise_text(slopes: Mapping[str, float] | None, tolerance: float = SLOPE_TOLERANCE) -> str:
    """Whether the book's autoencoder is over-whitened in ESM's sense (its latent flatter than ESM's target), from
    the log-log slopes of :func:`smlib.experiments.intervention.analysis.slopes` (None: no run recorded them)."""
    if not slopes or "esm" not in slopes or not math.isfinite(slopes.get("as trained", math.nan)):
        return "Not measured yet: no committed run records the book's autoencoder's spectrum and ESM's target."
    own, esm = slopes["as trained"], slopes["esm"]
    relation = slope_relation(own, esm, tolerance)
    head = (f"The book's SD-VAE latent is {relation} ESM's target (log-log slope {own:+.2f} against {esm:+.2f}; "
            f"slopes within {tolerance} read as the same)")
    if relation == "flatter than":
        return head + (": over-whitened in ESM's sense, as the paper describes SD-VAE, so 'esm < identity' tests "
                       "ESM's own starting case.")
    if relation == "steeper than":
        return head + (": over-smoothed rather than over-whitened at this scale, so 'esm < identity' tests the other "
                       "side of ESM's target; the white arm tests the over-whitened case.")
    return head + (": already about as flat as ESM asks at this scale, so 'esm < identity' changes the spectrum "
                   "little; the white arm tests the over-whitened case.")


def verdict_text(verdicts: Sequence, n_runs: int, n_planned: int, rho: float = float("nan"), n_arms: int = 0,
                 unit: str = "FID points") -> dict[str, str]:
    """The verdict's sentences: {"status", "shape", "correspondence", "origin", "falck", "kling"}."""
    fam = family_rows(verdicts) if n_runs else {"shape": [], "correspondence": [], "falck": []}
    todo = pending_pairs(verdicts) if n_runs else {}
    text = {"status": status_text(n_runs, n_planned), "shape": shape_text(fam["shape"], unit),
            "correspondence": correspondence_text(fam["correspondence"], unit),
            "origin": origin_text(fam["shape"], fam["correspondence"]), "falck": falck_text(fam["falck"]),
            "kling": kling_text(fam["shape"], rho, n_arms)}
    for key in ("shape", "correspondence", "falck"):
        if fam[key]:                 # a family with no rows at all already says it is not judged yet
            text[key] += _pending_sentence(todo.get(key, []))
    if fam["shape"] and "esm < steeper" in todo.get("shape", []):
        text["kling"] += (" The steeper arm, the smoothest, where 'smoother is better' and ESM disagree, has not run "
                          "yet.")
    return text


__all__ = ["FAMILY_KEYS", "family_rows", "pending_pairs", "pair_text", "open_bound", "judged", "status_text", "shape_text", "correspondence_text",
           "origin_text", "falck_text", "SLOPE_TOLERANCE", "slope_relation", "premise_text", "smoothness_correlation", "kling_text", "verdict_text"]
