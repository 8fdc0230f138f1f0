"""Score only the masked positions in VisualBERT's masked-LM head.

rc10 projects all text+region positions onto the 30,522-word vocabulary and
then ignores the ~85% without a label; at small model sizes that projection is
most of the step. Scoring just the labelled rows gives the same loss (the
cross-entropy mean runs over the same rows) at a fraction of the cost. The only
visible difference: ``logits`` in the output holds the masked rows only.
"""
import types

import torch

IGNORE_INDEX = -1


def sparse_masked_lm_forward(
    self,
    input_ids,
    attention_mask=None,
    token_type_ids=None,
    visual_embeddings=None,
    position_embeddings_visual=None,
    visual_embeddings_type=None,
    image_text_alignment=None,
    masked_lm_labels=None,
):
    """VisualBERTForPretraining.forward with the vocabulary projection on labelled rows."""
    sequence_output, pooled_output, attention_weights = self.bert(
        input_ids,
        attention_mask,
        token_type_ids,
        visual_embeddings,
        position_embeddings_visual,
        visual_embeddings_type,
        image_text_alignment,
    )
    output_dict = {}
    if self.output_attentions:
        output_dict["attention_weights"] = attention_weights
    if self.output_hidden_states:
        output_dict["sequence_output"] = sequence_output
        output_dict["pooled_output"] = pooled_output
    if masked_lm_labels is None:
        output_dict["logits"], _ = self.cls(sequence_output, pooled_output)
        return output_dict
    labels = masked_lm_labels.contiguous().view(-1)
    labelled = labels != IGNORE_INDEX
    rows = sequence_output.reshape(-1, sequence_output.size(-1))[labelled]
    scores = self.cls.predictions(rows)
    loss = self.loss_fct(scores.view(-1, self.vocab_size), labels[labelled])
    output_dict["logits"] = scores
    output_dict["masked_lm_loss"] = loss
    output_dict["loss"] = loss
    return output_dict


def use_sparse_masked_lm_head(model):
    """Switch an MMF VisualBERT pretraining model to the sparse head; returns True if it applied."""
    inner = getattr(model, "model", None)
    if type(inner).__name__ != "VisualBERTForPretraining":
        return False
    inner.forward = types.MethodType(sparse_masked_lm_forward, inner)
    return True
