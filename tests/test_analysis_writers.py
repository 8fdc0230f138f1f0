"""Writers: every number lands in CSV and JSON with its definition; heatmaps are PNGs."""
import csv
import json
import math

import numpy as np
import pytest

from mmf_domainstudy.analysis.measures import MEASURE_DEFINITIONS, record
from mmf_domainstudy.analysis.writers import (
    layer_head_matrices,
    write_heatmaps,
    write_records_csv,
    write_records_json,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sample_records():
    rows = []
    for layer in range(2):
        for head in range(3):
            rows.append(record("attn_l1", "layer", "probs", layer, head, layer + head / 10, 40))
        rows.append(record("cka_linear", "layer", "hidden", layer, None, 1.0 - layer / 10, 90))
    rows.append(record("param_angle_deg", "c_layer", "query1", 0, None, math.nan, 16))
    return rows


def test_csv_has_one_row_per_number_with_its_definition(tmp_path):
    rows = sample_records()
    write_records_csv(tmp_path / "drift.csv", rows)
    with open(tmp_path / "drift.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(rows)
    assert read[0]["measure"] == "attn_l1" and read[0]["head"] == "0" and float(read[1]["value"]) == pytest.approx(0.1)
    assert read[3]["head"] == "" and read[3]["definition"] == MEASURE_DEFINITIONS["cka_linear"]


def test_json_keeps_meta_definitions_and_writes_nan_as_null(tmp_path):
    rows = sample_records()
    write_records_json(tmp_path / "drift.json", rows, {"name_a": "pre", "name_b": "fine", "samples": 5})
    document = json.loads((tmp_path / "drift.json").read_text())
    assert document["meta"]["samples"] == 5
    assert set(document["definitions"]) == {"attn_l1", "cka_linear", "param_angle_deg"}
    assert document["records"][-1]["value"] is None
    assert document["records"][0] == rows[0]


def test_unknown_measure_is_refused_before_writing(tmp_path):
    with pytest.raises(KeyError, match="MEASURE_DEFINITIONS"):
        write_records_csv(tmp_path / "x.csv", [record("made_up", "layer", "probs", 0, 0, 1.0, 1)])
    assert not (tmp_path / "x.csv").exists()


def test_layer_head_matrices_pivot_per_head_and_whole_layer_records():
    rows = sample_records()
    attention = layer_head_matrices(rows, "attn_l1", "layer")["probs"]
    assert np.allclose(attention, [[0.0, 0.1, 0.2], [1.0, 1.1, 1.2]])
    cka = layer_head_matrices(rows, "cka_linear", "layer")["hidden"]
    assert np.allclose(cka, [[1.0], [0.9]])


def test_heatmaps_one_png_per_measure_and_stream(tmp_path):
    paths = write_heatmaps(sample_records(), str(tmp_path), "coco/best.ckpt", "vqa2/best.ckpt", "vqa2 val")
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "attn_l1__layer.png", "cka_linear__layer.png", "param_angle_deg__c_layer.png",
    ]
    for path in paths:
        with open(path, "rb") as handle:
            assert handle.read(8) == PNG_MAGIC
