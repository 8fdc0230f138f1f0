"""An MMF trainer built and loaded in this process, set up the way ``mmf_run`` sets one up.

For the benchmarks and tests that drive a trainer update by update.
"""
import argparse

from mmf.common.registry import registry
from mmf.utils.build import build_trainer
from mmf.utils.configuration import Configuration
from mmf.utils.env import set_seed
from mmf.utils.logger import Logger


def build_loaded_trainer(opts, config_override=None):
    """What ``mmf_run`` does with ``opts`` before training: config, seed, registry entries, ``load()``."""
    config = Configuration(argparse.Namespace(opts=list(opts), config_override=config_override)).get_config()
    set_seed(config.training.seed)
    registry.register("config", config)
    registry.register("configuration", None)
    registry.register("writer", Logger(config))
    trainer = build_trainer(config)
    trainer.load()
    return trainer
