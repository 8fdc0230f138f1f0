"""Fused attention (torch's scaled_dot_product_attention) in MMF's VisualBERT and ViLBERT.

ViLBERT's attention modules are MMF code that computes softmax(Q K^T / sqrt(d) + mask) V
by hand: scores, probabilities and a dropout mask of [batch, heads, queries, keys] are
materialised and kept for backward. SDPA does the same maths in one fused kernel
(flash / memory-efficient on CUDA, a fused kernel on CPU). VisualBERT's layers are
transformers' ``BertSdpaSelfAttention`` already (transformers 4.57 builds BERT with
``config._attn_implementation == "sdpa"``), so only its plain path needs binding here.

``set_attention_path(model, fused)`` binds each attention module's ``forward`` (on the
instance; MMF's classes are untouched) to its fused or its plain version. The plain
version is the module's own code; ``fused=False`` therefore gives the explicit-softmax
path everywhere, as rc10 ran it on transformers 2.x.

On a CPU the fused path trains slower: bf16 forward + backward of one base layer's
attention (8 x 12 heads x 228 positions) took 113 ms with SDPA against 76 ms by hand
with dropout 0.1 (44 against 22 without), and base-size pretraining ran ~12% slower,
so the trainer's default uses it on CUDA only.

Equivalence: the same function up to float rounding (fp32: ~1e-6 relative per layer).
Dropout on the probabilities draws other random masks under SDPA, so runs match step
by step only without attention dropout (tests/test_fast_paths.py pins the loss curve).
A module asked for its probabilities (ViLBERT ``visualization: true``) or using
ViLBERT's ``dynamic_attention`` runs the plain code. The module is still called as
before, with the same argument names, so forward hooks (analysis/capture.py) still fire.
"""
import collections
import types

import torch.nn.functional as F
from mmf.models import vilbert
from transformers.models.bert import modeling_bert


def _split_heads(module, states):
    batch, length, _ = states.shape
    return states.view(batch, length, module.num_attention_heads, module.attention_head_size).transpose(1, 2)


def _attend(module, query, key, value, mask, dropout):
    """softmax(Q K^T / sqrt(head size) + mask) V with dropout, heads merged back: [batch, queries, all heads]."""
    query, key, value = (_split_heads(module, states) for states in (query, key, value))
    if mask is not None and mask.dtype != query.dtype:  # fp32 additive masks under autocast
        mask = mask.to(query.dtype)
    context = F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, dropout_p=dropout.p if module.training else 0.0
    )
    batch, _, length, _ = context.shape
    return context.transpose(1, 2).reshape(batch, length, module.all_head_size)


def fused_self_attention(self, hidden_states, attention_mask):
    """ViLBERT's text-stream BertSelfAttention.forward on SDPA."""
    if self.visualization:
        return type(self).forward(self, hidden_states, attention_mask)
    query, key, value = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
    return _attend(self, query, key, value, attention_mask, self.dropout), None


def fused_image_self_attention(self, hidden_states, attention_mask, txt_embedding, txt_attention_mask):
    """ViLBERT's visual-stream BertImageSelfAttention.forward on SDPA."""
    if self.visualization or self.dynamic_attention:
        return type(self).forward(self, hidden_states, attention_mask, txt_embedding, txt_attention_mask)
    query, key, value = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
    return _attend(self, query, key, value, attention_mask, self.dropout), None


def fused_bi_attention(
    self,
    input_tensor1,
    attention_mask1,
    input_tensor2,
    attention_mask2,
    co_attention_mask=None,
    use_co_attention_mask=False,
):
    """ViLBERT's co-attention BertBiAttention.forward on SDPA: input 1 is the visual
    stream, input 2 the text stream; MMF ignores the co-attention mask."""
    if self.visualization:
        return type(self).forward(
            self, input_tensor1, attention_mask1, input_tensor2, attention_mask2,
            co_attention_mask, use_co_attention_mask,
        )
    visual, text = input_tensor1, input_tensor2
    # context1: text queries over regions; context2: region queries over text
    context1 = _attend(self, self.query2(text), self.key1(visual), self.value1(visual), attention_mask1, self.dropout1)
    context2 = _attend(self, self.query1(visual), self.key2(text), self.value2(text), attention_mask2, self.dropout2)
    return context1, context2, None


# attention module class -> (plain forward, fused forward)
ATTENTION_FORWARDS = {
    modeling_bert.BertSdpaSelfAttention: (
        modeling_bert.BertSelfAttention.forward,
        modeling_bert.BertSdpaSelfAttention.forward,
    ),
    vilbert.BertSelfAttention: (vilbert.BertSelfAttention.forward, fused_self_attention),
    vilbert.BertImageSelfAttention: (vilbert.BertImageSelfAttention.forward, fused_image_self_attention),
    vilbert.BertBiAttention: (vilbert.BertBiAttention.forward, fused_bi_attention),
}


def set_attention_path(model, fused):
    """Bind every known attention module of ``model`` to the fused (SDPA) or the plain
    forward; returns ``{class name: modules bound}``."""
    bound = collections.Counter()
    for module in model.modules():
        forwards = ATTENTION_FORWARDS.get(type(module))
        if forwards is not None:
            module.forward = types.MethodType(forwards[bool(fused)], module)
            bound[type(module).__name__] += 1
    return dict(bound)
