"""Analyses on an MMF dataset (attention drift, the head probe): config, data loader and
models through MMF's own APIs.

The one module of this subpackage that uses MMF (so the package does not import it):
the rest works on tensors and files and is tested without MMF.
Both checkpoints run in the architecture the run config builds, the task model:
rc10's pretraining heads cannot run on a task's batches (VisualBERT's pops a
masked-LM loss the batch has no labels for), and a finetuning run starts from exactly
this, the pretrained base copied into the task model.
"""
import argparse
import contextlib
import copy
import dataclasses
import io
import logging
from typing import Optional, Tuple

import torch
from mmf.common.registry import registry
from mmf.utils.build import build_dataloader_and_sampler, build_dataset, build_model
from mmf.utils.configuration import Configuration, load_yaml
from omegaconf import OmegaConf, open_dict

from ..trainers.feature_dims import resolve_feature_dims
from .architecture import heads_from_config
from .checkpoints import load_weights_and_config
from .head_probe import probe_head_inputs
from .report import AttentionDriftRequest, attention_drift_report, parameter_drift_report

logger = logging.getLogger(__name__)

# The base MMF's VisualBERT and ViLBERT share, and the part finetuning carries over
# (checkpoint.pretrained_state_mapping {model.bert: model.bert}).
BASE_PREFIX = "model.bert."


def compose_run_config(config_path, dataset, overrides=(), model=None):
    """The config ``mmf_run config=<config_path> model=<model> dataset=<dataset>`` would run.

    ``config_path`` is a run's ``config.yaml`` (MMF saves it in every save dir) or the
    study's ``study_config.yaml``; ``model`` defaults to the one it names; the dataset's
    defaults come from its registered builder.
    """
    model = model or load_yaml(config_path).get("model")
    if not model:
        raise ValueError(f"{config_path}: names no 'model'; pass an MMF run's config.yaml or study_config.yaml")
    if registry.get_builder_class(dataset) is None:
        known = ", ".join(sorted(registry.mapping["builder_name_mapping"]))
        raise ValueError(f"dataset {dataset!r} is not registered with MMF; known datasets: {known}")
    opts = [f"config={config_path}", f"model={model}", f"dataset={dataset}", *overrides]
    with contextlib.redirect_stdout(io.StringIO()):  # MMF prints "Overriding option ..." per option
        return Configuration(argparse.Namespace(opts=opts, config_override=None)).get_config()


def config_heads(config):
    """Head counts per attention stream from a composed run config."""
    model = config.model
    block = OmegaConf.to_container(config.model_config[model], resolve=True)
    return heads_from_config({"model": model, "model_config": {model: block}})


def dataset_batches(config, dataset, split, seed, device):
    """Prepared batches of ``split`` from MMF's builder and data loader, in an order
    the seed fixes (MMF's loader shuffles every split but test)."""
    registry.register("current_device", device)
    instance = build_dataset(dataset, config.dataset_config[dataset], split)
    loader, _ = build_dataloader_and_sampler(instance, config.training)
    torch.manual_seed(seed)
    for batch in loader:
        yield instance.prepare_batch(batch)


def load_base_weights(model, state_dict, checkpoint, note_kept_weights=True):
    """Load every weight of ``checkpoint`` the model has; the whole base must be there.

    Weights outside the base that the checkpoint lacks or shapes differently (a
    pretraining checkpoint has no task head) keep their initial values: attention is
    computed inside the base only. ``note_kept_weights`` logs how many.
    """
    own = model.state_dict()
    missing = [key for key in own if key.startswith(BASE_PREFIX) and key not in state_dict]
    mismatched = [key for key in own if key in state_dict and state_dict[key].shape != own[key].shape]
    wrong_base = missing + [key for key in mismatched if key.startswith(BASE_PREFIX)]
    if wrong_base:
        raise ValueError(
            f"{checkpoint}: its weights do not fit the run config's model (missing or other shape: "
            f"{wrong_base[:4]}); pass --config of a run of the same model and size"
        )
    loaded = {key: value for key, value in state_dict.items() if key in own and key not in mismatched}
    model.load_state_dict(loaded, strict=False)
    kept = sorted(set(own) - set(loaded))
    if kept and note_kept_weights:
        logger.info("%s: %d weights outside the base keep their initial values (e.g. %s)", checkpoint, len(kept),
                    kept[0])


def build_checkpoint_model(config, checkpoint, device, note_kept_weights=True):
    """MMF's ``build_model`` on the run config's model, with the checkpoint's weights."""
    resolve_feature_dims(config)
    model_config = config.model_config[config.model]
    with open_dict(model_config):
        model_config.model = config.model
        model_config.bert_model_name = None  # the checkpoint replaces the initial weights: no download
    model = build_model(model_config)
    state_dict, _ = load_weights_and_config(checkpoint)
    load_base_weights(model, state_dict, checkpoint, note_kept_weights)
    return model.to(device)


def forward_without_losses(model, batch):
    """Run a model on its own copy of the batch: rc10's models rewrite sample-list
    fields, and the losses (not measured) need targets a test split lacks."""
    return model.forward(copy.copy(batch))


def default_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetDriftRequest:
    """Parameter and attention-map drift of two checkpoints of one model on an MMF dataset."""

    checkpoint_a: str  # reference, e.g. the pretrained base
    checkpoint_b: str  # compared, e.g. the model finetuned from it
    config_path: str  # a run's config.yaml or a study's study_config.yaml: builds data and model
    dataset: str
    out_dir: str
    samples: int
    split: str = "val"
    batch_size: int = 32
    seed: int = 0  # which samples (MMF shuffles the split)
    device: Optional[str] = None  # default: cuda when available
    overrides: Tuple[str, ...] = ()  # MMF options on top of the config, e.g. env.data_dir=...
    name_a: Optional[str] = None
    name_b: Optional[str] = None
    heatmaps: bool = True
    note_kept_weights: bool = True  # log how many of checkpoint_a's model weights keep their initial values


def dataset_drift_report(request):
    """Parameter drift, and attention-map drift and CKA on ``request.samples`` samples of the
    dataset's split; head counts from the config."""
    device = torch.device(request.device) if request.device else default_device()
    loader_options = [f"training.batch_size={min(request.batch_size, request.samples)}", "training.num_workers=0"]
    config = compose_run_config(request.config_path, request.dataset, loader_options + list(request.overrides))
    parameter = parameter_drift_report(request.checkpoint_a, request.checkpoint_b, request.out_dir,
                                       config_heads(config), request.name_a, request.name_b, request.heatmaps)

    def build_model(checkpoint):
        note = request.note_kept_weights or checkpoint != request.checkpoint_a
        return build_checkpoint_model(config, checkpoint, device, note)

    attention = attention_drift_report(AttentionDriftRequest(
        batches=dataset_batches(config, request.dataset, request.split, request.seed, device),
        build_model=build_model,
        checkpoint_a=request.checkpoint_a,
        checkpoint_b=request.checkpoint_b,
        out_dir=request.out_dir,
        data=f"{request.dataset} {request.split}",
        max_samples=request.samples,
        forward=forward_without_losses,
        name_a=request.name_a,
        name_b=request.name_b,
        heatmaps=request.heatmaps,
    ))
    return {"parameter": parameter, "attention": attention}


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeadProbeRequest:
    """A linear probe on what one checkpoint's task head sees, on an MMF dataset's train and val splits."""

    checkpoint: str  # a finetuned model, or a pretrained base (then config_path must build the task model)
    config_path: str  # a finetuning run's config.yaml or study_config.yaml: builds data and the task model
    dataset: str
    train_samples: int = 2000
    val_samples: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: Optional[str] = None
    overrides: Tuple[str, ...] = ()


def check_task_config(config_path, dataset):
    """Refuse a run config for another dataset (a pretraining run's, beside its checkpoint)."""
    datasets = load_yaml(config_path).get("datasets")
    if datasets and dataset not in [name.strip() for name in str(datasets).split(",")]:
        raise ValueError(f"{config_path} is a run config for {datasets}, not {dataset}: pass --config of a "
                         f"finetuning run on {dataset} (its config.yaml or study_config.yaml)")


def task_head(model, config_path):
    """The classifier of rc10's VisualBERT/ViLBERT task model (``model.classifier``)."""
    head = getattr(getattr(model, "model", None), "classifier", None)
    if head is None:
        raise ValueError(f"{config_path}: builds {type(model).__name__} without a task head (model.classifier); "
                         "pass --config of a finetuning run (its config.yaml or study_config.yaml), "
                         "not of a pretraining run")
    return head


def answer_labels(targets, dataset):
    """One label per sample: the class id, or the top-scored answer of VQA-style soft scores."""
    if targets.dim() == 2:
        return targets.argmax(-1)
    if targets.dim() == 1 and not targets.is_floating_point():
        return targets
    raise ValueError(f"dataset {dataset}: targets of shape {tuple(targets.shape)} are neither class ids nor "
                     "per-answer scores; the probe handles single-answer tasks")


def collect_head_inputs(model, head, batches, max_samples, dataset):
    """(features [N, D], labels [N]): the head's input on up to ``max_samples`` samples."""
    captured = []
    hook = head.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0].detach().float().cpu()))
    features, labels, count = [], [], 0
    try:
        with torch.no_grad():
            for batch in batches:
                forward_without_losses(model, batch)
                features.append(captured.pop())
                labels.append(answer_labels(batch["targets"], dataset).cpu())
                count += len(labels[-1])
                if count >= max_samples:
                    break
    finally:
        hook.remove()
    if not features:
        raise ValueError(f"dataset {dataset}: the split gave no batch; check its annotations")
    return torch.cat(features)[:max_samples], torch.cat(labels)[:max_samples]


def head_probe_report(request):
    """The ``HeadProbe`` of ``request.checkpoint`` in the model the run config builds."""
    device = torch.device(request.device) if request.device else default_device()
    loader_options = [f"training.batch_size={request.batch_size}", "training.num_workers=0"]
    config = compose_run_config(request.config_path, request.dataset, loader_options + list(request.overrides))
    model = build_checkpoint_model(config, request.checkpoint, device)
    model.eval()
    head = task_head(model, request.config_path)
    splits = {}
    for split, samples in (("train", request.train_samples), ("val", request.val_samples)):
        batches = dataset_batches(config, request.dataset, split, request.seed, device)
        splits[split] = collect_head_inputs(model, head, batches, samples, request.dataset)
    return probe_head_inputs(*splits["train"], *splits["val"], seed=request.seed)
