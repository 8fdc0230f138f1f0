"""The downstream tasks: rc10's own builders, re-registered under their names with two additions.

- ``fraction`` (and ``subset_seed``) on the training split, for the low-resource
  experiments: ``dataset_config.vizwiz.fraction=0.1``. Val and test stay whole.
- A check, before the model is built, that a classification head's
  ``num_labels`` matches the task's answer vocabulary; rc10 would fail inside
  the loss with a shape mismatch instead.
Everything else (samples, processors, yaml paths, metrics' keys) is MMF's.
"""
from mmf.common.registry import registry
from mmf.datasets.builders.mmimdb import builder as mmimdb
from mmf.datasets.builders.visual_entailment import builder as visual_entailment
from mmf.datasets.builders.vizwiz import builder as vizwiz
from mmf.datasets.builders.vqa2 import builder as vqa2

from mmf_domainstudy.datasets.subsets import TrainingSubsetMixin


def check_num_labels(dataset, dataset_name, config):
    """Raise if the classification head's size differs from ``dataset``'s answer vocabulary."""
    if config is None or config.get("model") is None or not hasattr(dataset, "answer_processor"):
        return
    model_config = config.model_config.get(config.model, {})
    if model_config.get("training_head_type", "pretraining") == "pretraining" or "num_labels" not in model_config:
        return
    answers = dataset.answer_processor.get_vocab_size()
    if model_config.num_labels != answers:
        raise ValueError(
            f"model_config.{config.model}.num_labels={model_config.num_labels} but {dataset_name}'s answer "
            f"vocabulary has {answers} entries (with <unk>); set model_config.{config.model}.num_labels={answers} "
            f"or point dataset_config.{dataset_name}.processors.answer_processor.params.vocab_file at the right file"
        )


class TaskBuilderMixin(TrainingSubsetMixin):
    def update_registry_for_model(self, config):
        super().update_registry_for_model(config)
        check_num_labels(self.dataset, self.dataset_name, registry.get("config"))


@registry.register_builder("vqa2")
class VQA2Builder(TaskBuilderMixin, vqa2.VQA2Builder):
    pass


@registry.register_builder("vizwiz")
class VizWizBuilder(TaskBuilderMixin, vizwiz.VizWizBuilder):
    pass


@registry.register_builder("visual_entailment")
class VisualEntailmentBuilder(TaskBuilderMixin, visual_entailment.VisualEntailmentBuilder):
    pass


@registry.register_builder("mmimdb")
class MMIMDbBuilder(TaskBuilderMixin, mmimdb.MMIMDbBuilder):
    pass
