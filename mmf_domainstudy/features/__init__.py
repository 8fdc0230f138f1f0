"""Region features from images, stored in MMF's LMDB format."""
from mmf_domainstudy.features.backbones import DEFAULT_BACKBONE, load_backbone
from mmf_domainstudy.features.extract import ExtractionSummary, extract_features, extract_from_source
from mmf_domainstudy.formats.feature_store import read_feature_dim
from mmf_domainstudy.features.easy_vqa import easy_vqa_paths, prepare_easy_vqa
