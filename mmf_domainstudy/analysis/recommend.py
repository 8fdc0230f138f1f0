"""Which pretraining source to use for a task, decided before any training from the data alone,
and how well that choice agrees with the transfer gains a study measured.

The rule (``RULE``) combines the domain-similarity measures by ranks among the candidates,
text and vision weighted equally:

- ranks, not values: the measures live on unrelated scales (a JSD in bits, a Frechet
  distance that grows with the feature width and magnitude), so a sum of values would need
  weights fitted on results; a rank is scale-free and needs nothing fitted;
- text and vision equally: the four text measures are four views of one vocabulary
  comparison and move together; averaging five measure ranks would count the text four
  times and let it outvote the single visual measure, while the study asks about the
  visual and the textual domain as two separate factors.

Numpy and scipy only, so the report can use it without torch.
"""
import dataclasses

import numpy as np
import scipy.stats

from mmf_domainstudy.analysis.statistics import spearman_correlation

# measure -> (family, +1 when a larger value means more similar, -1 when a smaller one does)
MEASURE_ORIENTATION = {
    "text_jsd": ("text", -1),
    "vocab_jaccard": ("text", +1),
    "target_token_coverage": ("text", +1),
    "target_type_coverage": ("text", +1),
    "visual_frechet": ("visual", -1),
}
FAMILIES = ("text", "visual")
RULE = (
    "each measure ranks the candidates (1 = most similar: lowest text_jsd and visual_frechet, highest "
    "vocab_jaccard, target_token_coverage and target_type_coverage; ties share their mean rank); text rank = "
    "mean of the four text measures' ranks, visual rank = visual_frechet's rank; score = mean of the text and "
    "visual ranks (lower is better), so text and vision weigh the same"
)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate source's place in the recommender's ranking."""

    source: str
    measures: dict
    family_ranks: dict  # family -> mean rank of its measures among the candidates
    score: float  # mean of the family ranks; lower is better
    rank: int  # 1 + the number of candidates with a lower score


def _checked_measures(measures_by_source):
    if not measures_by_source:
        raise ValueError("no candidate source to rank; name at least one")
    for source, measures in measures_by_source.items():
        missing = [name for name in MEASURE_ORIENTATION if name not in measures]
        if missing:
            raise ValueError(f"source {source!r} lacks the measure(s) {', '.join(missing)}; the recommender needs "
                             f"{', '.join(MEASURE_ORIENTATION)}")
        bad = [name for name in MEASURE_ORIENTATION if not np.isfinite(float(measures[name]))]
        if bad:
            raise ValueError(f"source {source!r}: measure(s) {', '.join(bad)} are not finite numbers")
    return {source: {name: float(measures[name]) for name in MEASURE_ORIENTATION}
            for source, measures in measures_by_source.items()}


def rank_sources(measures_by_source):
    """The candidates ranked by ``RULE``, best first (ties in candidate order).

    ``measures_by_source``: source -> its measures to the task (similarity.csv's columns).
    """
    measures = _checked_measures(measures_by_source)
    sources = list(measures)
    measure_ranks = {
        name: scipy.stats.rankdata([-orientation * measures[s][name] for s in sources], method="average")
        for name, (_, orientation) in MEASURE_ORIENTATION.items()
    }
    family_ranks = {
        family: np.mean([ranks for name, ranks in measure_ranks.items() if MEASURE_ORIENTATION[name][0] == family],
                        axis=0)
        for family in FAMILIES
    }
    scores = np.mean([family_ranks[family] for family in FAMILIES], axis=0)
    ranks = scipy.stats.rankdata(scores, method="min")
    candidates = [
        Candidate(source, measures[source], {f: float(family_ranks[f][i]) for f in FAMILIES}, float(scores[i]),
                  int(ranks[i]))
        for i, source in enumerate(sources)
    ]
    return sorted(candidates, key=lambda candidate: candidate.rank)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """The recommender's ranking against measured gains (means over seeds)."""

    mean_gains: dict  # source -> mean over the seeds of its gain
    rho: object  # Spearman's rho between the recommended order and the gains (+1: same order); None if undefined
    no_rho_reason: object  # why rho is None, else None
    interval: object  # (low, high): percentile 95 % bootstrap interval over seeds; None with one seed
    defined_resamples: int  # bootstrap resamples whose rho is defined (tied gains leave it undefined)
    resamples: int
    pick_best_share: object  # share of resamples in which the recommender's pick has the largest gain


def _rho(order_scores, gains):
    try:
        return spearman_correlation(order_scores, gains)["spearman_rho"], None
    except ValueError as error:
        return None, str(error)


def rank_agreement(candidates, gains_by_seed, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """Spearman's rho between ``candidates`` (rank_sources' output) and measured gains, with its
    interval across seeds.

    ``gains_by_seed``: source -> {finetuning seed: gain}, the same seeds for every candidate (each
    gain paired with the baseline's run of the same seed). The bootstrap draws the seeds with
    replacement, one draw for all sources, recomputes each source's mean gain and rho, and takes
    the 2.5th and 97.5th percentiles of the rhos (a percentile interval). With one seed there is
    nothing to resample: rho comes without an interval.
    """
    sources = [c.source for c in candidates]
    seeds = sorted(gains_by_seed[sources[0]])
    if any(sorted(gains_by_seed[s]) != seeds for s in sources):
        raise ValueError("every candidate needs a gain at the same finetuning seeds")
    gains = np.array([[gains_by_seed[s][k] for k in seeds] for s in sources])  # [sources, seeds]
    mean_gains = {s: float(g) for s, g in zip(sources, gains.mean(axis=1))}
    order_scores = [-c.score for c in candidates]  # larger = recommended more strongly
    rho, no_rho_reason = _rho(order_scores, list(mean_gains.values()))
    if len(seeds) < 2:
        return Agreement(mean_gains, rho, no_rho_reason, None, 0, 0, None)
    draws = np.random.default_rng(seed).integers(0, len(seeds), size=(resamples, len(seeds)))
    resampled = gains[:, draws].mean(axis=2).T  # [resamples, sources]
    rhos = [value for value in (_rho(order_scores, row)[0] for row in resampled) if value is not None]
    interval = tuple(float(v) for v in np.percentile(rhos, [2.5, 97.5])) if rhos else None
    unique_pick = [c.rank for c in candidates].count(1) == 1  # candidates come best first
    share = float(np.mean(resampled[:, 0] == resampled.max(axis=1))) if unique_pick else None
    return Agreement(mean_gains, rho, no_rho_reason, interval, len(rhos), resamples, share)
