"""The study's report, built from stored results only, so it can be rebuilt at any time.

Writes into the study's output_dir: ``report.md`` (paper-style tables, plots,
analysis sections), ``results.csv`` (one row per finetuning run),
``summary.csv`` (one row per table cell) and ``plots/*.png``.
"""
import dataclasses
import time

from mmf_domainstudy.study.report import findings, plots, recommendation, sections
from mmf_domainstudy.study.report.formatting import (UNCERTAINTY_RULE, WITHIN_NOISE, format_cell, format_count,
                                                     format_interval, format_spread, noise_mark)
from mmf_domainstudy.study.report.plots import row_label
from mmf_domainstudy.study.report.results import (Result, best_gains, cell_key, collect_results, delta, summarize,
                                                  table_rows)
from mmf_domainstudy.study.run.spec import format_fraction
from mmf_domainstudy.utils import tables
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.tables import csv_text


@dataclasses.dataclass(frozen=True)
class Report:
    path: object
    main_table: str


def planned_rows(spec, fraction):
    """Table rows (spec order, the baseline first) with a run at this downstream fraction in some task and mode."""
    return [(source, pretrain_fraction) for source, pretrain_fraction in table_rows(spec)
            if any(fraction in spec.finetune.fractions_of(source, task, mode)
                   for task in spec.finetune.tasks for mode in spec.finetune.modes)]


def markdown_table(spec, cells, model, fraction):
    """Rows: pretraining source and fraction; columns: task x mode; cells: mean ± std (n), Δ to the baseline."""
    columns = [(task, mode) for task in spec.finetune.tasks for mode in spec.finetune.modes]
    lines = [
        "| source | pretraining fraction | " + " | ".join(f"{task} {mode}" for task, mode in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for source, pretrain_fraction in planned_rows(spec, fraction):
        cells_text = [
            format_cell(cells.get(cell_key(model, source, pretrain_fraction, task, mode, fraction)),
                        delta(spec, cells, model, source, pretrain_fraction, task, mode, fraction))
            for task, mode in columns
        ]
        shown_fraction = "—" if pretrain_fraction is None else format_fraction(pretrain_fraction)
        lines.append(f"| {source} | {shown_fraction} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines)


def task_table(spec, cells, model, task, fraction):
    """One model and task, a row per source and mode, the cell's parts in columns: narrow enough for a terminal."""
    several = len(spec.pretrain.fractions) > 1
    baseline = spec.baseline.name if spec.baseline else "the baseline"
    rows = []
    for mode in spec.finetune.modes:
        for source, pretrain_fraction in planned_rows(spec, fraction):
            cell = cells.get(cell_key(model, source, pretrain_fraction, task, mode, fraction))
            difference = delta(spec, cells, model, source, pretrain_fraction, task, mode, fraction)
            label = row_label(source, pretrain_fraction) if several else source
            if cell is None:
                rows.append([label, mode, "—", "", "", ""])
                continue
            shown = [] if difference is None else [f"{difference.estimate:+.4f}",
                                                   f"{format_interval(difference)} {noise_mark(difference)}".rstrip()]
            rows.append([label, mode, format_spread(cell), format_count(cell)] + (shown or ["", ""]))
    header = ["source", "mode", "mean ± std", "n", f"Δ vs {baseline}", "95 % interval"]
    return "\n".join(tables.markdown_table(header, rows))


def main_tables(spec, cells):
    """What the study prints at its end: per model and task, on the full downstream data (the paper's tables)."""
    fraction = max(spec.finetune.fractions)
    blocks = [f"{model} · {task} ({spec.finetune.tasks[task].metric}, {spec.report.split}), downstream fraction "
              f"{format_fraction(fraction)}:\n\n{task_table(spec, cells, model, task, fraction)}"
              for model in spec.models for task in spec.finetune.tasks]
    legend = ("n: runs with a result (missing sK: finetuning seed K has none, never averaged over).\n"
              "Δ: mean per-seed difference to the baseline, Student t 95 % interval (Welch where no seed is shared; "
              f"[n=1]: none).\n{WITHIN_NOISE}: the interval contains 0 (within noise). The rule: report.md.")
    return "\n\n".join(blocks + [legend])


def results_csv(results):
    header = [field.name for field in dataclasses.fields(Result)]
    return csv_text(header, [[_blank(getattr(r, name)) for name in header] for r in results])


def summary_csv(spec, cells):
    header = ["model", "source", "pretrain_fraction", "task", "mode", "fraction", "metric", "mean", "std", "n",
              "missing_seeds", "delta", "delta_low", "delta_high", "delta_method", "within_noise"]
    rows = []
    for (model, source, pretrain_fraction, task, mode, fraction), cell in sorted(cells.items(), key=str):
        difference = delta(spec, cells, model, source, pretrain_fraction, task, mode, fraction)
        interval = [None] * 5 if difference is None else [
            difference.estimate, difference.low, difference.high, difference.method, difference.within_noise]
        rows.append([model, source, _blank(pretrain_fraction), task, mode, fraction, spec.finetune.tasks[task].metric,
                     cell.mean, _blank(cell.std), cell.n, cell.missing_text()] + [_blank(v) for v in interval])
    return csv_text(header, rows)


def _blank(value):
    return "" if value is None else value


def write_report(spec, runs):
    """Write report.md, results.csv, summary.csv and plots from the run folders; return the main table."""
    out = spec.output_dir
    results, problems = collect_results(spec, runs)
    cells = summarize(results)
    atomic_write_text(out / "results.csv", results_csv(results))
    atomic_write_text(out / "summary.csv", summary_csv(spec, cells))
    figures = plots.write_plots(spec, cells, out / "plots")
    gains = best_gains(spec, cells)
    analysis_sections = sections.drift_section(spec, out, gains) + sections.similarity_section(spec, out, gains)
    analysis_sections += sections.probe_section(spec, out, cells)
    analysis_sections += recommendation.recommendation_section(spec, out, results)
    table = main_tables(spec, cells)
    text = _report_markdown(spec, results, problems, cells, findings.findings_section(spec, runs, cells), figures,
                            analysis_sections)
    path = out / "report.md"
    atomic_write_text(path, text)
    return Report(path, table)


def _report_markdown(spec, results, problems, cells, findings_lines, figures, sections):
    counts = {status: sum(r.status == status for r in results) for status in sorted({r.status for r in results})}
    baseline = spec.baseline
    lines = [
        f"# Study {spec.name}",
        "",
        f"Built {time.strftime('%Y-%m-%d %H:%M')} from the run folders in `{spec.output_dir}` "
        f"(spec `{spec.path}`). Finetuning runs: {len(results)} "
        f"({', '.join(f'{n} {s}' for s, n in counts.items())}).",
        "",
        f"Tables: the {spec.report.split} metric over finetuning seeds {list(spec.finetune.seeds)}"
        + (f" and pretraining seeds {list(spec.pretrain.seeds)}" if len(spec.pretrain.seeds) > 1 else "")
        + (f"; Δ against `{baseline.name}` (no pretraining)." if baseline else "; no baseline source, so no Δ."),
        "",
        UNCERTAINTY_RULE,
        "",
        "Metrics: " + ", ".join(f"{task.name} = `{task.metric}`" for task in spec.finetune.tasks.values()) + ".",
        "",
    ]
    for model in spec.models:
        for fraction in sorted(spec.finetune.all_fractions, reverse=True):
            lines += [f"## {model}, downstream training fraction {format_fraction(fraction)}", "",
                      markdown_table(spec, cells, model, fraction), ""]
    lines += findings_lines
    if figures:
        lines += ["## Plots", ""]
        for title, relative in figures:
            lines += [f"### {title}", "", f"![{title}]({relative})", ""]
    lines += sections
    if problems:
        lines += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines)
