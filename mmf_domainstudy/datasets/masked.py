"""What every pretraining source shares: one masked image-text sample per access.

A sample carries what rc10's pretraining heads consume: ``input_ids``,
``input_mask``, ``segment_ids``, ``lm_label_ids`` (-1 where no token is masked)
and ``is_correct`` from MMF's ``masked_token`` processor; the image's
``image_feature_0`` and ``image_info_0`` (``max_features``, ``bbox``,
``cls_prob``); and, with ``use_image_feature_masks``, ``image_labels`` for
ViLBERT's masked region loss. Sources differ only in their text
(``text_segments``), so every source is masked by the same code.
"""
import functools

from mmf.common.sample import Sample
from mmf.datasets.mmf_dataset import MMFDataset
from mmf.datasets.mmf_dataset_builder import MMFDatasetBuilder

from mmf_domainstudy.datasets.options import boolean_option, option_key
from mmf_domainstudy.datasets.regions import mask_regions
from mmf_domainstudy.datasets.subsets import TrainingSubsetMixin
from mmf_domainstudy.formats.errors import DataFormatError


class MaskedPretrainingDataset(MMFDataset):
    def __init__(self, config, dataset_type, index, dataset_name):
        super().__init__(dataset_name, config, dataset_type, index)
        self._mask_regions = boolean_option(config, "use_image_feature_masks", dataset_name)
        if self._mask_regions and not (self._use_features and config.get("return_features_info", True)):
            raise ValueError(
                f"{option_key(dataset_name, 'use_image_feature_masks')}=true needs region features and their info: "
                f"set {option_key(dataset_name, 'use_features')}=true and "
                f"{option_key(dataset_name, 'return_features_info')}=true"
            )

    def text_segments(self, sample_info):
        """``(segment A, segment B or None, is_correct)`` for one access of ``sample_info``."""
        raise NotImplementedError

    def __getitem__(self, idx):
        sample_info = self.annotation_db[idx]
        sample = Sample()
        if self._use_features:
            sample.update(self._region_features(idx))
        text_a, text_b, is_correct = self.text_segments(sample_info)
        processed = self.masked_token_processor({"text_a": text_a, "text_b": text_b, "is_correct": is_correct})
        processed.pop("tokens")
        sample.update(processed)
        return sample

    def _region_features(self, idx):
        features = self.features_db[idx]
        if self._mask_regions:
            num_regions = features["image_info_0"]["max_features"]
            masked, labels = mask_regions(features["image_feature_0"], num_regions)
            features["image_feature_0"], features["image_labels"] = masked, labels
        return features

    def sample_field(self, sample_info, key):
        """``sample_info[key]``, or a bad-input error naming the annotation file and the key to fix."""
        if key not in sample_info:
            annotations = self._get_path_based_on_index(self.config, "annotations", self._index)
            raise DataFormatError(
                f"annotation file {annotations}: a {self.dataset_name} {self.dataset_type} sample lacks '{key}' "
                f"(it has {sorted(sample_info)}); point dataset_config.{self.dataset_name}.annotations."
                f"{self.dataset_type} at annotation files of this source's format"
            )
        return sample_info[key]


class MaskedPretrainingBuilder(TrainingSubsetMixin, MMFDatasetBuilder):
    """A builder of one masked source: its name, its dataset class and its bundled yaml."""

    def __init__(self, dataset_name, dataset_class):
        super().__init__(dataset_name, functools.partial(dataset_class, dataset_name=dataset_name))
