"""CSV, JSON and PNG heatmaps of analysis records, each number with its definition."""
import csv
import io
import json
import math
import os
from collections import defaultdict

import numpy as np

from ..utils.atomic import atomic_open, atomic_write_text
from .architecture import MAP_NAMES
from .measures import MEASURE_DEFINITIONS

COLUMNS = ("measure", "stream", "role", "layer", "head", "value", "count", "definition")
COUNT_DEFINITION = (
    "count: elements compared (param_*), valid query rows (attn_*), non-padded positions (cka_linear)"
)


def _definition(measure):
    if measure not in MEASURE_DEFINITIONS:
        raise KeyError(f"measure {measure!r} has no definition; add it to analysis/measures.py MEASURE_DEFINITIONS")
    return MEASURE_DEFINITIONS[measure]


def write_records_csv(path, records):
    """One row per number, with its measure's definition on the row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in records:
        head = "" if row["head"] is None else row["head"]
        writer.writerow({**row, "head": head, "definition": _definition(row["measure"])})
    atomic_write_text(path, buffer.getvalue())


def _json_safe(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def write_records_json(path, records, meta):
    """Records plus run metadata and the definitions of the measures present.

    NaN (e.g. the angle of an all-zero matrix) is written as null: JSON has no NaN.
    """
    measures = sorted({row["measure"] for row in records})
    document = {
        "meta": meta,
        "definitions": {measure: _definition(measure) for measure in measures},
        "count": COUNT_DEFINITION,
        "records": [{key: _json_safe(value) for key, value in row.items()} for row in records],
    }
    atomic_write_text(path, json.dumps(document, indent=1) + "\n")


def layer_head_matrices(records, measure, stream):
    """role -> [layers, heads] array for one measure and stream; records without a head
    (e.g. CKA) form a single column. Missing cells are NaN."""
    cells = defaultdict(dict)
    for row in records:
        if row["measure"] == measure and row["stream"] == stream:
            cells[row["role"]][(row["layer"], row["head"])] = row["value"]
    matrices = {}
    for role, values in cells.items():
        per_head = {key: value for key, value in values.items() if key[1] is not None}
        chosen = per_head or {(layer, 0): value for (layer, _), value in values.items()}
        layers = max(layer for layer, _ in chosen) + 1
        heads = max(head for _, head in chosen) + 1
        matrix = np.full((layers, heads), np.nan)
        for (layer, head), value in chosen.items():
            matrix[layer, head] = value
        matrices[role] = matrix
    return matrices


def _color_range(matrices):
    values = np.concatenate([matrix.ravel() for matrix in matrices.values()])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)


def _index_ticks(count):
    """Integer ticks, at most about 12 of them."""
    return range(0, count, math.ceil(count / 12))


def _draw_heatmap(measure, matrices, title):
    """Panels share one colour scale so projections can be compared at a glance."""
    from matplotlib.figure import Figure

    columns = min(len(matrices), 4)
    rows = math.ceil(len(matrices) / columns)
    figure = Figure(figsize=(3.2 * columns + 1.2, 2.9 * rows + 1.0))
    grid = figure.subplots(rows, columns, squeeze=False)
    vmin, vmax = _color_range(matrices)
    for axes, (role, matrix) in zip(grid.ravel(), matrices.items()):
        image = axes.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest", vmin=vmin, vmax=vmax)
        axes.set_title(role)
        axes.set_ylabel("layer")
        axes.set_yticks(_index_ticks(matrix.shape[0]))
        axes.set_xticks(_index_ticks(matrix.shape[1]) if matrix.shape[1] > 1 else [])
        if matrix.shape[1] > 1:
            axes.set_xlabel("head")
    for axes in grid.ravel()[len(matrices):]:
        axes.set_visible(False)
    figure.suptitle(title)
    figure.subplots_adjust(top=1 - 0.9 / figure.get_figheight(), hspace=0.45, wspace=0.45, right=0.85)
    figure.colorbar(image, ax=grid.ravel().tolist(), label=measure, fraction=0.04)
    return figure


def _save_png(figure, path):
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)


def write_heatmaps(records, out_dir, name_a, name_b, split):
    """One PNG per (measure, stream): layer x head grids, one panel per role. Returns
    the paths written."""
    paths = []
    for measure, stream in sorted({(row["measure"], row["stream"]) for row in records}):
        matrices = layer_head_matrices(records, measure, stream)
        title = f"{measure} | {stream}\n{name_a} vs {name_b} | data: {split}"
        path = os.path.join(out_dir, f"{measure}__{stream}.png")
        _save_png(_draw_heatmap(measure, matrices, title), path)
        paths.append(path)
    return paths


def write_stream_heatmap(records, measure, path, title):
    """One PNG, one layer x head panel per stream of a single-role measure (such as
    attn_l1): a model pair's drift at a glance, on one colour scale."""
    streams = sorted({row["stream"] for row in records if row["measure"] == measure}, key=MAP_NAMES.index)
    if not streams:
        raise ValueError(f"no {measure} records to draw")
    matrices = {}
    for stream in streams:
        by_role = layer_head_matrices(records, measure, stream)
        if len(by_role) != 1:
            raise ValueError(f"{measure} has roles {sorted(by_role)} in stream {stream}; pick one role per panel")
        matrices[stream] = next(iter(by_role.values()))
    _save_png(_draw_heatmap(measure, matrices, title), path)
    return path
