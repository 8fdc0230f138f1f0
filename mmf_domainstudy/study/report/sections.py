"""Report sections built from other analyses' files, included whenever those files exist.

What the report reads under the study's output_dir:

- ``analysis/drift/**/*.png``: embedded as they are (attention drift heatmaps).
- ``analysis/drift/**/*.csv``: linked.
- ``analysis/drift/summary.csv``: one row per finetuned model, columns ``model, source, task, mode`` and one
  numeric column per drift measure; joined with the transfer gain for a drift-vs-gain plot and Spearman's rho.
- ``analysis/similarity.csv``: one row per (source, task), columns ``source, task`` and one numeric column per
  similarity measure; Spearman's rho between each measure and the gain, per model and mode.
- ``analysis/probe/summary.csv``: one row per pretrained base and task, columns ``model, source,
  pretrain_fraction, pretrain_seed, task`` and the probe's accuracies; shown beside the frozen cell.

The gain is the finetuned metric minus the baseline's, at the source's largest
pretraining fraction and the full downstream data.
"""
import csv
import logging

from matplotlib.figure import Figure

from mmf_domainstudy.analysis.statistics import spearman_correlation
from mmf_domainstudy.study.report.plots import save_figure
from mmf_domainstudy.study.report.results import cell_key
from mmf_domainstudy.utils.errors import BadInput
from mmf_domainstudy.utils.tables import markdown_table

logger = logging.getLogger(__name__)

MAX_IMAGES = 24
DRIFT_KEYS = ("model", "source", "task", "mode")
SIMILARITY_KEYS = ("source", "task")
PROBE_KEYS = ("model", "source", "pretrain_fraction", "pretrain_seed", "task")


class AnalysisFileError(BadInput, ValueError):
    """An analysis result file the report cannot use."""


def read_csv_rows(path, keys):
    """Rows of a csv that has the key columns and at least one numeric measure; return (rows, measures)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    missing = [key for key in keys if key not in columns]
    if missing:
        raise AnalysisFileError(f"{path}: missing column(s) {', '.join(missing)}; it needs {', '.join(keys)} "
                                "and one numeric column per measure")
    measures = [c for c in columns if c not in keys and rows and all(_is_number(row[c]) for row in rows)]
    if not measures:
        raise AnalysisFileError(f"{path}: no numeric measure column besides {', '.join(keys)}")
    return rows, measures


def _is_number(text):
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def paired_with_gain(rows, measure, gains, model=None, mode=None):
    """(measure, gain) for each row and each gain its key columns match, optionally one model/mode only."""
    pairs = []
    for (g_model, g_source, g_task, g_mode), value in sorted(gains.items()):
        if (model and g_model != model) or (mode and g_mode != mode):
            continue
        for row in rows:
            if (row["source"], row["task"]) == (g_source, g_task) and row.get("model", g_model) == g_model \
                    and row.get("mode", g_mode) == g_mode:
                pairs.append((float(row[measure]), value))
    return pairs


def correlation_cells(pairs):
    """Spearman's rho, p and pairs as table cells; 'n/a' with the reason when undefined."""
    try:
        result = spearman_correlation([x for x, _ in pairs], [y for _, y in pairs])
    except ValueError as error:
        return [f"n/a ({error})", "", str(len(pairs))]
    return [f"{result['spearman_rho']:+.3f}", f"{result['p_value']:.3g}", str(result["pairs"])]


def drift_section(spec, out, gains):
    folder = out / "analysis" / "drift"
    if not folder.is_dir():
        listed = "drift" in spec.analyses
        return _missing("Attention drift", "analysis/drift/ (summary.csv and heatmaps)") if listed else []
    lines = ["## Attention drift", ""]
    images = sorted(folder.rglob("*.png"))
    for image in images[:MAX_IMAGES]:
        relative = image.relative_to(out).as_posix()
        lines += [f"![{relative}]({relative})", ""]
    if len(images) > MAX_IMAGES:
        lines += [f"{len(images) - MAX_IMAGES} more heatmaps in `analysis/drift/`.", ""]
    tables = sorted(folder.rglob("*.csv"))
    if tables:
        lines += ["Data: " + ", ".join(f"[{t.relative_to(out).as_posix()}]({t.relative_to(out).as_posix()})"
                                       for t in tables), ""]
    summary = folder / "summary.csv"
    if summary.exists():
        lines += _drift_vs_gain(summary, out, gains)
    return lines


def _drift_vs_gain(summary, out, gains):
    try:
        rows, measures = read_csv_rows(summary, DRIFT_KEYS)
    except AnalysisFileError as error:
        logger.warning("%s", error)
        return ["### Drift vs transfer gain", "", f"Not shown: {error}.", ""]
    table = [[measure] + correlation_cells(paired_with_gain(rows, measure, gains)) for measure in measures]
    figure = Figure(figsize=(4.5 * len(measures), 3.8), layout="constrained")
    for index, measure in enumerate(measures):
        axes = figure.add_subplot(1, len(measures), index + 1)
        pairs = paired_with_gain(rows, measure, gains)
        axes.scatter([x for x, _ in pairs], [y for _, y in pairs])
        axes.axhline(0.0, color="black", linewidth=1)
        axes.set_xlabel(measure)
        axes.set_ylabel("gain over baseline")
    save_figure(figure, out / "plots" / "drift_vs_gain.png")
    return (["### Drift vs transfer gain", ""]
            + markdown_table(["drift measure", "Spearman rho", "p", "pairs"], table)
            + ["", "![drift vs gain](plots/drift_vs_gain.png)", ""])


def similarity_section(spec, out, gains):
    path = out / "analysis" / "similarity.csv"
    if not path.exists():
        return _missing("Domain similarity", "analysis/similarity.csv") if "similarity" in spec.analyses else []
    lines = ["## Domain similarity", ""]
    try:
        rows, measures = read_csv_rows(path, SIMILARITY_KEYS)
    except AnalysisFileError as error:
        logger.warning("%s", error)
        return lines + [f"Not shown: {error}.", ""]
    lines += markdown_table(list(SIMILARITY_KEYS) + measures,
                            [[row[k] for k in SIMILARITY_KEYS + tuple(measures)] for row in rows])
    correlations = [
        [model, mode, measure] + correlation_cells(paired_with_gain(rows, measure, gains, model, mode))
        for model in spec.models for mode in spec.finetune.modes for measure in measures
    ]
    lines += ["", "Spearman correlation between similarity and transfer gain:", ""]
    lines += markdown_table(["model", "mode", "measure", "Spearman rho", "p", "pairs"], correlations)
    return lines + [""]


def probe_section(spec, out, cells):
    """Each base's linear probe beside its frozen cell (mean over all its seeds), so a frozen row can be read."""
    path = out / "analysis" / "probe" / "summary.csv"
    title = "Frozen bases: what a linear probe reads"
    if not path.exists():
        return _missing(title, "analysis/probe/summary.csv") if "probe" in spec.analyses else []
    lines = [f"## {title}", ""]
    try:
        rows, _ = read_csv_rows(path, PROBE_KEYS)
    except AnalysisFileError as error:
        logger.warning("%s", error)
        return lines + [f"Not shown: {error}.", ""]
    fraction = max(spec.finetune.fractions)
    table = []
    for row in rows:
        frozen = cells.get(cell_key(row["model"], row["source"], float(row["pretrain_fraction"]), row["task"],
                                    "frozen", fraction))
        base = f"{row['source']} (p{row['pretrain_fraction']}, s{row['pretrain_seed']})"
        table.append([row["model"], base, row["task"], f"{frozen.mean:.3f}" if frozen else "—",
                      *(f"{float(row[name]):.3f}" for name in ("probe_accuracy", "majority_accuracy")),
                      f"{float(row['top2_variance_share']):.0%}"])
    lines += markdown_table(["model", "base (pretraining fraction, seed)", "task", "frozen head", "linear probe",
                             "majority", "top-2 variance"], table)
    return lines + ["", "A linear probe on the task head's input with the pretrained base's weights (val accuracy; "
                        "`tools/probe_head.py`). A probe near the majority answer: the frozen base's output carries "
                        "no linearly readable answer, and a head recipe is unlikely to help. A probe well above the "
                        "frozen head: the head's training is what fails (top-2 variance: the share of the input's "
                        "variance in two directions; a high share stalls a head on raw features).", ""]


def _missing(title, expected):
    return [f"## {title}", "", f"No results yet: expected `{expected}` in the study's output folder.", ""]
