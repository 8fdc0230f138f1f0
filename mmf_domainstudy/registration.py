"""Imports every module whose decorators register a component with MMF."""
import importlib

REGISTERING_MODULES = [
    "mmf_domainstudy.trainers.domain_study_trainer",
    "mmf_domainstudy.datasets.answer_scores",
    "mmf_domainstudy.datasets.caption_sources",
    "mmf_domainstudy.datasets.masked_vqa_p",
    "mmf_domainstudy.datasets.downstream",
    "mmf_domainstudy.datasets.easy_vqa",
    "mmf_domainstudy.captioning.caption_loss",
    "mmf_domainstudy.captioning.caption_pairs",
    "mmf_domainstudy.captioning.region_captioner",
]


def register_all():
    for name in REGISTERING_MODULES:
        importlib.import_module(name)
