"""``easy_vqa`` and ``easy_vqa_entailment``: the offline downstream tasks of the demo.

Prepared by ``tools/prepare_easy_vqa.py`` / ``tools/prepare_demo_data.py``; read by
MMF's own VQA2 and visual-entailment dataset classes, so samples, answer
processing and metrics are exactly MMF's.
"""
from mmf.common.registry import registry
from mmf.datasets.builders.visual_entailment import builder as visual_entailment
from mmf.datasets.builders.visual_entailment import dataset as visual_entailment_dataset
from mmf.datasets.builders.vqa2 import builder as vqa2
from mmf.datasets.builders.vqa2.dataset import VQA2Dataset

from mmf_domainstudy.datasets.downstream import TaskBuilderMixin


class EasyVQADataset(VQA2Dataset):
    def __init__(self, config, dataset_type, imdb_file_index, *args, **kwargs):
        super().__init__(config, dataset_type, imdb_file_index, *args, dataset_name="easy_vqa", **kwargs)


@registry.register_builder("easy_vqa")
class EasyVQABuilder(TaskBuilderMixin, vqa2.VQA2Builder):
    def __init__(self):
        super().__init__(dataset_name="easy_vqa", dataset_class=EasyVQADataset)
        self.dataset_class = EasyVQADataset

    @classmethod
    def config_path(cls):
        return "configs/datasets/easy_vqa/defaults.yaml"


class EasyVQAEntailmentDataset(visual_entailment_dataset.VisualEntailmentDataset):
    def __init__(self, config, dataset_type, imdb_file_index, *args, **kwargs):
        # skip VisualEntailmentDataset.__init__, which hard-codes its dataset name
        VQA2Dataset.__init__(self, config, dataset_type, imdb_file_index, *args, dataset_name="easy_vqa_entailment", **kwargs)


@registry.register_builder("easy_vqa_entailment")
class EasyVQAEntailmentBuilder(TaskBuilderMixin, visual_entailment.VisualEntailmentBuilder):
    """Does the easy-vqa image entail "the shape is red"? SNLI-VE's format, MMF's dataset class."""

    def __init__(self):
        super().__init__()
        self.dataset_name = "easy_vqa_entailment"
        self.dataset_class = EasyVQAEntailmentDataset

    @classmethod
    def config_path(cls):
        return "configs/datasets/easy_vqa/entailment.yaml"
