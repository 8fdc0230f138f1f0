"""The study's report, built from stored results only, so it can be rebuilt at any time.

Writes into the study's output_dir: ``report.md`` (paper-style tables, plots,
analysis sections), ``results.csv`` (one row per finetuning run),
``summary.csv`` (one row per table cell) and ``plots/*.png``.
"""
import dataclasses
import time

from mmf_domainstudy.study.report import plots, recommendation, sections
from mmf_domainstudy.study.report.results import (Result, best_gains, cell_key, collect_results, gain, summarize,
                                           table_rows)
from mmf_domainstudy.study.run.spec import format_fraction
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.tables import csv_text


@dataclasses.dataclass(frozen=True)
class Report:
    path: object
    main_table: str


def format_cell(cell, delta, seeds):
    if cell is None:
        return "—"
    text = f"{cell.mean:.4f}" if cell.std is None else f"{cell.mean:.4f} ± {cell.std:.4f}"
    if cell.n < seeds:
        text += f" [{cell.n}/{seeds} seeds]"
    return text if delta is None else f"{text} ({delta:+.4f})"


def markdown_table(spec, cells, model, fraction):
    """Rows: pretraining source and fraction; columns: task x mode; cells: mean ± std (difference to baseline)."""
    columns = [(task, mode) for task in spec.finetune.tasks for mode in spec.finetune.modes]
    lines = [
        "| source | pretraining fraction | " + " | ".join(f"{task} {mode}" for task, mode in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for source, pretrain_fraction in table_rows(spec):
        cells_text = [
            format_cell(cells.get(cell_key(model, source, pretrain_fraction, task, mode, fraction)),
                        gain(spec, cells, model, source, pretrain_fraction, task, mode, fraction), len(spec.finetune.seeds))
            for task, mode in columns
        ]
        shown_fraction = "—" if pretrain_fraction is None else format_fraction(pretrain_fraction)
        lines.append(f"| {source} | {shown_fraction} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines)


def main_tables(spec, cells):
    """One table per model, on the full downstream training data: what the paper's tables show."""
    fraction = max(spec.finetune.fractions)
    return "\n\n".join(
        f"{model} (downstream fraction {format_fraction(fraction)}):\n\n{markdown_table(spec, cells, model, fraction)}"
        for model in spec.models
    )


def results_csv(results):
    header = [field.name for field in dataclasses.fields(Result)]
    return csv_text(header, [[_blank(getattr(r, name)) for name in header] for r in results])


def summary_csv(spec, cells):
    header = ["model", "source", "pretrain_fraction", "task", "mode", "fraction", "metric", "mean", "std", "n",
              "gain_over_baseline"]
    rows = []
    for (model, source, pretrain_fraction, task, mode, fraction), cell in sorted(cells.items(), key=str):
        delta = gain(spec, cells, model, source, pretrain_fraction, task, mode, fraction)
        rows.append([model, source, _blank(pretrain_fraction), task, mode, fraction, spec.finetune.tasks[task].metric,
                     cell.mean, _blank(cell.std), cell.n, _blank(delta)])
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
    analysis_sections += recommendation.recommendation_section(spec, out, results)
    table = main_tables(spec, cells)
    text = _report_markdown(spec, results, problems, cells, figures, analysis_sections)
    path = out / "report.md"
    atomic_write_text(path, text)
    return Report(path, table)


def _report_markdown(spec, results, problems, cells, figures, sections):
    counts = {status: sum(r.status == status for r in results) for status in sorted({r.status for r in results})}
    baseline = spec.baseline
    lines = [
        f"# Study {spec.name}",
        "",
        f"Built {time.strftime('%Y-%m-%d %H:%M')} from the run folders in `{spec.output_dir}` "
        f"(spec `{spec.path}`). Finetuning runs: {len(results)} "
        f"({', '.join(f'{n} {s}' for s, n in counts.items())}).",
        "",
        f"Cells: {spec.report.split} metric, mean ± sample std over seeds {list(spec.finetune.seeds)}; "
        "[k/n seeds] when some are missing; "
        + (f"(±x): difference to `{baseline.name}` (no pretraining)." if baseline else "no baseline source."),
        "Metrics: " + ", ".join(f"{task.name} = `{task.metric}`" for task in spec.finetune.tasks.values()) + ".",
        "",
    ]
    for model in spec.models:
        for fraction in sorted(spec.finetune.fractions, reverse=True):
            lines += [f"## {model}, downstream training fraction {format_fraction(fraction)}", "",
                      markdown_table(spec, cells, model, fraction), ""]
    if figures:
        lines += ["## Plots", ""]
        for title, relative in figures:
            lines += [f"### {title}", "", f"![{title}]({relative})", ""]
    lines += sections
    if problems:
        lines += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines)
