"""The caption pretraining sources, registered under the names users pass as ``dataset=``.

``masked_coco`` and ``masked_conceptual_captions`` replace rc10's builders of
those names (same config keys, same yaml paths) with the fixed caption dataset
and the subset options; ``masked_cc_small`` and ``masked_ccg`` are new.
"""
from mmf.common.registry import registry

from mmf_domainstudy.datasets.captions import MaskedCaptionsDataset
from mmf_domainstudy.datasets.masked import MaskedPretrainingBuilder


@registry.register_builder("masked_coco")
class MaskedCOCOBuilder(MaskedPretrainingBuilder):
    """COCO captions, Karpathy train images (the paper's COCO)."""

    def __init__(self):
        super().__init__("masked_coco", MaskedCaptionsDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/coco/masked.yaml"


@registry.register_builder("masked_conceptual_captions")
class MaskedConceptualCaptionsBuilder(MaskedPretrainingBuilder):
    """Conceptual Captions, all of it (the paper's CC-full)."""

    def __init__(self):
        super().__init__("masked_conceptual_captions", MaskedCaptionsDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/conceptual_captions/masked.yaml"


@registry.register_builder("masked_cc_small")
class MaskedCCSmallBuilder(MaskedPretrainingBuilder):
    """A fixed, seeded 10 % of Conceptual Captions (``source_fraction``); see tools/make_subset.py."""

    def __init__(self):
        super().__init__("masked_cc_small", MaskedCaptionsDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/cc_small/masked.yaml"


@registry.register_builder("masked_ccg")
class MaskedCCGBuilder(MaskedPretrainingBuilder):
    """Generated captions (a captioner trained on COCO) over any image set's features; CC's by default."""

    def __init__(self):
        super().__init__("masked_ccg", MaskedCaptionsDataset)

    @classmethod
    def config_path(cls):
        return "configs/datasets/ccg/masked.yaml"
