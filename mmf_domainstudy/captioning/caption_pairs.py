"""``caption_pairs``: one sample per (image, caption) of a COCO-format by-image caption file.

Any imdb whose samples carry ``captions`` (COCO Karpathy by-image files, the
CCG files this package generates) becomes captioning training data: region
features from the paired feature store, the caption as WordPiece ids.
"""
import torch
from mmf.common.registry import registry
from mmf.common.sample import Sample
from mmf.datasets.mmf_dataset import MMFDataset
from mmf.datasets.mmf_dataset_builder import MMFDatasetBuilder

from mmf_domainstudy.captioning.caption_loss import IGNORE
from mmf_domainstudy.formats.errors import DataFormatError

DATASET = "caption_pairs"


def caption_index(samples, source):
    """``[(sample index, caption index)]`` over every caption; bad samples raise naming ``source``."""
    pairs = []
    for index, sample in enumerate(samples):
        captions = sample.get("captions")
        if not isinstance(captions, (list, tuple)) or not captions or not all(isinstance(c, str) for c in captions):
            raise DataFormatError(
                f"{source}: sample {index} (image_id {sample.get('image_id')!r}) needs 'captions', a non-empty "
                "list of strings; caption_pairs reads COCO-format by-image files (imdb_karpathy_*_by_image.npy "
                "or files written by tools/generate_captions.py)."
            )
        pairs.extend((index, caption) for caption in range(len(captions)))
    return pairs


class CaptionPairsDataset(MMFDataset):
    def __init__(self, config, dataset_type="train", index=0, *args, **kwargs):
        super().__init__(DATASET, config, dataset_type, index, *args, **kwargs)
        if not self.config.get("return_features_info", False):
            raise ValueError(
                f"dataset_config.{DATASET}.return_features_info must be true: the captioner masks "
                "padded regions using the region count it carries."
            )
        source = self._get_path_based_on_index(self.config, "annotations", self._index)
        self.pairs = caption_index([self.annotation_db[i] for i in range(len(self.annotation_db))], source)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, idx):
        return self.load_item(idx)

    def load_item(self, idx):
        image_index, caption = self.pairs[idx]
        sample_info = self.annotation_db[image_index]
        features = self.features_db[image_index]
        text = self.text_processor({"text": sample_info["captions"][caption]})
        targets = text["input_ids"][1:].clone()
        targets[text["input_mask"][1:] == 0] = IGNORE
        sample = Sample()
        sample.image_feature_0 = features["image_feature_0"]
        sample.region_count = torch.as_tensor(features["image_info_0"]["max_features"], dtype=torch.long)
        sample.caption_ids = text["input_ids"]
        sample.caption_mask = text["input_mask"]
        sample.targets = targets
        return sample


@registry.register_builder(DATASET)
class CaptionPairsBuilder(MMFDatasetBuilder):
    def __init__(self):
        super().__init__(DATASET, CaptionPairsDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/caption_pairs/defaults.yaml"

    def update_registry_for_model(self, config):
        """Publish the tokenizer's size, so the model can refuse a different tokenizer."""
        registry.register(f"{DATASET}_text_vocab_size", self.dataset.text_processor.get_vocab_size())
