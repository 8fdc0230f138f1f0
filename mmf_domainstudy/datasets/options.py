"""The dataset options the plugin adds, with their defaults, in one place.

Each bundled dataset yaml also lists the options that apply to it, because MMF
only accepts command-line overrides (``dataset_config.vqa2.fraction=0.1``) of
keys present in the config; these defaults cover yaml files that lack them.
Values are read with ``in``, not ``config.get(key, default)``: OmegaConf 2.0's
``get`` returns the default for a key set to null.
"""
import numbers

from mmf_domainstudy.utils.config_values import parse_boolean

DATASET_OPTION_DEFAULTS = {
    # Which training samples a run sees (subsets.py); val/test are never subsampled.
    "fraction": 1.0,  # share of the source's training samples, in (0, 1]
    "source_fraction": 1.0,  # the source itself as a share of its annotation file (CC-small: 0.1)
    "source_num_samples": None,  # or as a count (VQA-P "len_coco": 113287); excludes source_fraction
    "subset_seed": 0,  # seed of the (nested, platform-stable) selection
    # Masked pretraining sources (masked.py).
    "use_image_feature_masks": False,  # masked region modelling (ViLBERT): mask regions, return image_labels
    "two_sentence": False,  # captions: add a second caption as segment B
    "two_sentence_probability": 0.5,  # ... taken from the same image with this probability, else another image
    "false_caption": False,  # captions: replace the caption by another image's ...
    "false_caption_probability": 0.5,  # ... with this probability
    "add_answer": True,  # VQA-P: one of the human answers as segment B
    # Region features as float16 from reader to device, float32 in the model (float16_features.py).
    "features_float16": False,
}

PROBABILITY_OPTIONS = ("two_sentence_probability", "false_caption_probability")


def option_key(dataset_name, key):
    return f"dataset_config.{dataset_name}.{key}"


def dataset_option(config, key):
    """``config[key]``, or the plugin's default when the yaml does not set it."""
    if key in config:
        return config[key]
    return DATASET_OPTION_DEFAULTS[key]


def boolean_option(config, key, dataset_name):
    return parse_boolean(dataset_option(config, key), option_key(dataset_name, key))


def check_probability(config, key, dataset_name):
    value = dataset_option(config, key)
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{option_key(dataset_name, key)}={value!r} is not a probability; give a number in [0, 1] "
            "(upstream CC's -0.1, 'segment B always from another image', is 0.0 here)"
        )
    return float(value)
