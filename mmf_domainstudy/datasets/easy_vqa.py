"""``easy_vqa``: the offline VQA dataset (coloured shapes), in MMF's VQA layout.

Prepared by ``tools/prepare_easy_vqa.py``; read by MMF's own VQA2 dataset class,
so samples, answer processing and VQA accuracy are exactly MMF's.
"""
from mmf.common.registry import registry
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
