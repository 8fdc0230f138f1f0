"""The downstream tasks: rc10's own builders, re-registered under their names with two additions.

- ``fraction`` (and ``subset_seed``) on the training split, for the low-resource
  experiments: ``dataset_config.vizwiz.fraction=0.1``. Val and test stay whole.
- Checks before the model is built: a classification head's ``num_labels``
  matches the task's answer vocabulary (rc10 fails inside the loss instead),
  and the first training samples have answers in that vocabulary (rc10 trains
  on all-zero targets when, e.g., a genre file is not lowercase).
Everything else (samples, processors, yaml paths, metrics' keys) is MMF's.
"""
from mmf.common.registry import registry
from mmf.datasets.builders.mmimdb import builder as mmimdb
from mmf.datasets.builders.visual_entailment import builder as visual_entailment
from mmf.datasets.builders.vizwiz import builder as vizwiz
from mmf.datasets.builders.vqa2 import builder as vqa2

from mmf_domainstudy.datasets.subsets import TrainingSubsetMixin

# Training samples whose targets must not all be empty (see check_answers_in_vocabulary).
ANSWER_CHECK_SAMPLES = 20


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


def check_answers_in_vocabulary(dataset, dataset_name, samples=ANSWER_CHECK_SAMPLES):
    """Raise if none of the first training samples has a target in the answer vocabulary."""
    if dataset.dataset_type != "train" or not hasattr(dataset, "answer_processor"):
        return
    checked = min(samples, len(dataset))
    if any(dataset[index]["targets"].any() for index in range(checked)):
        return
    vocab_file = dataset.config.processors.answer_processor.params.vocab_file
    raise ValueError(
        f"{dataset_name} train: none of the first {checked} samples has an answer in {vocab_file}; "
        "rc10 lowercases answers (simple_word preprocessor) before the lookup, so the vocabulary file must "
        f"be lowercase and match the annotations (dataset_config.{dataset_name}.processors.answer_processor)"
    )


class TaskBuilderMixin(TrainingSubsetMixin):
    def update_registry_for_model(self, config):
        super().update_registry_for_model(config)
        check_num_labels(self.dataset, self.dataset_name, registry.get("config"))
        check_answers_in_vocabulary(self.dataset, self.dataset_name)


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
