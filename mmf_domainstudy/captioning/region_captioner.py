"""``region_captioner``: a small transformer decoder that captions an image from its regions.

It stands in for MMF rc10's ``butd`` captioner, which cannot run here: its
vocabulary needs GloVe vectors from torchtext, its feature encoder needs
Detectron fc7 weights, and its beam search takes one image per batch. This
one writes bert-base-uncased WordPiece ids ([CLS] starts, [SEP] ends a
caption), trains with teacher forcing, and decodes batches with beam search.
"""
import torch
from mmf.common.registry import registry
from mmf.models.base_model import BaseModel
from torch import nn

from mmf_domainstudy.captioning.beam_search import decode
from mmf_domainstudy.text.pretrained import load_bert_tokenizer


@registry.register_model("region_captioner")
class RegionCaptioner(BaseModel):
    @classmethod
    def config_path(cls):
        return "configs/models/region_captioner/defaults.yaml"

    def build(self):
        config = self.config
        self.tokenizer = load_bert_tokenizer(config.tokenizer)
        self._check_dataset_vocabulary()
        hidden = config.hidden_size
        self.region_projection = nn.Sequential(
            nn.Linear(config.image_feature_dim, hidden), nn.LayerNorm(hidden), nn.Dropout(config.dropout)
        )
        self.token_embedding = nn.Embedding(len(self.tokenizer), hidden, padding_idx=self.tokenizer.pad_token_id)
        self.position_embedding = nn.Embedding(config.max_length, hidden)
        layer = nn.TransformerDecoderLayer(
            hidden, config.num_attention_heads, config.intermediate_size, config.dropout,
            batch_first=True, norm_first=True,
        )
        self.decoder = nn.TransformerDecoder(layer, config.num_hidden_layers)
        self.final_norm = nn.LayerNorm(hidden)
        # Ids a caption may never contain: every special token but the end token.
        banned = set(self.tokenizer.all_special_ids) - {self.tokenizer.sep_token_id}
        self.register_buffer("banned_ids", torch.tensor(sorted(banned)), persistent=False)

    def _check_dataset_vocabulary(self):
        dataset_vocab = registry.get("caption_pairs_text_vocab_size", no_warning=True)
        if dataset_vocab is not None and dataset_vocab != len(self.tokenizer):
            raise ValueError(
                f"model_config.region_captioner.tokenizer={self.config.tokenizer!r} has {len(self.tokenizer)} "
                f"tokens but the caption_pairs text processor has {dataset_vocab}: set both to the same tokenizer."
            )

    def encode(self, features, region_count):
        """Projected regions [B, R, H] and their padding mask (True = no region)."""
        positions = torch.arange(features.size(1), device=features.device)
        padding = positions.unsqueeze(0) >= region_count.to(features.device).unsqueeze(1)
        return self.region_projection(features.float()), padding

    def token_logits(self, memory, memory_padding, prefixes):
        """Next-token logits [N, T, V] at every position of ``prefixes`` [N, T] (causal)."""
        length = prefixes.size(1)
        if length > self.config.max_length:
            raise ValueError(f"caption prefix of {length} tokens exceeds model_config.region_captioner.max_length.")
        positions = torch.arange(length, device=prefixes.device)
        hidden = self.token_embedding(prefixes) + self.position_embedding(positions)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=prefixes.device)
        hidden = self.decoder(
            hidden, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=memory_padding
        )
        return self.final_norm(hidden) @ self.token_embedding.weight.t()

    def forward(self, sample_list):
        memory, padding = self.encode(sample_list.image_feature_0, sample_list.region_count)
        length = int(sample_list.caption_mask.sum(dim=1).max())  # trim the batch to its longest caption
        return {"scores": self.token_logits(memory, padding, sample_list.caption_ids[:, : length - 1])}

    @torch.no_grad()
    def generate(self, features, region_count, beam_size=3, max_length=20):
        """One ``Hypothesis`` (at least one token) per image; its text is ``self.caption_text(h.tokens)``."""
        if max_length > self.config.max_length:
            raise ValueError(
                f"max_length={max_length} exceeds the {self.config.max_length} positions this captioner was trained with."
            )
        memory, padding = self.encode(features, region_count)

        def step(rows, prefixes):
            rows, prefixes = rows.to(memory.device), prefixes.to(memory.device)
            logits = self.token_logits(memory[rows], padding[rows], prefixes)[:, -1].float()
            logits[:, self.banned_ids] = float("-inf")
            if prefixes.size(1) == 1:  # no empty captions: the first token cannot end the caption
                logits[:, self.tokenizer.sep_token_id] = float("-inf")
            return torch.log_softmax(logits, dim=-1).cpu()

        return decode(
            step, features.size(0), self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, beam_size, max_length
        )

    def caption_text(self, token_ids):
        return self.tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=True).strip()
