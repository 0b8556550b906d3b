"""The book's outcomes at a glance: one row per claim, its source, the verdict at our scale, where it was tested.

Nothing here is typed by hand. A claim tested by a sweep takes its verdict from the chapter's declared families,
judged by :mod:`smlib.sweep` on the committed runs (paired by seed, Holm); a claim tested by a computation in a
chapter takes it from the chapter's check cells, as the committed, executed notebook printed them (nbval re-runs
them in CI). ``python tools/scorecard.py`` writes the table to ``book/_scorecard.md``, which the introduction and
the Results page include; ``tests/test_scorecard.py`` fails when that file is stale.

    rows = scorecard()           # [{"chapter", "claim", "source", "verdict", "scale", "link"}, ...]
    print(markdown(rows))
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from smlib.learning_bar import bars_met
from smlib.provenance import REPO_ROOT


@dataclass(frozen=True)
class Claim:
    """One row: a claim, who makes it, and how its verdict is read (``verdict() -> (verdict, scale)``)."""

    chapter: int | str
    doc: str
    claim: str
    source: str
    verdict: Callable[[], tuple[str, str]]


# --------------------------------------------------------------------------------------------- from check cells
def notebook_fact(doc: str, prefix: str) -> str | None:
    """The first output line of the committed, executed notebook ``notebooks/<doc>.ipynb`` that starts with
    ``prefix`` (a fact a check cell printed), or None."""
    path = REPO_ROOT / "notebooks" / f"{doc}.ipynb"
    if not path.is_file():
        return None
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or (out.get("data") or {}).get("text/plain") or ""
            for line in (text if isinstance(text, list) else text.splitlines()):
                line = line.rstrip("\n")
                if line.startswith(prefix):
                    return line
    return None


def fact_verdict(doc: str, prefix: str, scale: str, detail: str | None = None) -> Callable[[], tuple[str, str]]:
    """A claim decided by one printed fact ``<prefix>...: True/False``: "holds" when it printed True, "fails" when
    False, "not run" when the notebook does not print it; with ``detail``, the printed fact starting with it is
    added in brackets (how far it holds)."""
    def read() -> tuple[str, str]:
        line = notebook_fact(doc, prefix)
        if line is None:
            return "not run", scale
        value = line[len(prefix):].lstrip(" :")
        verdict = "holds" if value.startswith("True") else "fails" if value.startswith("False") else "not read"
        extra = notebook_fact(doc, detail) if detail else None
        return (f"{verdict} ({extra})" if extra else verdict), scale
    return read


# --------------------------------------------------------------------------------------------- from sweeps
def pairs_verdict(sweep_of: Callable, preset: str, pairs: Sequence[tuple[str, str]], scale: str,
                  planned: int | None = None, metric: str | None = None,
                  results_dir=None) -> Callable[[], tuple[str, str]]:
    """A claim decided by declared pairs of a sweep's primary families, judged on the committed runs (paired by
    seed, Holm within each family): the verdicts of every matching row joined ("holds", "unresolved", "holds 1,
    unresolved 2", ...). ``sweep_of()`` returns the Sweep (imported late: the chapters sit above this module's
    imports). With ``planned`` runs, a partial sweep says how many of them are in; ``metric`` keeps only the families
    on that metric. A sweep with learning bars is judged only once every bar is met (smlib.learning_bar)."""
    def read() -> tuple[str, str]:
        sweep = sweep_of()
        runs = sweep.load(preset, results_dir).runs
        if not runs:
            return "not run yet", scale
        bars = sweep.learning_bars(runs)
        if sweep.bars and not bars_met(bars):
            unmet = any(r["met"] is False for r in bars)
            text = ("not judged: a baseline misses its learning bar" if unmet
                    else "not judged yet (learning bar unchecked)")
            if planned is not None and len(runs) < planned:
                text += f" ({len(runs)} of {planned} runs)"
            return text, scale
        judged = sweep.verdicts(runs)
        verdicts = [r["verdict"] for fam, rows in judged if fam.primary and metric in (None, fam.metric)
                    for r in rows if (r["better"], r["worse"]) in pairs]
        verdicts += ["not judged yet"] * (not verdicts)      # runs, but no declared pair shares a seed yet
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        text = next(iter(counts)) if len(counts) == 1 else ", ".join(f"{v} {n}" for v, n in counts.items())
        if planned is not None and len(runs) < planned:
            text += f" (provisional: {len(runs)} of {planned} runs)"
        return text, scale
    return read


def _chapter(name: str):
    def get():
        import importlib

        return importlib.import_module(f"smlib.experiments.{name}")
    return get


def _sweep(name: str, attr: str = "SWEEP"):
    return lambda: getattr(_chapter(name)(), attr)


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "01_spectral_bias", "MSE diffusion learns low and mid frequencies first; power-law spectra make that "
          "bias benign (Prop. 3.1)", "paper prose",
          fact_verdict("01_spectral_bias", "the full-image model meets the bar at every seed",
                       "ci preset, CIFAR-10 32 px, 3 training seeds", detail="seeds meeting the bar")),
    Claim(2, "02_rmsc_identity", "RMS spatial contrast of a target equals its DC-free directional energy (Prop. 3.2)",
          "paper prose", fact_verdict("02_rmsc_identity", "identity holds on random tokens, float64, to 1e-12",
                                      "exact, float64")),
    Claim(3, "03_latent_spectra", "KL-regularised (SD-VAE) latents come out over-whitened: flatter than ESM's "
          "target", "paper prose",
          fact_verdict("03_latent_spectra", "SD-VAE latent flatter than the target (over-whitened) at every seed",
                       "small preset, 3 autoencoders")),
    Claim(4, "04_autoencoders", "VA-VAE's latent follows a power law: steeper than SD-VAE's", "paper prose",
          pairs_verdict(_sweep("autoencoders"), "small", [("vf", "sd-vae")], "small preset, 3 autoencoders per variant",
                        metric="psd_slope_latent")),
    Claim(4, "04_autoencoders", "VA-VAE's latent is closer to ESM's flattened target than SD-VAE's", "paper prose",
          pairs_verdict(_sweep("autoencoders"), "small", [("vf", "sd-vae")], "small preset, 3 autoencoders per variant",
                        metric="kl_to_target")),
    Claim(5, "05_diffusability", "ESM and DSM latents diffuse better than SD-VAE's", "abstract",
          pairs_verdict(_sweep("diffusability"), "small", [("esm", "sd-vae"), ("dsm", "sd-vae")],
                        "small preset, 5 autoencoders per variant, gFID-1000 vs reconstructions", planned=40)),
    Claim(5, "05_diffusability", "DSM beats Scale Equivariance in generation", "paper prose",
          pairs_verdict(_sweep("diffusability"), "small", [("dsm", "scale_equivariance")],
                        "small preset, 5 autoencoders per variant, gFID-1000 vs reconstructions", planned=40)),
    Claim(5, "05_diffusability", "(first sweep) ESM and DSM latents diffuse better than SD-VAE's", "abstract",
          pairs_verdict(_sweep("diffusability", "FIRST_SWEEP"), "small-v1", [("esm", "sd-vae"), ("dsm", "sd-vae")],
                        "small preset, 3 autoencoders per variant, raw gFID-1000")),
    Claim("5b", "05b_intervention", "The same latent diffuses better with ESM's flattened spectrum than whitened "
          "or steeper (one autoencoder, its spectrum changed, nothing else)", "paper prose",
          pairs_verdict(_sweep("intervention"), "small", [("esm", "white"), ("esm", "identity"), ("esm", "steeper")],
                        "small preset, one SD-VAE, 5 diffusion seeds, gFID-1000 vs reconstructions", planned=30)),
    Claim("5b", "05b_intervention", "Scrambling which latent band carries which image band, spectrum kept, makes it "
          "diffuse worse (DSM)", "paper prose",
          pairs_verdict(_sweep("intervention"), "small", [("identity", "scramble")],
                        "small preset, one SD-VAE, 5 diffusion seeds, gFID-1000 vs reconstructions", planned=30)),
    Claim(6, "06_repa", "REPA helps; a DoG target improves on iREPA", "abstract",
          pairs_verdict(_sweep("repa"), "small", [("repa", "none"), ("dog-0.5-2", "irepa-g0.6"),
                                                  ("dog-1-4", "irepa-g0.6")],
                        "small preset, 3 seeds, gFID-250")),
    Claim(7, "07_dctdiff", "DCT-space diffusion (DCTdiff) beats pixel diffusion", "second-hand note",
          pairs_verdict(_sweep("dctdiff"), "small", [("ebfr", "pixel")],
                        "small preset, U-ViT on 16 tokens at 16 px, 5 seeds, gFID-250", planned=30)),
    Claim(7, "07_dctdiff", "(first ladder) the same, on generators that had not learned CIFAR-10", "second-hand note",
          pairs_verdict(_sweep("dctdiff", "FIRST_SWEEP"), "small-v1", [("ebfr", "pixel")],
                        "U-ViT on 64 tokens at 32 px, 3 seeds, 1,500 steps, gFID-250")),
    Claim(8, "08_spectral_regularisation", "Fourier and wavelet terms improve DDPM and EDM training (on CIFAR-10 from "
          "scratch: our inference)", "our inference",
          pairs_verdict(_sweep("spectral_regularisation"), "small", [("ddpm-ap-1", "ddpm"), ("edm-ap-1", "edm")],
                        "small preset, DDPM++ U-Net at 16 px, 5 seeds, 4,000 steps, gFID-250", planned=20)),
    Claim(8, "08_spectral_regularisation", "(first sweep) the same, on generators that had not learned CIFAR-10",
          "our inference",
          pairs_verdict(_sweep("spectral_regularisation", "FIRST_SWEEP"), "small-v1",
                        [("ddpm-ap-1", "ddpm"), ("edm-ap-1", "edm"), ("edm-wavelet-1", "edm")],
                        "U-ViT at 32 px, 3 seeds, 1,500 steps, gFID-250")),
)


def scorecard(claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """Every claim's row: chapter, claim, source, verdict, scale, link (a MyST ``{doc}`` link to its chapter)."""
    rows = []
    for c in claims:
        verdict, scale = c.verdict()
        rows.append({"chapter": c.chapter, "claim": c.claim, "source": c.source, "verdict": verdict, "scale": scale,
                     "link": f"{{doc}}`chapter {c.chapter} <../notebooks/{c.doc}>`"})
    return rows


def markdown(rows: Sequence[dict]) -> str:
    """The scorecard as a MyST markdown table, with a line saying how it was made."""
    lines = ["| claim | source | verdict at our scale | tested at | where |", "|---|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['source']} | **{r['verdict']}** | {r['scale']} | {r['link']} |" for r in rows]
    lines += ["", "Generated by `python tools/scorecard.py` from the committed results and notebooks: each verdict is "
              "the chapter's declared comparisons judged paired by seed (Holm within each family), once the sweep's "
              "baselines meet the learning bars declared with them, or the check cell that decides the claim. "
              "{ref}`how-to-read-the-numbers` says what the verdicts mean."]
    return "\n".join(lines) + "\n"


#: where the generated table lives (included by book/intro.md and book/results.md)
SCORECARD_PATH = REPO_ROOT / "book" / "_scorecard.md"
README_PATH = REPO_ROOT / "README.md"
README_MARKERS = ("<!-- scorecard: generated by python tools/scorecard.py -->", "<!-- end of scorecard -->")


def readme_markdown(rows: Sequence[dict]) -> str:
    """The scorecard for the README (plain text links: GitHub does not render MyST roles)."""
    lines = ["| chapter | claim | source | verdict at our scale | tested at |", "|---|---|---|---|---|"]
    lines += [f"| {r['chapter']} | {r['claim']} | {r['source']} | **{r['verdict']}** | {r['scale']} |" for r in rows]
    return "\n".join(lines) + "\n"


def with_readme_scorecard(text: str, rows: Sequence[dict]) -> str:
    """``text`` (the README) with the part between :data:`README_MARKERS` replaced by :func:`readme_markdown`."""
    start, end = README_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"README.md has no scorecard markers {start!r} ... {end!r}; add them where the table goes.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{readme_markdown(rows)}{end}{tail}"


def write(path: Path = SCORECARD_PATH, readme: Path = README_PATH) -> Path:
    """Write :func:`markdown` of :func:`scorecard` to ``path`` and its plain version into the README."""
    rows = scorecard()
    path.write_text(markdown(rows))
    readme.write_text(with_readme_scorecard(readme.read_text(), rows))
    return path


__all__ = ["Claim", "CLAIMS", "notebook_fact", "fact_verdict", "pairs_verdict", "scorecard", "markdown",
           "readme_markdown", "with_readme_scorecard", "SCORECARD_PATH", "README_PATH", "write"]
