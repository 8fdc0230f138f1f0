"""The report's figures: metric per source, metric vs pretraining fraction, gain vs downstream fraction.

Metric error bars: the sample std over seeds; gain error bars: the gain's 95 % interval.
"""
import io

from matplotlib.figure import Figure

from mmf_domainstudy.study.report.results import cell_key, delta, table_rows
from mmf_domainstudy.study.run.spec import format_fraction
from mmf_domainstudy.utils.atomic import atomic_write_bytes

LINESTYLES = ("-", "--", ":", "-.")


def save_figure(figure, path):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())


def row_label(source, pretrain_fraction):
    return source if pretrain_fraction is None else f"{source} @{format_fraction(pretrain_fraction)}"


def bar_chart(spec, cells, task):
    """Each source (and fraction) as a group of bars, one per model and mode, on full downstream data."""
    fraction = max(spec.finetune.fractions)
    rows = table_rows(spec)
    series = [(model, mode) for model in spec.models for mode in spec.finetune.modes]
    width = 0.8 / len(series)
    figure = Figure(figsize=(max(6.0, 0.6 * len(rows) * max(1, len(series) / 2)), 4.2), layout="constrained")
    axes = figure.add_subplot()
    for index, (model, mode) in enumerate(series):
        found = [cells.get(cell_key(model, source, pf, task, mode, fraction)) for source, pf in rows]
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(rows))]
        axes.bar(positions, [c.mean if c else 0.0 for c in found], width,
                 yerr=[(c.std or 0.0) if c else 0.0 for c in found], capsize=2, label=f"{model} {mode}")
    axes.set_xticks(range(len(rows)), [row_label(*row) for row in rows], rotation=40, ha="right")
    axes.set_ylabel(spec.finetune.tasks[task].metric)
    axes.set_title(f"{task}: downstream fraction {format_fraction(fraction)}")
    axes.legend(fontsize="small")
    return figure


def fraction_plot(spec, cells, task):
    """Metric against the fraction of the pretraining data used; the baseline as a flat line."""
    fraction = max(spec.finetune.fractions)
    baseline = spec.baseline
    figure = Figure(figsize=(5.0 * len(spec.models), 4.0), layout="constrained")
    for model_index, model in enumerate(spec.models):
        axes = figure.add_subplot(1, len(spec.models), model_index + 1)
        for mode_index, mode in enumerate(spec.finetune.modes):
            style = LINESTYLES[mode_index % len(LINESTYLES)]
            for source_index, source in enumerate(s for s in spec.pretrain.sources.values() if not s.is_baseline):
                points = [(pf, cells.get(cell_key(model, source.name, pf, task, mode, fraction)))
                          for pf in spec.pretrain.fractions]
                points = [(pf, c) for pf, c in points if c is not None]
                if points:
                    axes.errorbar([pf for pf, _ in points], [c.mean for _, c in points],
                                  yerr=[c.std or 0.0 for _, c in points], linestyle=style, marker="o", capsize=2,
                                  color=f"C{source_index}", label=f"{source.name} {mode}")
            reference = baseline and cells.get(cell_key(model, baseline.name, None, task, mode, fraction))
            if reference:
                axes.axhline(reference.mean, color="black", linestyle=style, linewidth=1,
                             label=f"{baseline.name} {mode}")
        axes.set_xticks(spec.pretrain.fractions)
        axes.set_xlabel("pretraining fraction")
        axes.set_ylabel(spec.finetune.tasks[task].metric)
        axes.set_title(f"{model}: {task}")
        axes.legend(fontsize="x-small")
    return figure


def gain_plot(spec, cells, task):
    """Gain over the baseline against the fraction of downstream training data (low-resource question).

    Error bars: the gain's 95 % interval (paired by seed, as in the tables); none where it has one seed.
    """
    pretrain_fraction = max(spec.pretrain.fractions)
    fractions = list(spec.finetune.all_fractions)
    figure = Figure(figsize=(5.0 * len(spec.models), 4.0), layout="constrained")
    for model_index, model in enumerate(spec.models):
        axes = figure.add_subplot(1, len(spec.models), model_index + 1)
        for mode_index, mode in enumerate(spec.finetune.modes):
            for source_index, source in enumerate(s for s in spec.pretrain.sources.values() if not s.is_baseline):
                points = [(f, delta(spec, cells, model, source.name, pretrain_fraction, task, mode, f))
                          for f in fractions]
                points = [(f, d) for f, d in points if d is not None]
                if points:
                    errors = [[0.0 if d.low is None else d.estimate - d.low for _, d in points],
                              [0.0 if d.high is None else d.high - d.estimate for _, d in points]]
                    axes.errorbar([f for f, _ in points], [d.estimate for _, d in points], yerr=errors, marker="o",
                                  capsize=2, linestyle=LINESTYLES[mode_index % len(LINESTYLES)],
                                  color=f"C{source_index}", label=f"{source.name} {mode}")
        axes.axhline(0.0, color="black", linewidth=1)
        axes.set_xticks(fractions)
        axes.set_xlabel("downstream training fraction")
        axes.set_ylabel(f"gain in {spec.finetune.tasks[task].metric} over {spec.baseline.name} (95 % interval)")
        axes.set_title(f"{model}: {task} (pretraining fraction {format_fraction(pretrain_fraction)})")
        axes.legend(fontsize="x-small")
    return figure


def write_plots(spec, cells, plots_dir):
    """Write each figure whose data exists; return (title, path relative to the report) pairs."""
    written = []
    for task in spec.finetune.tasks:
        if not any(key[3] == task for key in cells):
            continue
        figures = [(f"{task}: metric per pretraining source", f"bars_{task}.png", bar_chart)]
        if len(spec.pretrain.fractions) > 1:
            figures.append((f"{task}: metric vs pretraining fraction", f"fraction_{task}.png", fraction_plot))
        if len(spec.finetune.all_fractions) > 1 and spec.baseline is not None:
            figures.append((f"{task}: gain from pretraining vs downstream training fraction",
                            f"gain_vs_downstream_fraction_{task}.png", gain_plot))
        for title, name, draw in figures:
            save_figure(draw(spec, cells, task), plots_dir / name)
            written.append((title, f"{plots_dir.name}/{name}"))
    return written
