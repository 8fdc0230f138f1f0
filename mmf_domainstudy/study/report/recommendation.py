"""The report's "Recommender" section: the ranking the recommender gives from the data alone, next to
the ranking of the transfer gains the study measured, and how far they agree.

The recommendation comes from ``analysis/similarity.csv`` as the similarity analysis wrote it (nothing
is measured here); the gains from the finetuning runs' stored results, per finetuning seed, each paired
with the baseline's run of the same seed, at the largest pretraining and downstream fractions. Only
seeds every compared source and the baseline have are used, and the section says which are missing.
"""
from mmf_domainstudy.analysis.recommend import BOOTSTRAP_RESAMPLES, RULE, rank_agreement, rank_sources
from mmf_domainstudy.study.report.results import cell_key, summarize
from mmf_domainstudy.study.report.sections import SIMILARITY_KEYS, AnalysisFileError, read_csv_rows
from mmf_domainstudy.study.run.spec import format_fraction
from mmf_domainstudy.utils.tables import markdown_table

TITLE = "## Recommender"


def recommendation_section(spec, out, results):
    """The section's markdown lines; ``results``: collect_results' (one Result per finetuning run)."""
    path = out / "analysis" / "similarity.csv"
    if not path.exists():
        if "similarity" not in spec.analyses:
            return []
        return [TITLE, "", "No recommendation yet: it ranks the sources from `analysis/similarity.csv` (the "
                "similarity analysis), which is not there.", ""]
    lines = [TITLE, "", _method(spec), ""]
    try:
        rows, _ = read_csv_rows(path, SIMILARITY_KEYS)
    except AnalysisFileError as error:
        return lines + [f"Not shown: {error}.", ""]
    for task in spec.finetune.tasks:
        lines += _task_lines(spec, task, rows, results)
    return lines


def _method(spec):
    return (
        f"Before any training, `domainstudy-recommend-source` ranks each task's candidate sources from "
        f"`analysis/similarity.csv`: {RULE}. Measured: a source's gain is the mean over finetuning seeds of its "
        f"{spec.report.split} metric minus `{spec.baseline.name if spec.baseline else 'the baseline'}`'s at the "
        f"same model, task, mode and seed (pretraining fraction {format_fraction(max(spec.pretrain.fractions))}, "
        f"downstream fraction {format_fraction(max(spec.finetune.fractions))}). rho: Spearman's rho between the "
        "recommended order and the gains (+1: the same order). 95 % interval: percentile bootstrap over the "
        f"finetuning seeds ({BOOTSTRAP_RESAMPLES} draws of the seeds with replacement, one draw for every source "
        "and the baseline, each recomputing the mean gains and rho)."
    )


def _task_lines(spec, task, rows, results):
    lines = [f"### {task}: recommended vs measured", ""]
    sources = [s.name for s in spec.pretrain.sources.values() if not s.is_baseline]
    measures = {row["source"]: row for row in rows if row["task"] == task and row["source"] in sources}
    if not measures:
        return lines + ["No row of `analysis/similarity.csv` is for this task's candidate sources.", ""]
    try:
        ranking = rank_sources({source: measures[source] for source in sources if source in measures})
    except ValueError as error:
        return lines + [f"Not shown: `analysis/similarity.csv`: {error}.", ""]
    if spec.baseline is None:
        return lines + _ranking_table(ranking, {}) + ["", "No measured ranking: the spec has no baseline source "
                                                      "(null settings) to measure gains against.", ""]
    compared = {(model, mode): _compare(spec, results, model, task, mode, ranking)
                for model in spec.models for mode in spec.finetune.modes}
    lines += _ranking_table(ranking, {key: c["agreement"] for key, c in compared.items()})
    lines += [""] + markdown_table(["model", "mode", "Spearman rho", "95 % interval", "seeds"],
                                   [[model, mode, *_agreement_cells(c)] for (model, mode), c in compared.items()])
    lines += [""] + [f"- {model}, {mode}: {c['verdict']}" for (model, mode), c in compared.items()]
    return lines + [""]


def _ranking_table(ranking, agreements):
    """The recommender's columns, then per (model, mode) each source's mean gain and its rank among the gains."""
    header = ["source", "recommended", "score", "text rank", "visual rank"]
    header += [f"{model} {mode}: gain (rank)" for model, mode in agreements]
    rows = []
    for candidate in ranking:
        row = [candidate.source, candidate.rank, f"{candidate.score:.2f}", f"{candidate.family_ranks['text']:.2f}",
               f"{candidate.family_ranks['visual']:.2f}"]
        for agreement in agreements.values():
            gains = agreement.mean_gains if agreement else {}
            row.append(f"{gains[candidate.source]:+.4f} ({_measured_rank(gains, candidate.source)})"
                       if candidate.source in gains else "—")
        rows.append(row)
    return markdown_table(header, rows)


def _measured_rank(gains, source):
    return 1 + sum(value > gains[source] for value in gains.values())


def seed_gains(spec, results, model, task, mode):
    """source -> {finetuning seed: gain over the baseline's run of that seed}, at the full fractions.

    A source's value at a seed is the mean over its pretraining seeds, only where every one of them
    has a result (``Cell.seed_means``); a seed the baseline lacks gives no gain.
    """
    pretrain_fraction, fraction = max(spec.pretrain.fractions), max(spec.finetune.fractions)
    cells = summarize(results)
    reference = cells.get(cell_key(model, spec.baseline.name, None, task, mode, fraction))
    baseline = reference.seed_means() if reference else {}
    gains = {}
    for source in spec.pretrain.sources.values():
        cell = cells.get(cell_key(model, source.name, pretrain_fraction, task, mode, fraction))
        if cell is not None and not source.is_baseline:
            gains[source.name] = {seed: value - baseline[seed] for seed, value in cell.seed_means().items()
                                  if seed in baseline}
    return gains


def _compare(spec, results, model, task, mode, ranking):
    """The recommender against one (model, mode)'s gains, over the seeds every compared source has."""
    gains = seed_gains(spec, results, model, task, mode)
    compared = [c.source for c in ranking if gains.get(c.source)]
    seeds = sorted(set.intersection(*(set(gains[s]) for s in compared))) if compared else []
    notes = _gaps(spec, ranking, compared, gains, seeds)
    if len(compared) < 2 or not seeds:
        return {"agreement": None, "seeds": seeds, "verdict": "no comparison: fewer than two sources have gains at "
                                                              "a common seed" + _in_brackets(notes) + "."}
    subset = rank_sources({c.source: c.measures for c in ranking if c.source in compared})
    agreement = rank_agreement(subset, {source: {seed: gains[source][seed] for seed in seeds} for source in compared})
    return {"agreement": agreement, "seeds": seeds, "verdict": _verdict(subset, agreement) + _in_brackets(notes) + "."}


def _gaps(spec, ranking, compared, gains, seeds):
    """What the comparison leaves out: sources without any gain, seeds some compared source lacks."""
    notes = []
    absent = [c.source for c in ranking if c.source not in compared]
    if absent:
        notes.append(f"no result yet for {', '.join(absent)}")
    short = [f"seed {seed} for {', '.join(s for s in compared if seed not in gains[s])}"
             for seed in spec.finetune.seeds if seed not in seeds and any(seed in gains[s] for s in compared)]
    if short:
        notes.append(f"missing: {'; '.join(short)}")
    return notes


def _in_brackets(notes):
    return "".join(f" ({note})" for note in notes)


def _agreement_cells(compared):
    agreement, seeds = compared["agreement"], compared["seeds"]
    seed_cell = f"{len(seeds)} ({', '.join(map(str, seeds))})" if seeds else "none"
    if agreement is None:
        return ["n/a", "n/a", seed_cell]
    if agreement.rho is None:
        return [f"n/a ({agreement.no_rho_reason})", "n/a", seed_cell]
    if agreement.interval is None:
        interval = "none: one seed" if len(seeds) == 1 else "n/a: no draw has a defined rho"
    else:
        interval = "[{:+.3f}, {:+.3f}]".format(*agreement.interval)
        if agreement.defined_resamples < agreement.resamples:
            interval += f" ({agreement.defined_resamples} of {agreement.resamples} draws defined)"
    return [f"{agreement.rho:+.3f}", interval, seed_cell]


def _verdict(ranking, agreement):
    gains = agreement.mean_gains
    best = max(gains.values())
    best_sources = " and ".join(s for s in gains if gains[s] == best)
    top = [c.source for c in ranking if c.rank == 1]
    if len(top) > 1:
        return (f"the recommender ties {' and '.join(top)} for first, so it would not have picked one source; "
                f"the largest gain is {best_sources}'s ({best:+.4f})")
    pick = top[0]
    if gains[pick] == best:
        share = ("" if agreement.pick_best_share is None
                 else f"; {pick} has the largest gain in {agreement.pick_best_share:.0%} of the seed draws")
        return f"the recommender would have picked the best source, {pick} (gain {best:+.4f}){share}"
    return (f"the recommender would not have picked the best source: it ranks {pick} first (gain {gains[pick]:+.4f}, "
            f"measured rank {_measured_rank(gains, pick)} of {len(gains)}); the largest gain is {best_sources}'s "
            f"({best:+.4f})")
