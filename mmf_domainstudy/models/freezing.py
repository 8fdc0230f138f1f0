"""Frozen-base finetuning for MMF's VisualBERT and ViLBERT (the study's "frozen" rows).

rc10's ``freeze_base`` only sets ``requires_grad=False`` on ``model.bert``: the frozen
tensors stay in the optimizer's parameter groups and the base's dropout keeps firing
in training, so a "frozen" base still feeds the head noisy features. ``apply_freezing``
makes freezing complete, for two config keys (defaults in the bundled
``configs/mmf/models/<model>/defaults.yaml``):

- ``freeze_base: true``: the whole base, ``model.bert`` (embeddings, every encoder
  layer, ViLBERT's co-attention blocks, pooler(s)). Only the task head trains.
- ``freeze_layers: N``: the embeddings and the lowest N layers; the rest trains.
  VisualBERT: ``encoder.layer.0..N-1``. ViLBERT counts each stream on its own:
  text ``encoder.layer.i`` and visual ``encoder.v_layer.j`` with i, j < N (the
  visual ``v_embeddings`` count as embeddings), and co-attention block
  ``encoder.c_layer.k`` when both layers it feeds, text ``t_biattention_id[k]`` and
  visual ``v_biattention_id[k]``, are frozen (both ids < N). Poolers always train.
  N = 0 freezes only the embeddings. (Under a pretraining head, VisualBERT's MLM
  decoder shares the word embeddings' weight and freezes with them.)

Frozen parameters are left out of every optimizer group (no weight decay, no state),
frozen modules stay in eval mode whatever ``train()`` the trainer calls, and the
log states how many parameters train and how many are frozen.
"""
import logging
import types
from dataclasses import dataclass

import torch
from mmf.common.registry import registry
from mmf.models.vilbert import ViLBERTBase
from mmf.models.visual_bert import VisualBERTBase
from mmf.utils.build import build_model
from torch import nn

from mmf_domainstudy.utils.config_values import parse_boolean

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FreezeSummary:
    """What ``apply_freezing`` froze, for the log and for callers that check it."""

    frozen_modules: tuple
    trainable: int
    frozen: int

    def __str__(self):
        where = ", ".join(self.frozen_modules) or "nothing"
        return f"Parameters: {self.trainable:,} train, {self.frozen:,} frozen (frozen: {where})"


def build_model_with_freezing(config):
    """MMF's ``build_model`` followed by ``apply_freezing``: a drop-in for trainers."""
    model = build_model(config)
    apply_freezing(model)
    return model


def apply_freezing(model):
    """Freeze what ``model.config`` asks for; call once, right after MMF's ``build_model``.

    Must run before ``build_optimizer`` so that the optimizer never sees a frozen tensor.
    """
    modules = frozen_modules(model)
    for module in modules.values():
        module.requires_grad_(False)
        keep_in_eval(module)
    if modules:
        model.get_optimizer_parameters = types.MethodType(_trainable_optimizer_parameters, model)
    summary = _summarize(model, modules)
    _write_log(str(summary))
    return summary


def frozen_modules(model):
    """``{qualified name: module}`` to freeze under ``model.config``; empty when nothing is."""
    config = model.config
    freeze_base = parse_boolean(config.get("freeze_base", False), _key(model, "freeze_base"))
    num_layers = config.get("freeze_layers", None)
    if not freeze_base and num_layers is None:
        return {}
    base = _base(model)
    if freeze_base and num_layers is not None:
        raise ValueError(
            f"{_key(model, 'freeze_base')}=true and {_key(model, 'freeze_layers')}={num_layers} "
            "both set: keep freeze_base (whole base) or freeze_layers (the lowest N layers), not both"
        )
    if freeze_base:
        return {"model.bert": base}
    _check_num_layers(model, base, num_layers)
    if isinstance(base, ViLBERTBase):
        lowest = _vilbert_lowest_layers(base, num_layers)
    else:
        lowest = _visual_bert_lowest_layers(base, num_layers)
    return {f"model.bert.{name}": module for name, module in lowest.items()}


def _base(model):
    base = getattr(getattr(model, "model", None), "bert", None)
    if not isinstance(base, (VisualBERTBase, ViLBERTBase)):
        raise ValueError(
            f"freeze_base/freeze_layers are set for {type(model).__name__}, but freezing knows only "
            "visual_bert and vilbert (a model.bert base); remove the keys from this model's config"
        )
    return base


def _depth(base):
    """Largest meaningful N: layers of the deepest stream."""
    encoder = base.encoder
    return max(len(encoder.layer), len(getattr(encoder, "v_layer", ())))


def _check_num_layers(model, base, num_layers):
    depth = _depth(base)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 0 <= num_layers <= depth:
        raise ValueError(
            f"{_key(model, 'freeze_layers')}={num_layers!r}: set an integer from 0 to {depth} "
            f"(this model's layers), null to freeze no layer, or freeze_base: true for the whole base"
        )


def _visual_bert_lowest_layers(base, num_layers):
    layers = {f"encoder.layer.{i}": base.encoder.layer[i] for i in range(num_layers)}
    return {"embeddings": base.embeddings, **layers}


def _vilbert_lowest_layers(base, num_layers):
    encoder = base.encoder
    modules = {"embeddings": base.embeddings, "v_embeddings": base.v_embeddings}
    modules.update({f"encoder.layer.{i}": encoder.layer[i] for i in range(min(num_layers, len(encoder.layer)))})
    modules.update({f"encoder.v_layer.{j}": encoder.v_layer[j] for j in range(min(num_layers, len(encoder.v_layer)))})
    feeds = zip(encoder.t_biattention_id, encoder.v_biattention_id)
    for k, (text_id, visual_id) in enumerate(feeds):
        if text_id < num_layers and visual_id < num_layers:
            modules[f"encoder.c_layer.{k}"] = encoder.c_layer[k]
    return modules


def trainable_parameter_groups(parameters):
    """``parameters`` (tensors or MMF's groups of dicts) without frozen tensors or empty groups."""
    parameters = list(parameters)
    if not parameters or not isinstance(parameters[0], dict):
        return [p for p in parameters if p.requires_grad]
    groups = []
    for group in parameters:
        tensors = group["params"]
        tensors = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        trainable = [p for p in tensors if p.requires_grad]
        if trainable:
            groups.append(dict(group, params=trainable))
    return groups


def _trainable_optimizer_parameters(model, config):
    """Replaces the model's ``get_optimizer_parameters``, which MMF's ``build_optimizer`` calls."""
    return trainable_parameter_groups(type(model).get_optimizer_parameters(model, config))


def keep_in_eval(module):
    """Pin ``module`` (and its children) to eval mode, even when a parent's ``train()`` runs."""
    module.train = types.MethodType(_train_as_eval, module)
    module.eval()


def _train_as_eval(module, mode=True):
    """``train()`` of a frozen module: a base that never updates gets no dropout noise."""
    return nn.Module.train(module, False)


def _summarize(model, modules):
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return FreezeSummary(frozen_modules=tuple(modules), trainable=trainable, frozen=frozen)


def _key(model, name):
    return f"model_config.{model.config.get('model', '<model>')}.{name}"


def _write_log(message):
    """MMF's writer (train.log) when a trainer registered one, else this module's logger."""
    writer = registry.get("writer", no_warning=True)
    if writer is not None:
        writer.write(message)
    else:
        logger.info(message)
