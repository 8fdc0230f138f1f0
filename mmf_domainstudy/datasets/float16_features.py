"""Region features as float16 between the feature store and the model, per dataset.

With ``dataset_config.<name>.features_float16: true`` a dataset's region features leave
MMF's feature reader as float16: half the bytes in DataLoader worker queues, pinned
buffers and host-to-device copies (100 x 2048 features are 800 KB a sample in float32).
The model receives float32 again (``cast_float16_features``, on the device after the
copy), so the only change to the numbers is rounding the stored features to float16
(relative error <= 2**-11). Off by default (datasets/options.py): stores hold float32.
"""
import contextlib

import torch
from mmf.datasets import mmf_dataset
from mmf.datasets.databases.features_database import FeaturesDatabase

from mmf_domainstudy.datasets.options import dataset_option
from mmf_domainstudy.formats.feature_store import to_float16
from mmf_domainstudy.utils.config_values import parse_boolean

OPTION = "features_float16"


class Float16FeaturesDatabase(FeaturesDatabase):
    """MMF's FeaturesDatabase; its features come out float16 when the dataset opts in."""

    def _read_features_and_info(self, feat_file):
        features, infos = super()._read_features_and_info(feat_file)
        if wants_float16(self.config):
            features = [_as_float16(feature) for feature in features]
        return features, infos


def wants_float16(dataset_config):
    return parse_boolean(dataset_option(dataset_config, OPTION), f"dataset_config.<dataset>.{OPTION}")


def _as_float16(feature):
    if not torch.is_tensor(feature) or feature.dtype != torch.float32:
        return feature
    return torch.from_numpy(to_float16(feature.numpy()))


@contextlib.contextmanager
def float16_feature_reads():
    """While datasets are built: MMF's datasets create Float16FeaturesDatabase."""
    original = mmf_dataset.FeaturesDatabase
    mmf_dataset.FeaturesDatabase = Float16FeaturesDatabase
    try:
        yield
    finally:
        mmf_dataset.FeaturesDatabase = original


def cast_float16_features(module, args):
    """Forward pre-hook for an MMF model: float16 tensors of the sample list become float32."""
    sample_list = args[0]
    for key, value in list(sample_list.items()):
        if torch.is_tensor(value) and value.dtype == torch.float16:
            sample_list[key] = value.float()
