"""A sweep: arms x seeds, one run per (arm, seed), each committed as its own result file the moment it finishes,
read back, tabulated and judged in one place.

A chapter declares its sweep once, beside the function that runs one (arm, seed):

    SWEEP = Sweep(
        chapter="dctdiff",                                   # results/dctdiff/<preset>/<arm>-seed<k>.json
        arms={"pixel": "pixel U-ViT", "ebfr": "DCTdiff as released"},       # name -> label, in the book's order
        metrics=(Metric("fid", "gFID", final("fid")), Metric("kid", "KID", final("kid"), scale=1e3)),
        families=load_families("smlib/experiments/dctdiff/declared.toml"),  # committed before the runs
        run_one=run_arm)                                     # run_arm(arm, seed, cfg, ctx) -> result dict

and everything else is the engine's:

    SWEEP.run(cfg, ctx, arms=None, seeds=None)   # the missing runs; a committed one of the same recipe is skipped
    book = SWEEP.load("small")                   # every committed run, and the planned ones that are missing
    SWEEP.show(book)                             # the notebook's one call: per-arm table, verdicts, sensitivity

**What a run is.** ``run(arm, seed, cfg, ctx)`` returns a JSON-able dict with ``completed`` (trained and scored),
``config_steps`` (the step count it was asked for) and its scores. The engine adds ``arm``, ``seed``, the run
identity under ``config`` (:meth:`smlib.config.PresetConfig.run_identity`, resolved once here) and
the :func:`smlib.provenance.provenance` of the process, makes every path repo-relative, and writes it atomically
as ``results/<chapter>/<preset>/<arm>-seed<k>.json``. A committed file that holds another recipe is refused in one
line: a sweep never reports a run of another configuration under this one's name. Seeds run in the outer loop, so
a sweep cut short still covers every arm at its first seeds.

**How it is judged.** A seed fixes what the arms of a sweep share (initial weights, batch order, evaluation noise,
the training subset), so the declared comparisons are judged paired by seed (:func:`smlib.stats.judge`, paired t,
Holm within each family), with the exact sign-flip p beside it and the pooled unpaired test as a labelled
sensitivity check; :mod:`smlib.stats` says why. When several runs share an (arm, seed), say two diffusion seeds of
one autoencoder, they are averaged first: the seed is the unit of replication.
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smlib import stats
from smlib.learning_bar import LearningBar, bar_lines, bars_met, check_bars
from smlib.provenance import provenance
from smlib.results import (RunContext, html_table, mean_pm_std, read_result, read_shards, relative_paths, shard_path,
                           write_result)
from smlib.stats import Comparison
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.verdicts import (check_table, family_summary, open_effect_lines, per_seed_differences, pooled_agreement,
                            seed_lines, verdict_lines, verdict_table)


def final(key: str) -> Callable[[Mapping], float | None]:
    """A metric read from a run's final scores: ``run["final"][key]`` (None where the run has none)."""
    return lambda run: (run.get("final") or {}).get(key)


def curve_mean(key: str) -> Callable[[Mapping], float | None]:
    """A metric read from a run's curve: the mean of ``run["curve"][key]`` over its evaluations, the area under the
    learning curve per evaluation (how fast an arm learns, not only where it ends); None without a curve."""
    def get(run: Mapping) -> float | None:
        points = (run.get("curve") or {}).get(key) or []
        return float(np.mean([v for _, v in points])) if points else None
    return get


@dataclass(frozen=True)
class Metric:
    """A score of every run: ``key`` names it, ``get(run)`` reads it, ``scale`` and ``fmt`` format it."""

    key: str
    label: str
    get: Callable[[Mapping], float | None]
    lower_is_better: bool = True
    fmt: str = ".1f"
    scale: float = 1.0


@dataclass(frozen=True)
class Family:
    """Declared comparisons on one metric, judged together (Holm). ``declared`` says when and where they were written
    down, ``commit`` names that commit; ``primary`` False marks a secondary family."""

    title: str
    metric: str
    comparisons: tuple[Comparison, ...]
    declared: str = ""
    primary: bool = True
    commit: str = ""             # the commit in which the pairs first stood (tests check it precedes the runs)
    seen: tuple[str, ...] = ()   # arms whose runs had already been read when the family was declared


def load_families(path: str | Path, sweep: str | None = None) -> tuple[Family, ...]:
    """The declared families of a chapter, from its ``declared.toml`` (committed before the runs it judges: git
    shows when). Each ``[[family]]`` has ``title``, ``metric``, ``declared`` (in words), ``commit`` (where the pairs
    first stood), optional ``primary`` (default true), ``seen`` (arms whose runs had been read before the family was
    declared) and ``sweep`` (a second sweep of the same chapter, such as a toy), and ``comparisons``: rows of ``[better, worse, source, note]``. Only the families of ``sweep`` (None: those
    without one) are returned."""
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("family", [])
    return tuple(Family(e["title"], e["metric"], tuple(Comparison(*row) for row in e["comparisons"]),
                        e.get("declared", ""), e.get("primary", True), e.get("commit", ""),
                        tuple(e.get("seen", ())))
                 for e in entries if e.get("sweep") == sweep)


@dataclass(frozen=True)
class Loaded:
    """The committed runs of one preset: ``runs`` (completed, by arm in the book's order, then seed) and ``missing``
    (planned ``<arm>-seed<k>`` without a run)."""

    preset: str
    runs: list[dict]
    missing: list[str]


@dataclass(frozen=True)
class Sweep:
    """A chapter's sweep: its arms (name -> label, in the book's order), metrics, declared families and run function.
    ``seed_key`` / ``arm_key`` name the fields of a run that hold its unit of replication and its arm."""

    chapter: str
    arms: Mapping[str, str]
    metrics: tuple[Metric, ...]
    families: tuple[Family, ...] = ()
    run_one: Callable[..., dict] | None = None
    seed_key: str = "seed"
    arm_key: str = "arm"
    identity: Callable[[Any, str, int], Mapping] | None = None
    steps_of: Callable[[Any], int] = lambda cfg: cfg.steps
    #: identity entries added after runs were committed: arm -> the entries those runs were made under, filled in
    #: where a committed run's identity lacks them (so a run is refused exactly when its recipe really differs)
    legacy: Callable[[str], Mapping] | None = None
    #: what the baseline must reach before the families are judged (:mod:`smlib.learning_bar`), declared with them
    bars: tuple[LearningBar, ...] = ()

    # ------------------------------------------------------------------------------------------- running
    def check_arms(self, arms: Sequence[str] | None, cfg=None) -> list[str]:
        """``arms`` as a list ("all" or None: the config's own list, ``cfg.arms`` or ``cfg.variants``, else every
        arm); an unknown name is one line listing the known ones."""
        planned = getattr(cfg, "arms", None) or getattr(cfg, "variants", None) or ()
        planned = [a for a in planned if a in self.arms] or list(self.arms)    # a second sweep (a toy) has its own
        names = planned if arms in (None, "all", ["all"], ("all",)) else list(arms)
        unknown = [a for a in names if a not in self.arms]
        if unknown:
            raise ValueError(f"unknown arm(s) {', '.join(unknown)} for {self.chapter}; choose from "
                             f"{', '.join(self.arms)} or 'all'.")
        return names

    def run_identity(self, cfg, arm: str, seed: int) -> dict:
        """The recipe a run of (arm, seed) is made under: ``cfg.run_identity()`` unless the sweep says otherwise."""
        return canonical_config(self.identity(cfg, arm, seed) if self.identity else cfg.run_identity())

    def path(self, preset: str, arm: str, seed: int, results_dir=None):
        """``results/<chapter>/<preset>/<arm>-seed<k>.json``."""
        return shard_path(self.chapter, preset, f"{arm}-seed{int(seed)}", results_dir)

    def committed(self, cfg, arm: str, seed: int, results_dir=None) -> dict | None:
        """The finished run a committed file holds for (arm, seed) under ``cfg``'s recipe and step count, or None;
        a file of another recipe is refused in one line."""
        path = self.path(cfg.preset, arm, seed, results_dir)
        done = read_result(path)
        if done is None:
            return None
        stored = dict(done.get("config", {}))
        if self.legacy is not None:
            stored = {**canonical_config(dict(self.legacy(arm))), **stored}
        changed = config_diff(stored, self.run_identity(cfg, arm, seed))
        if changed:
            raise ValueError(f"{path} holds a run of another configuration (differs in: {', '.join(changed)}); "
                             "delete the file to re-run it, or run another preset.")
        return done if done.get("completed") and done.get("config_steps") == self.steps_of(cfg) else None

    def run(self, cfg, ctx: RunContext | None = None, arms=None, seeds=None) -> list[dict]:
        """Every (seed, arm) of the sweep, seed-major: the committed run when there is one, else ``run_one(arm, seed,
        cfg, ctx)``, written as its file at once when it completed (main rank only). Returns every run in order,
        unfinished ones included. Defaults: the config's arms (``cfg.arms`` or ``cfg.variants``), ``cfg.seeds``."""
        ctx = ctx or RunContext()
        arms = self.check_arms(arms, cfg)
        seeds = [int(s) for s in (cfg.seeds if seeds is None else seeds)]
        bad = [s for s in seeds if s < 0]
        if bad:
            raise ValueError(f"seeds must be non-negative integers, got {bad[0]}.")
        out = []
        for s in seeds:
            for a in arms:
                done = self.committed(cfg, a, s, ctx.results_dir)
                if done is None:
                    done = self.run_one(a, s, cfg, ctx)
                    if done.get("completed") and ctx.is_main:
                        done = self.record(done, cfg, a, s)
                        write_result(self.path(cfg.preset, a, s, ctx.results_dir), done)
                out.append(done)
        return out

    def record(self, result: Mapping, cfg, arm: str, seed: int) -> dict:
        """A finished run as its committed file: the run's result with its arm, seed, run identity, step count and
        provenance, every path repo-relative."""
        rec = relative_paths(result)
        rec.update(arm=arm, seed=rec.get("seed", seed), config=self.run_identity(cfg, arm, seed),
                   config_steps=int(self.steps_of(cfg)))
        rec.setdefault("provenance", provenance())
        return rec

    # ------------------------------------------------------------------------------------------- reading
    def load(self, preset: str, results_dir=None, arms=None, seeds=None) -> Loaded:
        """The committed runs of ``preset`` (completed runs of this sweep's arms, in the book's order of arms, then
        seed) and the planned ``<arm>-seed<k>`` (arms x seeds, default every arm and no seeds) that none covers."""
        order = {a: i for i, a in enumerate(self.arms)}
        runs = sorted((r for r in read_shards(self.chapter, preset, results_dir)
                       if r.get("completed") and r.get(self.arm_key) in self.arms),
                      key=lambda r: (order[self.arm_of(r)], self.seed_of(r)))
        have = {(self.arm_of(r), self.seed_of(r)) for r in runs}
        planned = [(a, int(s)) for s in (seeds or ()) for a in self.check_arms(arms)]
        return Loaded(preset, runs, [f"{a}-seed{s}" for a, s in planned if (a, s) not in have])

    def arm_of(self, run: Mapping) -> str:
        return run[self.arm_key]

    def seed_of(self, run: Mapping) -> int:
        return int(run[self.seed_key])

    def metric(self, key: str) -> Metric:
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(f"{self.chapter} has no metric {key!r}; known: {', '.join(m.key for m in self.metrics)}.")

    def values(self, runs: Sequence[Mapping], metric: str | Metric) -> dict[str, dict[int, float]]:
        """{arm: {seed: value}} of a metric, arms in the book's order; runs sharing an (arm, seed) are averaged (the
        seed is the unit), runs without the metric left out."""
        m = self.metric(metric) if isinstance(metric, str) else metric
        acc: dict[str, dict[int, list[float]]] = {}
        for r in runs:
            v = m.get(r)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                acc.setdefault(self.arm_of(r), {}).setdefault(self.seed_of(r), []).append(float(v))
        order = [a for a in self.arms if a in acc] + sorted(a for a in acc if a not in self.arms)
        return {a: {s: float(np.mean(x)) for s, x in sorted(acc[a].items())} for a in order}

    def label(self, arm: str) -> str:
        return self.arms.get(arm, arm)

    def arms_without_runs(self, family: Family, runs: Sequence[Mapping]) -> list[str]:
        """The arms named by ``family``'s pairs that have no run with a value of its metric, in the order they are
        first named (empty when every pair can be judged)."""
        present = self.values(runs, family.metric)
        named = list(dict.fromkeys(a for c in family.comparisons for a in (c.better, c.worse)))
        return [a for a in named if a not in present]

    # ------------------------------------------------------------------------------------------- judging
    def learning_bars(self, runs: Sequence[Mapping]) -> list[dict]:
        """Each declared learning bar checked on the runs (:func:`smlib.learning_bar.check_bars`); a chapter states
        its verdicts only when :func:`smlib.learning_bar.bars_met` holds for these rows."""
        return check_bars(self.bars, self.values, runs)

    def judge(self, runs: Sequence[Mapping], test: str = "paired-t", families=None, alpha: float = 0.05,
              ) -> list[tuple[Family, list[dict]]]:
        """Each declared family (default: all) judged by ``test`` on the runs. A pair with an arm that has no runs
        yet (a partial sweep) has no row, but still counts in the family's Holm correction, as p = 1."""
        out = []
        for fam in families or self.families:
            m = self.metric(fam.metric)
            values = self.values(runs, m)
            present = [c for c in fam.comparisons if c.better in values and c.worse in values]
            size = len(fam.comparisons)
            if test == "pooled-t":        # the pool is every arm that has runs, as the pooled test was defined
                pool = {a: list(v.values()) for a, v in values.items()}
                rows = stats.judge(pool, present, alpha=alpha, lower_is_better=m.lower_is_better, test=test,
                                   family_size=size)
            elif test == "welch":
                rows = stats.judge({a: list(v.values()) for a, v in values.items()}, present, alpha=alpha,
                                   lower_is_better=m.lower_is_better, test=test, family_size=size)
            else:
                rows = stats.judge(values, present, alpha=alpha, lower_is_better=m.lower_is_better, test=test,
                                   family_size=size)
            out.append((fam, rows))
        return out

    def verdicts(self, runs: Sequence[Mapping], alpha: float = 0.05) -> list[tuple[Family, list[dict]]]:
        """The primary judgement (paired t, Holm) with every check beside it in each row: ``p_sign_flip``,
        ``verdict_sign_flip``, ``p_welch``, ``p_holm_pooled`` and ``verdict_pooled`` (the sensitivity line)."""
        primary = self.judge(runs, "paired-t", alpha=alpha)
        checks = {t: self.judge(runs, t, alpha=alpha) for t in ("sign-flip", "welch", "pooled-t")}
        for i, (_, rows) in enumerate(primary):
            for j, row in enumerate(rows):
                sf, w, pool = (checks[t][i][1][j] for t in ("sign-flip", "welch", "pooled-t"))
                row.update(p_sign_flip=sf["p"], verdict_sign_flip=sf["verdict"], p_welch=w["p"],
                           p_holm_welch=w["p_holm"], p_holm_pooled=pool["p_holm"], verdict_pooled=pool["verdict"],
                           mdd_pooled=pool["mdd"])
        return primary

    def plan(self, pilot: Sequence[Mapping], family: Family, n_seeds: int, metric: str | None = None,
             alpha: float = 0.05, power: float = 0.8) -> dict:
        """The power of a planned sweep from a pilot's runs: for each pair of ``family`` that the pilot ran, the
        spread of its per-seed differences on ``metric`` (default the family's), and the root mean square of them;
        with it, the gap that ``n_seeds`` paired seeds detect with probability ``power`` at Holm's first level
        ``alpha / m`` (``mdd``) and the seeds an 8-unit gap would need. {"pairs", "sd", "n_seeds", "mdd", "alpha"}."""
        values = self.values(pilot, metric or family.metric)
        sds = {}
        for c in family.comparisons:
            if c.better in values and c.worse in values:
                _, d = stats.paired_differences(values[c.better], values[c.worse])
                if len(d) > 1:
                    sds[f"{c.better} < {c.worse}"] = float(np.std(d, ddof=1))
        sd = float(np.sqrt(np.mean(np.square(list(sds.values()))))) if sds else float("nan")
        level = alpha / max(len(family.comparisons), 1)
        mdd = stats.minimum_detectable_difference(sd / math.sqrt(n_seeds), n_seeds - 1, level, power)
        return {"pairs": sds, "sd": sd, "n_seeds": int(n_seeds), "alpha": level, "power": power, "mdd": mdd}

    # ------------------------------------------------------------------------------------------- showing
    def table_rows(self, runs: Sequence[Mapping], metrics: Sequence[str] | None = None) -> list[dict]:
        """One display row per arm with runs: label, seeds, and per metric "mean ± sd" over seeds and the per-seed
        values (``<key>_seeds``)."""
        ms = [self.metric(k) for k in metrics] if metrics else list(self.metrics)
        per = {m.key: self.values(runs, m) for m in ms}
        rows = []
        for arm in [a for a in self.arms if any(a in v for v in per.values())]:
            seeds = sorted({s for v in per.values() for s in v.get(arm, {})})
            row = {"arm": self.label(arm), "seeds": ", ".join(map(str, seeds))}
            for m in ms:
                x = list(per[m.key].get(arm, {}).values())
                s = stats.seed_summary(x) if x else None
                row[m.key] = mean_pm_std(s["mean"], s["std"], m.fmt, m.scale) if s else None
                row[f"{m.key}_seeds"] = ", ".join(f"{m.scale * v:{m.fmt}}" for v in x)
            rows.append(row)
        return rows

    def table(self, runs: Sequence[Mapping], metrics: Sequence[str] | None = None, caption: str | None = None,
              per_seed: bool = True):
        """:func:`smlib.results.html_table` of :meth:`table_rows` (metrics as "mean ± sd over seeds")."""
        ms = [self.metric(k) for k in metrics] if metrics else list(self.metrics)
        columns = {"arm": "arm", "seeds": "seeds"}
        for m in ms:
            columns[m.key] = m.label
            if per_seed:
                columns[f"{m.key}_seeds"] = f"{m.label} per seed"
        return html_table(self.table_rows(runs, [m.key for m in ms]), columns,
                          caption=caption or "mean ± sd over seeds")

    def judgement_facts(self, loaded: Loaded, what: str = "the sweep", alpha: float = 0.05) -> list[list[str]]:
        """What a chapter's check cell prints for a sweep, as blocks of lines (one ``book.facts`` call each): first
        how many of the planned runs are committed and each learning bar with its values per seed
        (:func:`smlib.learning_bar.bar_lines`), and while planned runs are missing, that any verdict is interim;
        then, once every bar is met, for each family with a judged pair its heading (primary or secondary, paired t
        over seeds, Holm), each pair's verdict (:func:`verdict_lines`), the largest effect an unresolved pair leaves
        open (:func:`open_effect_lines`) and whether the pooled sensitivity test agrees (:func:`pooled_agreement`)."""
        planned = len(loaded.runs) + len(loaded.missing)
        bars = self.learning_bars(loaded.runs)
        blocks = [[f"{what} ({loaded.preset}): {len(loaded.runs)} of {planned} planned runs committed",
                   *bar_lines(bars)]]
        if not loaded.runs or not bars_met(bars):
            return blocks
        if loaded.missing:
            blocks[0].append(f"interim: {len(loaded.missing)} planned runs are not in yet, so the verdicts below are "
                             "read on the seeds committed so far and may change")
        for fam, rows in self.verdicts(loaded.runs, alpha):
            if rows:
                m = self.metric(fam.metric)
                blocks.append([f"{fam.title} ({'primary' if fam.primary else 'secondary'} family, paired t over "
                               "seeds, Holm):", *verdict_lines(rows, m), *open_effect_lines(rows, m),
                               pooled_agreement(rows, fam.title)])
        return blocks

    def show(self, loaded: Loaded, alpha: float = 0.05) -> list:
        """What a chapter shows for a committed sweep, as objects to ``display`` in order: the per-arm table, then
        for each family with a judged pair its verdicts (paired by seed, Holm) and its checks (sign-flip, Welch,
        pooled); a family none of whose pairs has runs in both arms yet shows nothing. With learning bars, the
        families are judged only once every bar is met (a line says so until then); with no run, one line."""
        if not loaded.runs:
            return [f"{self.chapter}, {loaded.preset} preset: no committed run yet"]
        out = [self.table(loaded.runs, caption=f"{self.chapter}, {loaded.preset} preset: mean ± sd over seeds")]
        if self.bars and not bars_met(self.learning_bars(loaded.runs)):
            return out + ["the declared comparisons are not judged: a learning bar is not met, or not checked yet"]
        verdicts = self.verdicts(loaded.runs, alpha)
        for fam, rows in ((fam, rows) for fam, rows in verdicts if rows):
            out.append(verdict_table(rows, self.metric(fam.metric), f"{fam.title}: declared comparisons, paired by "
                                     f"seed, Holm over the family" + (f" ({fam.declared})" if fam.declared else "")))
            out.append(check_table(rows, f"{fam.title}: the same pairs under the other tests"))
        return out


__all__ = ["Metric", "Family", "load_families", "Loaded", "Sweep", "RunContext", "final", "curve_mean",
           "verdict_table", "check_table", "verdict_lines", "pooled_agreement", "open_effect_lines", "family_summary",
           "per_seed_differences", "seed_lines"]
