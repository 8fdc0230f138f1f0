"""Imports every module whose decorators register a component with MMF."""
import importlib

REGISTERING_MODULES = [
    "mmf_domainstudy.trainers.domain_study_trainer",
    "mmf_domainstudy.datasets.caption_sources",
    "mmf_domainstudy.datasets.masked_vqa_p",
    "mmf_domainstudy.datasets.downstream",
]


def register_all():
    for name in REGISTERING_MODULES:
        importlib.import_module(name)
