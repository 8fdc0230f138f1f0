"""Module names and symbols that MMF rc10 imports from its 2020 dependencies."""
import collections.abc
import importlib
import importlib.abc
import importlib.util
import sys
import types

from .registry import BEFORE_MMF, shim

# transformers 2.x flat module paths -> their home since transformers 4.0.
TRANSFORMERS_MOVED_MODULES = {
    "transformers.modeling_bert": "transformers.models.bert.modeling_bert",
    "transformers.configuration_bert": "transformers.models.bert.configuration_bert",
    "transformers.tokenization_auto": "transformers.models.auto.tokenization_auto",
    "transformers.modeling_auto": "transformers.models.auto.modeling_auto",
    "transformers.configuration_auto": "transformers.models.auto.configuration_auto",
}


def _module_exists(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class ModuleAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves old module names to new modules lazily, at first import."""

    def __init__(self, aliases):
        self.aliases = dict(aliases)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.aliases:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(self.aliases[fullname]))


def _missing_transformers_modules():
    if not _module_exists("transformers"):
        return {}
    return {old: new for old, new in TRANSFORMERS_MOVED_MODULES.items() if not _module_exists(old)}


@shim(
    "transformers_module_paths",
    BEFORE_MMF,
    "transformers 4.0 moved modeling_bert/configuration_*/tokenization_auto under transformers.models",
    detect=lambda: bool(_missing_transformers_modules()),
)
def alias_transformers_modules():
    sys.meta_path.insert(0, ModuleAliasFinder(_missing_transformers_modules()))


def _bert_layer_norm_missing():
    if not _module_exists("transformers"):
        return False
    from transformers.models.bert import modeling_bert

    return not hasattr(modeling_bert, "BertLayerNorm")


@shim(
    "bert_layer_norm",
    BEFORE_MMF,
    "transformers 4.x removed BertLayerNorm (it was torch.nn.LayerNorm) used by ViLBERT and m4c",
    detect=_bert_layer_norm_missing,
)
def restore_bert_layer_norm():
    import torch
    from transformers.models.bert import modeling_bert

    modeling_bert.BertLayerNorm = torch.nn.LayerNorm


def _transformers_adamw_missing():
    if not _module_exists("transformers"):
        return False
    import transformers.optimization

    return not hasattr(transformers.optimization, "AdamW")


@shim(
    "transformers_adamw",
    BEFORE_MMF,
    "transformers ~4.49 removed transformers.optimization.AdamW, MMF's registered 'adam_w'",
    detect=_transformers_adamw_missing,
)
def restore_transformers_adamw():
    import transformers.optimization

    from .hf_adamw import HFAdamW

    transformers.optimization.AdamW = HFAdamW


@shim(
    "demjson",
    BEFORE_MMF,
    "demjson does not install on Python 3; demjson3 is the same API",
    detect=lambda: not _module_exists("demjson") and _module_exists("demjson3"),
)
def alias_demjson():
    sys.modules["demjson"] = importlib.import_module("demjson3")


class _TorchtextVectorsUnavailable(collections.abc.Mapping):
    """Stands in for torchtext's vector aliases: any lookup explains why it failed."""

    MESSAGE = (
        "GloVe/fastText vectors come from torchtext, which does not load beside torch 2.x; "
        "mmf-domainstudy's models (visual_bert, vilbert) use BERT tokenizers and never need them. "
        "Use a bert_tokenizer processor instead of a vocab with an embedding_name."
    )

    def __getitem__(self, key):
        raise RuntimeError(f"{self.MESSAGE} (asked for '{key}')")

    def __contains__(self, key):
        raise RuntimeError(f"{self.MESSAGE} (asked for '{key}')")

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0


def _torchtext_unusable():
    if not _module_exists("torchtext"):
        return True
    try:
        importlib.import_module("torchtext.vocab")
    except Exception:  # torchtext's C++ ops fail in many ways against a newer torch
        for name in [n for n in sys.modules if n == "torchtext" or n.startswith("torchtext.")]:
            del sys.modules[name]
        return True
    return False


@shim(
    "torchtext",
    BEFORE_MMF,
    "torchtext (imported by mmf/utils/vocab.py) is unmaintained and does not load beside torch 2.x",
    detect=_torchtext_unusable,
)
def stub_torchtext():
    torchtext = types.ModuleType("torchtext")
    vocab = types.ModuleType("torchtext.vocab")
    vocab.pretrained_aliases = _TorchtextVectorsUnavailable()
    torchtext.vocab = vocab
    sys.modules["torchtext"] = torchtext
    sys.modules["torchtext.vocab"] = vocab
