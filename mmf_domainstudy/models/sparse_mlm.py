"""Score only the masked positions in VisualBERT's and ViLBERT's masked-LM heads.

rc10 projects all text (+region, VisualBERT) positions onto the 30,522-word
vocabulary and then ignores the ~85% without a label; at small model sizes that
projection is most of the step, at base size about a tenth of it. Scoring just the
labelled rows gives the same loss (the cross-entropy mean runs over the same rows)
at a fraction of the cost. Visible differences: VisualBERT's ``logits`` hold the
masked rows only; ViLBERT skips its unused next-sentence score, and with it one
dropout draw, so its RNG stream (not its loss) differs from the dense head's.
"""
import types

import torch
import torch.nn.functional as F

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


def sparse_vilbert_pretraining_forward(
    self,
    input_ids,
    image_feature,
    image_location,
    token_type_ids=None,
    attention_mask=None,
    image_attention_mask=None,
    masked_lm_labels=None,
    image_label=None,
    image_target=None,
    next_sentence_label=None,
    output_all_attention_masks=False,
):
    """ViLBERTForPretraining.forward with the vocabulary projection on labelled rows.

    Only rc10's default region target (``visual_target: 0``, KL to the detector's class
    distribution) is written out here; the other targets run MMF's own forward.
    """
    if self.visual_target != 0 or masked_lm_labels is None:
        return type(self).forward(
            self, input_ids, image_feature, image_location, token_type_ids, attention_mask, image_attention_mask,
            masked_lm_labels, image_label, image_target, next_sentence_label, output_all_attention_masks,
        )
    sequence_output_t, sequence_output_v, _, _, attention_weights = self.bert(
        input_ids, image_feature, image_location, token_type_ids, attention_mask, image_attention_mask,
        output_all_encoded_layers=False, output_all_attention_masks=output_all_attention_masks,
    )
    output = {}
    if output_all_attention_masks:
        output["attention_weights"] = attention_weights
    if image_target is not None:
        scores_v = self.cls.imagePredictions(sequence_output_v)
        region_loss = self.vis_criterion(F.log_softmax(scores_v, dim=2), image_target)
        masked = image_label == 1
        # rc10's normaliser, NaN on a batch without masked regions included (the trainer zeroes that)
        region_loss = torch.sum(region_loss * masked.unsqueeze(2).float()) / max(torch.sum(masked), 0)
        output["masked_img_loss"] = region_loss.unsqueeze(0)
    labels = masked_lm_labels.contiguous().view(-1)
    labelled = labels != IGNORE_INDEX
    rows = sequence_output_t.reshape(-1, sequence_output_t.size(-1))[labelled]
    output["masked_lm_loss"] = self.loss_fct(self.cls.predictions(rows), labels[labelled]).unsqueeze(0)
    return output


SPARSE_FORWARDS = {
    "VisualBERTForPretraining": sparse_masked_lm_forward,
    "ViLBERTForPretraining": sparse_vilbert_pretraining_forward,
}


def use_sparse_masked_lm_head(model):
    """Switch an MMF VisualBERT or ViLBERT pretraining model to the sparse head; returns True if it applied."""
    inner = getattr(model, "model", None)
    forward = SPARSE_FORWARDS.get(type(inner).__name__)
    if forward is None:
        return False
    inner.forward = types.MethodType(forward, inner)
    return True
