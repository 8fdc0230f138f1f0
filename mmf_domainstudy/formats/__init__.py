"""Readers and writers of MMF's on-disk formats (imdb .npy, jsonl, LMDB and .npy features)."""
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import (
    FeatureStore,
    check_annotations_against_store,
    feature_path_for_sample,
    read_feature_dim,
    read_feature_info,
    write_feature_info,
)
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb
from mmf_domainstudy.formats.jsonl import read_jsonl, write_jsonl
from mmf_domainstudy.formats.layout import default_data_dir
from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter, check_lmdb_intact
from mmf_domainstudy.formats.npy_features import read_npy_features, write_npy_features
from mmf_domainstudy.formats.safe_pickle import RestrictedUnpickler, safe_loads
