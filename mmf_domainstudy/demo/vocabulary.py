"""A small BERT vocabulary for the CPU demo: the wordpieces its texts use, nothing else.

bert-base-uncased's 30,522 rows are 87 % of a 128-wide demo model and most of each
update's optimizer work, yet the demo's texts use a few dozen of them (48). This keeps
exactly the wordpieces that bert-base-uncased produces for every demo text, so each
text tokenizes into the same pieces (greedy longest-match over a subset that holds
all the pieces it chose), only with smaller ids. The vocabulary is padded with
``[unusedN]`` rows to a fixed size, so configs can state ``vocab_size``.
"""
import json
import os

from mmf_domainstudy.formats.errors import DataFormatError

from mmf_domainstudy.formats.imdb import read_imdb

from mmf_domainstudy.formats.jsonl import read_jsonl
from mmf_domainstudy.utils.atomic import atomic_write_text

DEMO_VOCABULARY_SIZE = 1024  # model_config.*.vocab_size in projects/domain_study/configs/demo/cpu.yaml
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # [PAD] first: MMF pads input_ids with 0


def demo_texts(paths):
    """Every question, caption and hypothesis of the prepared demo datasets."""
    for split_path in paths["easy_vqa"]["annotations"].values():
        yield from (sample["question_str"] for sample in read_imdb(split_path)[1])
    caption_files = [*paths["captions"].values(), paths["ccg"], *paths["textures"]["annotations"].values()]
    for caption_path in caption_files:
        yield from (caption for sample in read_imdb(caption_path)[1] for caption in sample["captions"])
    for split_path in paths["entailment"].values():
        yield from (record["sentence2"] for record in read_jsonl(split_path))


def write_demo_vocabulary(texts, folder, size=DEMO_VOCABULARY_SIZE):
    """Write ``vocab.txt`` + ``tokenizer_config.json`` for ``texts`` into ``folder``; return the pieces used."""
    from mmf_domainstudy.text.pretrained import load_bert_tokenizer

    tokenizer = load_bert_tokenizer("bert-base-uncased")
    pieces = sorted({piece for text in texts for piece in tokenizer.tokenize(text)} - set(SPECIAL_TOKENS))
    rows = [*SPECIAL_TOKENS, *pieces]
    if len(rows) > size:
        raise DataFormatError(
            f"the demo texts use {len(pieces)} wordpieces, more than the demo vocabulary's {size} rows; raise "
            "DEMO_VOCABULARY_SIZE in mmf_domainstudy/demo/vocabulary.py and vocab_size in demo/cpu.yaml together"
        )
    rows += [f"[unused{i}]" for i in range(size - len(rows))]
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(os.path.join(folder, "vocab.txt"), "\n".join(rows) + "\n")
    tokenizer_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}
    atomic_write_text(os.path.join(folder, "tokenizer_config.json"), json.dumps(tokenizer_config, indent=2) + "\n")
    return pieces
