"""An MMF trainer built and loaded in this process, set up the way ``mmf_run`` sets one up.

For the benchmarks and tests that drive a trainer update by update.
"""
import argparse
import logging

from mmf.common.registry import registry
from mmf.utils import logger as mmf_logger
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
    _detach_previous_run_logs()
    registry.register("writer", Logger(config))
    trainer = build_trainer(config)
    trainer.load()
    return trainer


def _detach_previous_run_logs():
    """rc10's Logger adds its handlers when built, and ``mmf_run`` builds one per process;
    a second build in this process would print every line twice and keep writing into
    the previous run's log files."""
    for name in (mmf_logger.__name__, "py.warnings"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
