"""VQA-P: VQA v2 questions as pretraining text (``masked_vqa_p``).

Segment A is the question; segment B one of its 10 human answers
(``all_answers``), drawn again on every access, unless ``add_answer`` is off or
the split has no answers (VQA's test split): then the question stands alone.
The paper's "len_coco" variant subsamples the questions to COCO's size:
``dataset_config.masked_vqa_p.source_num_samples=113287`` (Karpathy train images,
the samples per epoch of ``masked_coco``).
"""
import random

from mmf.common.registry import registry

from mmf_domainstudy.datasets.masked import MaskedPretrainingBuilder, MaskedPretrainingDataset
from mmf_domainstudy.datasets.options import boolean_option


class MaskedVQAPDataset(MaskedPretrainingDataset):
    def __init__(self, config, dataset_type, index, dataset_name):
        super().__init__(config, dataset_type, index, dataset_name)
        self._add_answer = boolean_option(config, "add_answer", dataset_name)

    def text_segments(self, sample_info):
        key = "question_str" if "question_str" in sample_info else "question"
        question = self.sample_field(sample_info, key)
        answers = sample_info.get("all_answers") or sample_info.get("answers") or []
        if not self._add_answer or not answers:
            return question, None, -1
        return question, random.choice(answers), -1


@registry.register_builder("masked_vqa_p")
class MaskedVQAPBuilder(MaskedPretrainingBuilder):
    def __init__(self):
        super().__init__("masked_vqa_p", MaskedVQAPDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/vqa_p/masked.yaml"
