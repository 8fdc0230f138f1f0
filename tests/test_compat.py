"""Each compatibility shim: the failure it prevents on this stack, and MMF's values it keeps."""
import math
import os
import subprocess
import sys
import time

import pytest
import torch

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf_domainstudy import compat
from mmf_domainstudy.compat.hf_adamw import HFAdamW
from tests.conftest import REPO


def run_without_plugin(code):
    """Python with MMF exactly as installed: no import hook, no plugin on the path."""
    env = dict(os.environ, MMF_DOMAINSTUDY_NO_HOOK="1", PYTHONPATH="")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")


def test_every_shim_documents_its_reason():
    reasons = compat.describe_shims()
    assert len(reasons) >= 10
    assert all(isinstance(text, str) and len(text) > 20 for text in reasons.values())
    assert set(compat.applied_shims()) <= set(reasons)


def test_stock_mmf_does_not_import_on_this_stack():
    result = run_without_plugin("import mmf")
    assert result.returncode != 0


def test_mmf_imports_with_the_plugin_and_the_hook_registers_components():
    code = "import mmf; from mmf.common.registry import registry; print(registry.get_trainer_class('domain_study').__name__)"
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("DomainStudyTrainer")


def test_torchvision_shim_matches_what_a_plain_import_does():
    from mmf_domainstudy.compat.torchvision_ops import TORCHVISION_OP_SCHEMAS

    plain = run_without_plugin("import torchvision")
    needed = "torchvision_cpu_ops" in compat.applied_shims()
    assert needed == (plain.returncode != 0)
    if needed:
        assert "does not exist" in plain.stderr
    import torchvision  # noqa: F401  (imports now)

    for name in TORCHVISION_OP_SCHEMAS:
        assert hasattr(torch.ops.torchvision, name)


def test_transformers_2x_module_paths_resolve_to_their_new_homes():
    assert run_without_plugin("import transformers.modeling_bert").returncode != 0
    import transformers.modeling_bert as old
    from transformers.models.bert import modeling_bert as new

    assert old is new
    assert new.BertLayerNorm is torch.nn.LayerNorm


def test_demjson_alias_parses_mmf_config_overrides():
    assert run_without_plugin("import demjson").returncode != 0
    import demjson

    assert demjson.decode("{training: {batch_size: 8}}") == {"training": {"batch_size": 8}}


def test_torchtext_stub_explains_itself():
    from mmf.utils import vocab

    with pytest.raises(RuntimeError, match="torchtext"):
        vocab.PretrainedVocab("glove.6B.300d", data_dir="/nonexistent")


def test_cuda_calls_stay_on_cpu_only_without_cuda():
    applied = "cpu_only_cuda_calls" in compat.applied_shims()
    assert applied == (not torch.cuda.is_available())
    if applied:
        assert run_without_plugin("import torch; torch.zeros(1).cuda()").returncode != 0
        tensor = torch.ones(2)
        assert tensor.cuda() is tensor


def test_mmf_logger_handles_mappings_on_python_3_10_plus():
    from mmf.utils import logger

    assert logger.collections.Mapping is __import__("collections").abc.Mapping


def test_shared_lmdb_handles_let_mmf_open_a_store_per_split(fixture_data_dir):
    from mmf.datasets.databases.readers.feature_readers import LMDBFeatureReader

    store = os.path.join(fixture_data_dir, "datasets", "coco", "defaults", "features", "trainval2014.lmdb")
    first, second = LMDBFeatureReader(10, store), LMDBFeatureReader(10, store)
    first._init_db()
    second._init_db()
    key = first.image_ids[0].decode()
    record = second._load(os.path.join(store, key + ".npy"))
    assert record["features"].ndim == 2


def test_offline_tokenizer_is_bert_base_uncased():
    from mmf.datasets.processors.bert_processors import BertTokenizer
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {"max_seq_length": 8, "tokenizer_config": {"type": "bert-base-uncased", "params": {"do_lower_case": True}}}
    )
    processor = BertTokenizer(config)
    out = processor({"text": "Hello World!"})
    # bert-base-uncased ids: [CLS]=101 hello=7592 world=2088 !=999 [SEP]=102
    assert out["input_ids"][:5].tolist() == [101, 7592, 2088, 999, 102]
    assert processor.get_vocab_size() == 30522


def test_unreachable_hub_name_fails_fast_naming_the_key(monkeypatch):
    from mmf_domainstudy.text.pretrained import PretrainedSourceError, check_pretrained_source

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(PretrainedSourceError, match="model_config.visual_bert.bert_model_name"):
        check_pretrained_source("someone/not-a-local-model", "bert_model_name", "model_config.visual_bert.bert_model_name")
    assert time.perf_counter() - started < 5


def test_vilbert_builds_from_config_without_pretrained_name():
    from mmf.common.registry import registry
    from omegaconf import OmegaConf

    from mmf_domainstudy.configs import BUNDLED_MMF_CONFIGS

    config = OmegaConf.load(os.path.join(BUNDLED_MMF_CONFIGS, "models", "vilbert", "defaults.yaml")).model_config.vilbert
    tiny = OmegaConf.load(os.path.join(REPO, "projects", "domain_study", "configs", "tiny.yaml")).model_config.vilbert
    config = OmegaConf.merge(config, tiny, {"model": "vilbert"})
    model = registry.get_model_class("vilbert")(config)
    model.build()
    assert sum(p.numel() for p in model.parameters()) > 0


def test_bundled_configs_give_mmf_its_defaults():
    from mmf.utils.configuration import Configuration

    import argparse

    config = Configuration(argparse.Namespace(opts=["model=visual_bert", "dataset=vqa2"], config_override=None)).get_config()
    assert config.training.trainer == "domain_study"
    assert config.model_config.visual_bert.hidden_size == 768
    assert config.dataset_config.vqa2.processors.answer_processor.type == "vqa_answer"


def hf_adamw_reference(param, grads, lr, betas, eps, weight_decay):
    """transformers 2.x AdamW, written out scalar by scalar."""
    m = v = 0.0
    for step, g in enumerate(grads, start=1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        step_size = lr * math.sqrt(1 - betas[1] ** step) / (1 - betas[0] ** step)
        param = param - step_size * m / (math.sqrt(v) + eps)
        param = param - lr * weight_decay * param
    return param


@pytest.mark.parametrize("foreach", [False, True])
def test_mmf_adam_w_keeps_transformers_2x_numbers(foreach):
    import transformers.optimization

    assert transformers.optimization.AdamW is HFAdamW
    grads = [0.5, -0.25, 1e-7]
    settings = dict(lr=0.1, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    param = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    optimizer = HFAdamW([param], foreach=foreach, **settings)
    for g in grads:
        param.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
    expected = hf_adamw_reference(2.0, grads, **settings)
    assert param.item() == pytest.approx(expected, rel=1e-12)

    torch_param = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    torch_optimizer = torch.optim.AdamW([torch_param], **settings)
    for g in grads:
        torch_param.grad = torch.tensor([g], dtype=torch.float64)
        torch_optimizer.step()
    assert abs(torch_param.item() - expected) > 1e-6  # why the shim exists


def test_mmf_vqa_accuracy_value_is_pinned():
    from mmf.common.sample import SampleList
    from mmf.modules.metrics import VQAAccuracy

    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    targets = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.3, 0.6]])
    sample = SampleList({"targets": targets})
    value = VQAAccuracy().calculate(sample, {"scores": scores})
    # MMF masks answer 0 (<unk>) before the argmax: sample 2 picks among answers 1 and 2, tied at 0.1;
    # torch 1.5 took the last (answer 2, 0.6), as MMF's metrics still do (compat/metrics.py).
    assert value.item() == pytest.approx((1.0 + 0.6) / 2)


def test_mmf_micro_f1_on_an_empty_prediction_is_zero():
    from mmf.common.sample import SampleList
    from mmf.modules.metrics import MultiLabelMicroF1

    sample = SampleList({"targets": torch.tensor([[1, 0], [0, 1]])})
    value = MultiLabelMicroF1().calculate(sample, {"scores": torch.tensor([[-5.0, -5.0], [-5.0, -5.0]])})
    assert float(value) == 0.0


def test_long_text_pairs_fit_max_seq_length():
    from mmf.datasets.processors.bert_processors import MaskedTokenProcessor
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {"max_seq_length": 8, "mask_probability": 0.15, "tokenizer_config": {"type": "bert-base-uncased", "params": {"do_lower_case": True}}}
    )
    processor = MaskedTokenProcessor(config)
    out = processor({"text_a": "what color is the big shape", "text_b": "red and blue", "is_correct": -1})
    assert out["input_ids"].shape == (8,)
    assert out["tokens"][0] == "[CLS]" and out["tokens"].count("[SEP]") == 2


def test_region_info_is_padded_and_capped_to_max_features(tmp_path):
    import numpy as np
    from mmf.datasets.databases.readers.feature_readers import LMDBFeatureReader

    from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter

    store = str(tmp_path / "f.lmdb")
    with LMDBFeatureWriter(store) as writer:
        writer.write_batch({
            1: {"features": np.ones((3, 4), np.float32), "bbox": np.ones((3, 4), np.float32), "image_width": 10, "image_height": 10},
            2: {"features": np.ones((7, 4), np.float32), "bbox": np.ones((7, 4), np.float32), "image_width": 10, "image_height": 10},
        })
    reader = LMDBFeatureReader(5, store)
    _, few = reader.read(os.path.join(store, "x_1.npy"))
    _, many = reader.read(os.path.join(store, "x_2.npy"))
    assert few["bbox"].shape == (5, 4) and int(few["max_features"]) == 3
    assert many["bbox"].shape == (5, 4) and int(many["max_features"]) == 5
