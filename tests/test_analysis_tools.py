"""The two CLIs end to end, in-process, on small files."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import torch

from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter
from tests.conftest import exit_status

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


attention_drift = load_tool("attention_drift")
domain_similarity = load_tool("domain_similarity")


def vilbert_like_state(seed, hidden=8, v_hidden=6, bi_hidden=4):
    generator = torch.Generator().manual_seed(seed)

    def weight(rows, cols):
        return torch.randn(rows, cols, generator=generator)

    state = {}
    for suffix in ("self.query", "self.key", "self.value", "output.dense"):
        state[f"model.bert.encoder.layer.0.attention.{suffix}.weight"] = weight(hidden, hidden)
        state[f"model.bert.encoder.v_layer.0.attention.{suffix}.weight"] = weight(v_hidden, v_hidden)
    for side, width in (("1", v_hidden), ("2", hidden)):
        for name in ("query", "key", "value"):
            state[f"model.bert.encoder.c_layer.0.biattention.{name}{side}.weight"] = weight(bi_hidden, width)
    state["model.bert.encoder.c_layer.0.biOutput.dense1.weight"] = weight(v_hidden, bi_hidden)
    state["model.bert.encoder.c_layer.0.biOutput.dense2.weight"] = weight(hidden, bi_hidden)
    return state


def save_mmf_checkpoint(path, state):
    config = {
        "model": "vilbert",
        "model_config": {"vilbert": {"num_attention_heads": 2, "v_num_attention_heads": 3, "bi_num_attention_heads": 2}},
    }
    torch.save({"model": state, "config": config, "optimizer": {}, "num_updates": 3}, path)


def test_attention_drift_cli_writes_csv_json_and_heatmaps(tmp_path, capsys):
    state_a = vilbert_like_state(seed=0)
    state_b = {key: value.clone() for key, value in state_a.items()}
    state_b["model.bert.encoder.v_layer.0.attention.self.query.weight"][2:4] += 1.0  # v_layer head 1 only
    save_mmf_checkpoint(tmp_path / "a.ckpt", state_a)
    torch.save({"module." + key: value for key, value in state_b.items()}, tmp_path / "b.pth")
    out = tmp_path / "report"
    assert attention_drift.main(["--a", str(tmp_path / "a.ckpt"), "--b", str(tmp_path / "b.pth"), "--out", str(out)]) == 0
    document = json.loads((out / "parameter_drift.json").read_text())
    assert document["meta"]["heads"] == {"layer": 2, "v_layer": 3, "c_layer": 2}
    moved = {
        row["head"]: row["value"] for row in document["records"]
        if row["measure"] == "param_l1" and row["stream"] == "v_layer" and row["role"] == "query"
    }
    assert moved == pytest.approx({None: 1 / 3, 0: 0.0, 1: 1.0, 2: 0.0})
    assert all(row["value"] == 0.0 for row in document["records"] if row["stream"] != "v_layer")
    assert (out / "parameter_drift.csv").read_text().count("\n") == len(document["records"]) + 1
    assert sorted(p.name for p in (out / "heatmaps").iterdir()) == [
        f"{measure}__{stream}.png"
        for measure in ("param_angle_deg", "param_l1")
        for stream in ("c_layer", "layer", "v_layer")
    ]
    assert "wrote" in capsys.readouterr().out


def test_attention_drift_cli_heads_override_and_errors(tmp_path, capsys):
    state = vilbert_like_state(seed=0)
    torch.save(state, tmp_path / "bare.pth")
    # no saved config: MMF's defaults (8 heads) cannot split a 6-wide visual stream
    bare = str(tmp_path / "bare.pth")
    assert exit_status(attention_drift.main, ["--a", bare, "--b", bare, "--out", str(tmp_path / "o")]) == 2
    assert "--heads" in capsys.readouterr().err
    args = ["--a", bare, "--b", bare, "--out", str(tmp_path / "o"),
            "--heads", "layer=2", "--heads", "v_layer=3", "--heads", "c_layer=2", "--no-heatmaps"]
    assert attention_drift.main(args) == 0
    document = json.loads((tmp_path / "o" / "parameter_drift.json").read_text())
    assert document["meta"]["heads"] == {"layer": 2, "v_layer": 3, "c_layer": 2}
    assert not (tmp_path / "o" / "heatmaps").exists()
    with pytest.raises(SystemExit):
        attention_drift.main(["--a", "x", "--b", "y", "--heads", "text=2"])
    with pytest.raises(SystemExit):  # attention maps need a run config to build the data and the model
        attention_drift.main(["--a", bare, "--b", bare, "--dataset", "vqa2"])
    assert f"no config.yaml beside {bare}; pass --config" in capsys.readouterr().err


def test_domain_similarity_text_cli(tmp_path, capsys):
    source, target = tmp_path / "source.txt", tmp_path / "target.txt"
    source.write_text("a dog\nA cat\n")
    target.write_text("a DOG\n")
    assert domain_similarity.main(["text", "--source", str(source), "--target", str(target),
                                   "--out", str(tmp_path / "text.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "text.json").read_text())
    assert printed["measures"]["vocab_jaccard"] == pytest.approx(2 / 3)
    assert printed["measures"]["target_token_coverage"] == 1.0
    assert set(printed["definitions"]) == set(printed["measures"])
    (tmp_path / "empty.txt").write_text("\n")
    assert exit_status(domain_similarity.main, ["text", "--source", str(source), "--target", str(tmp_path / "empty.txt")]) == 2
    assert "empty.txt" in capsys.readouterr().err


def write_store(path, arrays):
    with LMDBFeatureWriter(path) as writer:
        writer.write_batch({
            index: {"features": array, "bbox": np.zeros((len(array), 4)), "image_width": 10, "image_height": 10}
            for index, array in enumerate(arrays)
        })


def test_domain_similarity_visual_cli_reads_lmdb_and_npy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    regions = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(4)]
    write_store(tmp_path / "source.lmdb", regions)
    shift = np.array([1.0, 2.0, 0.0], dtype=np.float32)
    np.save(tmp_path / "target.npy", np.stack(regions) + shift)  # [images, regions, d]
    store, array = str(tmp_path / "source.lmdb"), str(tmp_path / "target.npy")
    assert domain_similarity.main(["visual", "--source", store, "--target", array]) == 0
    measures = json.loads(capsys.readouterr().out)["measures"]
    assert measures["visual_frechet"] == pytest.approx(5.0, abs=1e-4)
    assert measures["source_vectors"] == measures["target_vectors"] == 20
    assert domain_similarity.main(["visual", "--source", store, "--target", store, "--max-images", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["measures"]["source_vectors"] == 10
    assert exit_status(domain_similarity.main, ["visual", "--source", str(tmp_path / "source.txt"), "--target", array]) == 2
    assert "source.txt" in capsys.readouterr().err


def test_domain_similarity_spearman_cli(capsys):
    assert domain_similarity.main(["spearman", "--similarity", "1", "2", "3", "4", "--gains", "20", "10", "40", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["measures"]["spearman_rho"] == pytest.approx(0.6)
    assert exit_status(domain_similarity.main, ["spearman", "--similarity", "1", "2", "--gains", "1", "2"]) == 2
