"""``caption_token_ce``: teacher-forced cross-entropy over the caption's real tokens."""
import torch.nn.functional as F
from mmf.common.registry import registry
from torch import nn

IGNORE = -1  # target id of padding positions


@registry.register_loss("caption_token_ce")
class CaptionTokenCrossEntropy(nn.Module):
    """Mean over non-padding target tokens of ``scores`` [B, T, V] vs ``targets`` [B, >=T].

    Targets may be longer than the scores (the model trims each batch to its
    longest caption); the cut-off positions are padding.
    """

    def forward(self, sample_list, model_output):
        scores = model_output["scores"]
        targets = sample_list["targets"][:, : scores.size(1)]
        return F.cross_entropy(scores.reshape(-1, scores.size(-1)), targets.reshape(-1), ignore_index=IGNORE)
