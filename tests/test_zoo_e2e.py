"""The zoo round trip through real runs, as a user does it.

Pretrain a tiny VisualBERT, export the run, import the artifact into a clean zoo by its
sha256, then finetune with ``checkpoint.resume_zoo=<key>``: the finetuning run must start
from exactly the exported base, with MMF never reaching for the network.
"""
import json
import os

import torch

from mmf_domainstudy.zoo.export import export_run
from mmf_domainstudy.zoo.importer import import_artifact
from mmf_domainstudy.zoo.local_zoo import ZOO_ENV, artifact_path, entry_sha256
from mmf_domainstudy.zoo.materialize import BUILT_MARKER
from tests.conftest import mmf_env, run_mmf
from tests.test_trainer import load_model_state, pretrain_config, vqa2_config

KEY = "visual_bert.domain_study.masked_coco.e2e"


def test_finetune_from_resume_zoo_starts_from_the_exported_base(tmp_path, fixture_data_dir):
    pretrain_save = tmp_path / "pretrain"
    run_mmf(pretrain_config(tmp_path, "visual_bert"), "visual_bert", "masked_coco", pretrain_save, fixture_data_dir)

    export_zoo, clean_zoo = tmp_path / "export_zoo", tmp_path / "clean_zoo"
    _, exported = export_run(str(pretrain_save), key=KEY, zoo=str(export_zoo))
    import_artifact(artifact_path(exported, str(export_zoo)), KEY, sha256=entry_sha256(exported), zoo=str(clean_zoo))

    config = vqa2_config(tmp_path, "visual_bert")
    with open(config.split(",")[-1], "a") as handle:  # rc10 ignores mapping overrides on the command line
        handle.write("checkpoint:\n  pretrained_state_mapping:\n    model.bert: model.bert\n")
    materialized = os.path.join(fixture_data_dir, "models", KEY)
    assert not os.path.exists(materialized)
    finetune_save = tmp_path / "finetune"
    run_mmf(
        config, "visual_bert", "vqa2", finetune_save, fixture_data_dir,
        f"checkpoint.resume_zoo={KEY}",
        "checkpoint.resume_pretrained=True",
        "optimizer.params.lr=0.0",
        "run_type=train_val",
        env=mmf_env(fixture_data_dir, **{ZOO_ENV: clean_zoo}),
    )

    with open(os.path.join(materialized, BUILT_MARKER)) as handle:
        assert json.load(handle)["sha256"] == entry_sha256(exported)
    pretrained = load_model_state(pretrain_save / "visual_bert_final.pth")
    finetuned = load_model_state(finetune_save / "visual_bert_final.pth")
    base_keys = [k for k in pretrained if k.startswith("model.bert.")]
    assert base_keys
    for key in base_keys:
        assert torch.equal(pretrained[key], finetuned[key]), key
    assert any(k.startswith("model.classifier.") for k in finetuned)
