"""Fixes inside MMF rc10 itself, applied right after ``import mmf``."""
import collections
import collections.abc
import types

from .registry import AFTER_MMF, shim


@shim(
    "logger_collections_mapping",
    AFTER_MMF,
    "mmf/utils/logger.py uses collections.Mapping, removed in Python 3.10",
    detect=lambda: not hasattr(collections, "Mapping"),
)
def give_mmf_logger_collections_mapping():
    import mmf.utils.logger as mmf_logger

    namespace = types.SimpleNamespace(**{k: getattr(collections, k) for k in dir(collections) if not k.startswith("__")})
    namespace.Mapping = collections.abc.Mapping
    mmf_logger.collections = namespace


def _vilbert_rejects_no_pretrained_name():
    import transformers

    return int(transformers.__version__.split(".")[0]) >= 3


@shim(
    "vilbert_random_init",
    AFTER_MMF,
    "ViLBERT calls from_pretrained(None, config=...) for random init; transformers >= 3 rejects a None name",
    detect=_vilbert_rejects_no_pretrained_name,
)
def let_vilbert_build_from_config():
    from mmf.models import vilbert

    original = vilbert.ViLBERTBase.from_pretrained.__func__

    def from_pretrained(cls, name, *args, config=None, **kwargs):
        if name is None:
            model = cls(config)
            model.init_weights()
            return model
        return original(cls, name, *args, config=config, **kwargs)

    vilbert.ViLBERTBase.from_pretrained = classmethod(from_pretrained)


@shim(
    "builder_update_registry_for_model",
    AFTER_MMF,
    "rc10's BaseDatasetBuilder lacks update_registry_for_model, which its trainer calls on every builder",
    detect=lambda: not hasattr(__import__("mmf.datasets.base_dataset_builder", fromlist=["x"]).BaseDatasetBuilder, "update_registry_for_model"),
)
def add_noop_update_registry_for_model():
    from mmf.datasets.base_dataset_builder import BaseDatasetBuilder

    BaseDatasetBuilder.update_registry_for_model = lambda self, config: None


class _OfflineAwareAutoTokenizer:
    """Stands in for AutoTokenizer inside MMF's bert processors only."""

    @staticmethod
    def from_pretrained(name, *args, **kwargs):
        from mmf_domainstudy.text.pretrained import load_bert_tokenizer

        return load_bert_tokenizer(name, *args, **kwargs)


@shim(
    "offline_bert_tokenizer",
    AFTER_MMF,
    "MMF's bert processors fetch 'bert-base-uncased' from the hub; the identical vocab ships offline",
    detect=lambda: True,
)
def use_offline_aware_tokenizer():
    from mmf.datasets.processors import bert_processors

    bert_processors.AutoTokenizer = _OfflineAwareAutoTokenizer


def _fail_fast_from_pretrained(cls_owner, config_key):
    original = cls_owner.from_pretrained.__func__

    def from_pretrained(cls, name, *args, **kwargs):
        from mmf_domainstudy.text.pretrained import check_pretrained_source

        check_pretrained_source(name, "bert_model_name", config_key)
        return original(cls, name, *args, **kwargs)

    cls_owner.from_pretrained = classmethod(from_pretrained)


@shim(
    "fail_fast_bert_weights",
    AFTER_MMF,
    "an unreachable hub makes transformers retry for minutes; fail at once naming bert_model_name",
    detect=lambda: True,
)
def fail_fast_on_unreachable_weights():
    from mmf.models import vilbert, visual_bert

    _fail_fast_from_pretrained(visual_bert.VisualBERTBase, "model_config.visual_bert.bert_model_name")
    _fail_fast_from_pretrained(visual_bert.BertForPreTraining, "model_config.visual_bert.bert_model_name")
    _fail_fast_from_pretrained(vilbert.ViLBERTBase, "model_config.vilbert.bert_model_name")


def _rank_needs_nccl():
    import torch.distributed as dist

    return dist.is_available() and not dist.is_nccl_available()


@shim(
    "distributed_without_nccl",
    AFTER_MMF,
    "mmf/utils/distributed.py reads rank 0 / world size 1 whenever NCCL is missing, breaking gloo (CPU) runs",
    detect=_rank_needs_nccl,
)
def read_rank_from_any_backend():
    import sys

    import torch.distributed as dist
    from mmf.utils import distributed

    def initialized():
        return dist.is_available() and dist.is_initialized()

    def get_rank():
        return dist.get_rank() if initialized() else 0

    def get_world_size():
        return dist.get_world_size() if initialized() else 1

    def synchronize():
        if initialized() and dist.get_world_size() > 1:
            dist.barrier()

    replacements = {
        id(distributed.get_rank): get_rank,
        id(distributed.get_world_size): get_world_size,
        id(distributed.synchronize): synchronize,
    }
    for module in [m for name, m in list(sys.modules.items()) if name == "mmf" or name.startswith("mmf.")]:
        for attr, value in list(vars(module).items()):
            if id(value) in replacements:
                setattr(module, attr, replacements[id(value)])


def _lmdb_refuses_second_open():
    import lmdb

    return int(lmdb.__version__.split(".")[0]) >= 1


@shim(
    "shared_lmdb_readers",
    AFTER_MMF,
    "py-lmdb >= 1.0 refuses to open one store twice per process, as MMF does for train/val/test; "
    "MMF's LMDB reader now shares one handle and unpickles with the restricted unpickler",
    detect=_lmdb_refuses_second_open,
)
def share_lmdb_handles_in_mmf_reader():
    import os

    from mmf.datasets.databases.readers import feature_readers

    from mmf_domainstudy.formats.lmdb_store import open_lmdb_readonly, read_keys
    from mmf_domainstudy.formats.safe_pickle import safe_loads

    def _init_db(self):
        with open_lmdb_readonly(self.db_path).begin(write=False, buffers=True) as txn:
            self.image_ids = read_keys(txn, self.db_path)
        self.image_id_indices = {image_id: index for index, image_id in enumerate(self.image_ids)}
        self.env = True  # rc10 tests `self.env is None`; the handle itself is looked up per read

    def _load(self, image_file_path):
        if self.env is None:
            self._init_db()
        split = os.path.relpath(image_file_path, self.db_path).split(".npy")[0]
        try:
            image_id = str(int(split.split("_")[-1])).encode()
            index = self.image_id_indices[image_id]
        except (ValueError, KeyError):
            image_id = str(split).encode()
            index = self.image_id_indices[image_id]
        key = self.image_ids[index]
        # per read: a cached lookup that reopens in a forked DataLoader worker, as LMDB requires
        with open_lmdb_readonly(self.db_path).begin(write=False, buffers=True) as txn:
            return safe_loads(txn.get(key), source=f"feature store {self.db_path} key {key!r}")

    feature_readers.LMDBFeatureReader._init_db = _init_db
    feature_readers.LMDBFeatureReader._load = _load


def _pad_rows(array, rows):
    import numpy as np

    array = np.asarray(array, dtype=np.float32)
    padded = np.zeros((rows,) + array.shape[1:], dtype=np.float32)
    padded[: min(rows, len(array))] = array[:rows]
    return padded


@shim(
    "pad_region_info",
    AFTER_MMF,
    "rc10 pads region features to max_features but not their bbox/cls_prob, so a batch of images "
    "with different box counts (adaptive detectors, VizWiz) cannot be stacked by ViLBERT",
    detect=lambda: True,
)
def pad_region_info_like_features():
    from mmf.datasets.databases.readers import feature_readers

    original_read = feature_readers.PaddedFasterRCNNFeatureReader.read

    def read(self, image_feat_path):
        image_feature, image_info = original_read(self, image_feat_path)
        if image_info is not None:
            for key in ("bbox", "cls_prob"):
                if image_info.get(key) is not None:
                    image_info[key] = _pad_rows(image_info[key], self.max_loc)
            # more boxes than slots: only max_loc of them were kept
            image_info["max_features"] = image_info["max_features"].clamp(max=self.max_loc)
        return image_feature, image_info

    feature_readers.PaddedFasterRCNNFeatureReader.read = read


@shim(
    "text_pair_truncation",
    AFTER_MMF,
    "rc10's masked_token processor truncates a text pair to max_seq_length - 2 but adds 3 special "
    "tokens, so a long question + answer (or caption pair) fails its length assert",
    detect=lambda: True,
)
def truncate_pairs_for_three_special_tokens():
    from mmf.datasets.processors.bert_processors import MaskedTokenProcessor

    original = MaskedTokenProcessor._truncate_seq_pair

    def _truncate_seq_pair(self, tokens_a, tokens_b, max_length):
        return original(self, tokens_a, tokens_b, max_length - 1 if tokens_b else max_length)

    MaskedTokenProcessor._truncate_seq_pair = _truncate_seq_pair
