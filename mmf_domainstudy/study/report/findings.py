"""The report's "Findings" section: the paper's findings (a)-(f) checked against the study's own results.

Every verdict is computed here from the cells, by a rule printed beside it; nothing is written by hand.
The sources' roles come from the spec (``domain: in|out``, ``generated_from``), their sizes from their
pretraining runs' ``metrics.json`` (``samples.train``), the frozen mode from its ``freeze_base=True``
override. A finding the spec cannot test says what the spec lacks instead of giving a verdict.
"""
import dataclasses
import itertools
import re
from typing import Optional, Tuple

from mmf_domainstudy.analysis.statistics import Interval
from mmf_domainstudy.study.report.formatting import format_difference
from mmf_domainstudy.study.report.results import cell_key, contrast
from mmf_domainstudy.study.run.rundir import read_done
from mmf_domainstudy.study.run.spec import format_fraction
from mmf_domainstudy.utils.tables import markdown_table

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTED = "supported", "not supported", "inconclusive", "not tested"
_FROZEN_OVERRIDE = re.compile(r"freeze_base=true$", re.IGNORECASE)

METHOD = (
    "A comparison is a difference of cells (a linear combination, for gains: each cell minus the baseline's) "
    "with its 95 % interval, formed like Δ in the tables: paired by finetuning seed where the cells share seeds "
    "(Student t over the per-seed values), Welch where they share none. It supports the claim when its interval "
    "lies above 0, contradicts it when the interval lies below 0, and is inconclusive when the interval contains "
    "0, when it rests on one seed (n=1) or when a cell has no result yet. A claim about every comparison is "
    "supported when all of them support it, not supported when one contradicts it, inconclusive otherwise; "
    "a claim that something happens somewhere (\"not always\") is supported when one comparison supports it, "
    "not supported when all of them contradict it, inconclusive otherwise. The intervals are per comparison, "
    "not corrected for how many comparisons a finding makes. Not tested: the spec lacks what the finding needs."
)


@dataclasses.dataclass(frozen=True)
class Evidence:
    label: str  # what is compared, e.g. "captions − textures"
    interval: Optional[Interval]  # None: a cell it needs has no result


@dataclasses.dataclass(frozen=True)
class Comparison:
    where: Tuple[str, ...]  # model, task, mode (what applies)
    evidence: Tuple[Evidence, ...]
    verdict: str
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Finding:
    letter: str
    title: str
    claim: str
    rule: str
    verdict: str
    comparisons: Tuple[Comparison, ...] = ()
    summary: Tuple[str, ...] = ()  # how the verdict follows from the comparisons, or why it is not tested


def direction(interval):
    """A claim 'this difference is above 0' against one interval."""
    if interval is None or interval.low is None:
        return INCONCLUSIVE
    if interval.low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if interval.high < 0 else INCONCLUSIVE


def every(verdicts):
    verdicts = list(verdicts)
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return NOT_SUPPORTED if NOT_SUPPORTED in verdicts else INCONCLUSIVE


def some(verdicts):
    verdicts = list(verdicts)
    if SUPPORTED in verdicts:
        return SUPPORTED
    return NOT_SUPPORTED if verdicts and all(v == NOT_SUPPORTED for v in verdicts) else INCONCLUSIVE


def not_tested(letter, title, claim, lacks):
    return Finding(letter, title, claim, "", NOT_TESTED, summary=(f"Not tested: the spec has {lacks}.",))


class Grid:
    """The cells a finding compares: the largest pretraining fraction, the full downstream fraction."""

    def __init__(self, spec, cells):
        self.spec, self.cells = spec, cells
        self.baseline = spec.baseline.name if spec.baseline else None
        self.sources = [s for s in spec.pretrain.sources.values() if not s.is_baseline]
        self.pretrain_fraction = max(spec.pretrain.fractions)
        self.fraction = max(spec.finetune.fractions)

    def key(self, model, source, task, mode, fraction=None):
        pretrain_fraction = None if source == self.baseline else self.pretrain_fraction
        return cell_key(model, source, pretrain_fraction, task, mode, self.fraction if fraction is None else fraction)

    def mean(self, model, source, task, mode):
        cell = self.cells.get(self.key(model, source, task, mode))
        return None if cell is None else cell.mean

    def difference(self, model, task, mode, plus, minus):
        return contrast(self.cells, [(1, self.key(model, plus, task, mode)), (-1, self.key(model, minus, task, mode))])

    def gain_terms(self, model, source, task, mode, coefficient=1, fraction=None):
        return [(coefficient, self.key(model, source, task, mode, fraction)),
                (-coefficient, self.key(model, self.baseline, task, mode, fraction))]

    def each_cell(self):
        return itertools.product(self.spec.models, self.spec.finetune.tasks, self.spec.finetune.modes)


def single(where, label, interval, note=""):
    return Comparison(where, (Evidence(label, interval),), direction(interval), note)


def counted(comparisons):
    counts = {v: sum(c.verdict == v for c in comparisons) for v in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)}
    support, contradict = counts[SUPPORTED], counts[NOT_SUPPORTED]
    return (f"{len(comparisons)} comparisons: {support} {'supports' if support == 1 else 'support'} the claim, "
            f"{contradict} {'contradicts' if contradict == 1 else 'contradict'} it, "
            f"{counts[INCONCLUSIVE]} inconclusive.",)


def real_in_domain(grid):
    return [s.name for s in grid.sources if s.domain == "in" and s.generated_from is None]


def out_of_domain(grid):
    return [s.name for s in grid.sources if s.domain == "out"]


def domain_roles_missing(grid):
    """What (a) and (b) need from the spec's roles, or None."""
    if not real_in_domain(grid):
        return "no real-caption in-domain source (`domain: in` without `generated_from`)"
    if not out_of_domain(grid):
        return "no out-of-domain source (`domain: out`)"
    return None


def in_domain_beats_out(grid):
    title, claim = ("In-domain beats out-of-domain",
                    "a pretraining source matching the task's visual and textual domain beats an out-of-domain one, "
                    "for both models")
    lacks = domain_roles_missing(grid)
    if lacks:
        return not_tested("a", title, claim, lacks)
    rule = (f"for every model, task and mode: each real-caption in-domain source ({', '.join(real_in_domain(grid))})"
            f" minus each out-of-domain source ({', '.join(out_of_domain(grid))}); a claim about every comparison.")
    comparisons = tuple(single((model, task, mode), f"{i} − {o}", grid.difference(model, task, mode, i, o))
                        for model, task, mode in grid.each_cell()
                        for i in real_in_domain(grid) for o in out_of_domain(grid))
    verdict = every(c.verdict for c in comparisons)
    return Finding("a", title, claim, rule, verdict, comparisons, counted(comparisons))


def source_sizes(spec, runs):
    """source -> train samples its pretraining runs at the largest fraction recorded (the largest if they differ)."""
    sizes = {}
    for run in runs:
        if run.kind != "pretrain" or run.axes["pretrain_fraction"] != max(spec.pretrain.fractions):
            continue
        done = read_done(run.run_dir) or {}
        train = done.get("metrics", {}).get("samples", {}).get("train")
        if isinstance(train, int) and not isinstance(train, bool):
            sizes[run.axes["source"]] = max(train, sizes.get(run.axes["source"], 0))
    return sizes


def domain_beats_size(grid, sizes):
    title, claim = ("Domain beats size",
                    "the largest source is not always the best: a smaller in-domain source beats a larger "
                    "out-of-domain one")
    lacks = domain_roles_missing(grid)
    if lacks:
        return not_tested("b", title, claim, lacks)
    sized_out = [o for o in out_of_domain(grid) if o in sizes]
    if not sized_out:
        return not_tested("b", title, claim, "no out-of-domain source whose pretraining runs recorded their size "
                                              "(`samples.train` in metrics.json)")
    largest = max(sized_out, key=sizes.get)
    smaller = [i for i in real_in_domain(grid) if i in sizes and sizes[i] < sizes[largest]]
    shown = ", ".join(f"{s} {n}" for s, n in sorted(sizes.items(), key=lambda item: -item[1]))
    if not smaller:
        return not_tested("b", title, claim, f"no in-domain source smaller than the largest out-of-domain one, "
                                              f"{largest} (train samples: {shown})")
    rule = (f"train samples (pretraining runs' metrics.json): {shown}. For every model, task and mode: each "
            f"in-domain source smaller than {largest} ({', '.join(smaller)}) minus {largest}, the largest "
            "out-of-domain source; a claim that it happens somewhere. Note: the best source of each cell by mean.")
    comparisons = tuple(
        single((model, task, mode), f"{i} − {largest}", grid.difference(model, task, mode, i, largest),
               note=_best_note(grid, model, task, mode))
        for model, task, mode in grid.each_cell() for i in smaller)
    verdict = some(c.verdict for c in comparisons)
    return Finding("b", title, claim, rule, verdict, comparisons, counted(comparisons))


def _best_note(grid, model, task, mode):
    best = _best_source(grid, model, task, mode)
    return f"best: {best}" if best else "no result"


def _best_source(grid, model, task, mode):
    means = {s.name: grid.mean(model, s.name, task, mode) for s in grid.sources}
    means = {s: m for s, m in means.items() if m is not None}
    return max(means, key=means.get) if means else None


def low_resource(grid):
    title, claim = ("Pretraining helps more with little downstream data",
                    "the gain from pretraining is larger when the downstream task has little training data")
    spec = grid.spec
    if grid.baseline is None:
        return not_tested("c", title, claim, "no baseline source (null settings) to measure gains against")
    if len(spec.finetune.all_fractions) < 2:
        return not_tested("c", title, claim, "one downstream fraction (finetune.fractions, finetune.extra)")
    comparisons = []
    for model, task, mode in grid.each_cell():
        baseline_fractions = set(spec.finetune.fractions_of(grid.baseline, task, mode))
        for source in grid.sources:
            fractions = sorted(baseline_fractions & set(spec.finetune.fractions_of(source.name, task, mode)))
            if len(fractions) < 2:
                continue
            small, full = fractions[0], fractions[-1]
            terms = (grid.gain_terms(model, source.name, task, mode, 1, small)
                     + grid.gain_terms(model, source.name, task, mode, -1, full))
            label = f"{source.name}: gain at {format_fraction(small)} − gain at {format_fraction(full)}"
            comparisons.append(single((model, task, mode), label, contrast(grid.cells, terms)))
    if not comparisons:
        return not_tested("c", title, claim, "no source that runs at two downstream fractions together with the "
                                              "baseline (add them with finetune.extra)")
    rule = ("for every model, task, mode and source that runs at two or more downstream fractions with the baseline:"
            " its gain over the baseline at the smallest fraction minus its gain at the largest (the four cells "
            "combined per seed); a claim about every comparison.")
    verdict = every(c.verdict for c in comparisons)
    return Finding("c", title, claim, rule, verdict, tuple(comparisons), counted(comparisons))


def generated_captions(grid):
    title, claim = ("Generated captions",
                    "generated in-domain captions (CCG) beat the out-of-domain source and come close to the real "
                    "in-domain captions they imitate")
    generated = [s for s in grid.sources if s.generated_from is not None]
    if not generated:
        return not_tested("d", title, claim, "no source of generated captions (`generated_from`)")
    if not out_of_domain(grid):
        return not_tested("d", title, claim, "no out-of-domain source (`domain: out`)")
    if grid.baseline is None:
        return not_tested("d", title, claim, "no baseline source (null settings) to measure gains against")
    base = grid.baseline
    rule = ("for every model, task and mode, each generated source g with its real-caption source r and each "
            f"out-of-domain source o: g − o above 0 (beats), and g − ({base} + r)/2 above 0 (close: g lies above "
            f"the midpoint between {base} and r, i.e. recovers more than half of r's gain over {base}). A comparison "
            "supports the claim when both do, contradicts it when either is below 0; a claim about every comparison.")
    comparisons = []
    for model, task, mode in grid.each_cell():
        for source in generated:
            g, r = source.name, source.generated_from
            midpoint = contrast(grid.cells, [(1, grid.key(model, g, task, mode)),
                                             (-0.5, grid.key(model, r, task, mode)),
                                             (-0.5, grid.key(model, base, task, mode))])
            for o in out_of_domain(grid):
                evidence = (Evidence(f"{g} − {o}", grid.difference(model, task, mode, g, o)),
                            Evidence(f"{g} − ({base} + {r})/2", midpoint))
                comparisons.append(Comparison((model, task, mode), evidence,
                                              every(direction(e.interval) for e in evidence)))
    verdict = every(c.verdict for c in comparisons)
    return Finding("d", title, claim, rule, verdict, tuple(comparisons), counted(comparisons))


def architectures(grid):
    title, claim = ("Which architecture transfers better",
                    "one architecture gains more from pretraining than the other, finetuned and frozen")
    if len(grid.spec.models) < 2:
        return not_tested("e", title, claim, "one model")
    if grid.baseline is None:
        return not_tested("e", title, claim, "no baseline source (null settings) to measure gains against")
    rule = ("for each pair of models A, B and each mode: for every source and task, A's gain over the baseline "
            "minus B's (seeds paired across the models). Per mode, A (or B) transfers better when every comparison "
            "is above (below) 0; not supported when comparisons lie clearly on both sides; otherwise inconclusive. "
            "Supported when every mode names a model.")
    comparisons, parts, summary = [], [], []
    for (a, b), mode in itertools.product(itertools.combinations(grid.spec.models, 2), grid.spec.finetune.modes):
        group = [single((f"{a} vs {b}", task, mode), f"{source.name}: gain {a} − gain {b}",
                        contrast(grid.cells, grid.gain_terms(a, source.name, task, mode)
                                 + grid.gain_terms(b, source.name, task, mode, -1)))
                 for task in grid.spec.finetune.tasks for source in grid.sources]
        comparisons += group
        verdict, text = _one_direction(a, b, [c.verdict for c in group])
        parts.append(verdict)
        summary.append(f"{mode}, {a} vs {b}: {text} ({len(group)} comparisons).")
    return Finding("e", title, claim, rule, every(parts), tuple(comparisons), tuple(summary))


def _one_direction(a, b, verdicts):
    if every(verdicts) == SUPPORTED:
        return SUPPORTED, f"{a} transfers better"
    if verdicts and all(v == NOT_SUPPORTED for v in verdicts):
        return SUPPORTED, f"{b} transfers better"
    if SUPPORTED in verdicts and NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED, f"neither: {a} gains more in some comparisons, {b} in others"
    return INCONCLUSIVE, "inconclusive"


def frozen_modes(spec):
    """(finetuned modes, frozen modes): a frozen mode has a ``freeze_base=True`` override."""
    frozen = [m for m, overrides in spec.finetune.modes.items() if any(_FROZEN_OVERRIDE.search(o) for o in overrides)]
    return [m for m in spec.finetune.modes if m not in frozen], frozen


def best_differs(grid):
    title, claim = ("The best source depends on the mode",
                    "the best source for finetuning is not always the best one for the frozen base")
    finetuned, frozen = frozen_modes(grid.spec)
    if not frozen:
        return not_tested("f", title, claim, "no frozen mode (a mode with a `freeze_base=True` override)")
    if not finetuned:
        return not_tested("f", title, claim, "no finetuned mode (one without `freeze_base=True`)")
    if len(grid.sources) < 2:
        return not_tested("f", title, claim, "fewer than two pretraining sources")
    tuned, fixed = finetuned[0], frozen[0]
    rule = (f"for every model and task: X = the source with the highest mean {tuned}, Y = the highest {fixed}. "
            f"If X ≠ Y: the comparison supports the claim when X − Y ({tuned}) and Y − X ({fixed}) are both "
            f"above 0. If X = Y: it contradicts the claim when X − Z is above 0 for every other source Z in both "
            "modes. Otherwise inconclusive. A claim that it happens somewhere.")
    comparisons = tuple(_best_comparison(grid, model, task, tuned, fixed)
                        for model in grid.spec.models for task in grid.spec.finetune.tasks)
    verdict = some(c.verdict for c in comparisons)
    return Finding("f", title, claim, rule, verdict, comparisons, counted(comparisons))


def _best_comparison(grid, model, task, tuned, fixed):
    where = (model, task, f"{tuned} vs {fixed}")
    x, y = _best_source(grid, model, task, tuned), _best_source(grid, model, task, fixed)
    if x is None or y is None:
        return Comparison(where, (), INCONCLUSIVE, "no result")
    if x != y:
        evidence = (Evidence(f"{tuned}: {x} − {y}", grid.difference(model, task, tuned, x, y)),
                    Evidence(f"{fixed}: {y} − {x}", grid.difference(model, task, fixed, y, x)))
        verdict = every(direction(e.interval) for e in evidence)
        return Comparison(where, evidence, SUPPORTED if verdict == SUPPORTED else INCONCLUSIVE,
                          f"best {tuned}: {x}; best {fixed}: {y}")
    evidence = tuple(Evidence(f"{mode}: {x} − {z.name}", grid.difference(model, task, mode, x, z.name))
                     for mode in (tuned, fixed) for z in grid.sources if z.name != x)
    clearly_best = every(direction(e.interval) for e in evidence) == SUPPORTED
    return Comparison(where, evidence, NOT_SUPPORTED if clearly_best else INCONCLUSIVE, f"best in both: {x}")


def compute_findings(spec, cells, sizes):
    grid = Grid(spec, cells)
    return [in_domain_beats_out(grid), domain_beats_size(grid, sizes), low_resource(grid),
            generated_captions(grid), architectures(grid), best_differs(grid)]


def findings_section(spec, runs, cells):
    """The section's markdown lines."""
    grid = Grid(spec, cells)
    lines = ["## Findings", "",
             f"The paper's findings checked on this study's cells (pretraining fraction "
             f"{format_fraction(grid.pretrain_fraction)}, downstream fraction {format_fraction(grid.fraction)} "
             f"unless a rule says otherwise), each verdict computed by the rule stated with it. {METHOD}", ""]
    for finding in compute_findings(spec, cells, source_sizes(spec, runs)):
        lines += [f"### ({finding.letter}) {finding.title}: **{finding.verdict}**", "", f"Claim: {finding.claim}."]
        if finding.rule:
            lines += ["", f"Rule: {finding.rule}"]
        if finding.comparisons:
            rows = [[*c.where, "; ".join(f"{e.label}: {format_difference(e.interval)}" for e in c.evidence)
                     or "—", c.note or "", c.verdict] for c in finding.comparisons]
            lines += [""] + markdown_table(["model", "task", "mode", "evidence [95 % interval]", "note", "verdict"],
                                           rows)
        lines += [""] + list(finding.summary) + [""]
    return lines
