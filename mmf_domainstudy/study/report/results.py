"""Stored results of a study's finetuning runs, aggregated over seeds.

Everything here reads run folders only, so tables and plots can be rebuilt at
any time, including while a study is running.
"""
import dataclasses
import statistics

from mmf_domainstudy.analysis.statistics import seed_contrast_interval
from mmf_domainstudy.study.run.rundir import BLOCKED, DONE, FAILED, read_done, read_failed, split_metric, stored_status


@dataclasses.dataclass(frozen=True)
class Result:
    """One finetuning run's stored outcome."""

    run: str
    model: str
    source: str
    pretrain_fraction: object  # float, or None for the baseline
    pretrain_seed: object  # int, or None for the baseline
    task: str
    mode: str
    fraction: float
    seed: int
    status: str
    metric: str
    value: object  # float, or None without a result
    run_dir: str


@dataclasses.dataclass(frozen=True)
class Cell:
    """Seeds of one grid point, aggregated over the runs that have a result (never over a failed one)."""

    mean: float
    std: object  # sample std, None for a single seed
    n: int
    values: dict  # (pretrain_seed, seed) -> value, the runs with a result
    missing: tuple  # (pretrain_seed, seed) of the grid point's runs without a result, sorted

    def seed_means(self):
        """Finetuning seed -> mean over its pretraining seeds, for the seeds whose every run has a result."""
        by_seed = {}
        for pretrain_seed, seed in self.values:
            by_seed.setdefault(seed, []).append(self.values[(pretrain_seed, seed)])
        incomplete = {seed for _, seed in self.missing}
        return {seed: statistics.fmean(v) for seed, v in sorted(by_seed.items()) if seed not in incomplete}

    def missing_text(self):
        """The missing runs as 's3' (finetuning seed 3), or 'p2-s3' where the cell has several pretraining seeds."""
        several = len({p for p, _ in self.values} | {p for p, _ in self.missing}) > 1
        return ", ".join(f"p{p}-s{s}" if several else f"s{s}" for p, s in self.missing)


def cell_key(model, source, pretrain_fraction, task, mode, fraction):
    return (model, source, pretrain_fraction, task, mode, fraction)


def collect_results(spec, runs):
    """Every finetuning run's result, and notes on results that cannot be read."""
    statuses, results, problems = {}, [], []
    for run in runs:
        status = statuses[run.name] = stored_status(run, statuses)
        if run.kind != "finetune":
            continue
        metric = spec.finetune.tasks[run.axes["task"]].metric
        value = None
        if status == DONE:
            metrics = read_done(run.run_dir)["metrics"]
            value = split_metric(metrics, spec.report.split, metric)
            if value is None:
                names = ", ".join(sorted(metrics.get(spec.report.split, {}))) or "none"
                problems.append(f"{run.name}: '{metric}' is not in its {spec.report.split} metrics "
                                f"(has: {names}); fix finetune.tasks.{run.axes['task']}.metric")
        elif status == FAILED:
            problems.append(f"{run.name} failed: {read_failed(run.run_dir)['reason']}")
        elif status == BLOCKED:
            problems.append(f"{run.name} is blocked: {run.depends_on.name} failed")
        axes = run.axes
        results.append(Result(run.name, axes["model"], axes["source"], axes["pretrain_fraction"], axes["pretrain_seed"],
                              axes["task"], axes["mode"], axes["fraction"], axes["seed"], status, metric, value,
                              str(run.run_dir)))
    return results, problems


def summarize(results):
    """Mean and sample std over seeds for each grid point that has results; its runs without one named."""
    groups = {}
    for r in results:
        key = cell_key(r.model, r.source, r.pretrain_fraction, r.task, r.mode, r.fraction)
        groups.setdefault(key, []).append(r)
    cells = {}
    for key, runs in groups.items():
        values = {(r.pretrain_seed, r.seed): r.value for r in runs if r.value is not None}
        if values:
            numbers = list(values.values())
            missing = tuple(sorted((r.pretrain_seed, r.seed) for r in runs if r.value is None))
            cells[key] = Cell(statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None,
                              len(numbers), values, missing)
    return cells


def contrast(cells, terms):
    """A linear combination of cells, paired by finetuning seed where they share seeds (see
    ``seed_contrast_interval``); None while a cell has no result. ``terms``: (coefficient, cell key) pairs."""
    found = [(coefficient, cells.get(key)) for coefficient, key in terms]
    if any(cell is None for _, cell in found):
        return None
    means = [(coefficient, cell.seed_means()) for coefficient, cell in found]
    if any(not values for _, values in means):
        return None
    return seed_contrast_interval(means)


def delta(spec, cells, model, source, pretrain_fraction, task, mode, fraction):
    """The cell minus the baseline's at the same model, task, mode and downstream fraction, with its interval."""
    baseline = spec.baseline
    if baseline is None or source == baseline.name:
        return None
    return contrast(cells, [(1, cell_key(model, source, pretrain_fraction, task, mode, fraction)),
                            (-1, cell_key(model, baseline.name, None, task, mode, fraction))])


def table_rows(spec):
    """(source, pretraining fraction) rows in spec order, the baseline first."""
    baseline = spec.baseline
    rows = [(baseline.name, None)] if baseline else []
    for source in spec.pretrain.sources.values():
        if not source.is_baseline:
            rows.extend((source.name, fraction) for fraction in spec.pretrain.fractions)
    return rows


def gain(spec, cells, model, source, pretrain_fraction, task, mode, fraction):
    """The delta's estimate: mean over shared seeds of the difference to the baseline's run of the same seed."""
    difference = delta(spec, cells, model, source, pretrain_fraction, task, mode, fraction)
    return None if difference is None else difference.estimate


def best_gains(spec, cells):
    """(model, source, task, mode) -> gain at the source's largest fraction, on the full downstream data."""
    pretrain_fraction, fraction = max(spec.pretrain.fractions), max(spec.finetune.fractions)
    gains = {}
    for model in spec.models:
        for source in spec.pretrain.sources.values():
            for task in spec.finetune.tasks:
                for mode in spec.finetune.modes:
                    value = gain(spec, cells, model, source.name, pretrain_fraction, task, mode, fraction)
                    if value is not None:
                        gains[(model, source.name, task, mode)] = value
    return gains
