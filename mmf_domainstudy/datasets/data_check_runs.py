"""The data check of many runs before any starts: a 1,566-run grid must not fail at run 900.

Each run is an MMF command line. Its config is built with MMF's own Configuration,
from the config files and only the overrides that decide which files are read (a
seed, a fraction or a save dir does not): runs that agree on those share one
build, so a grid costs one build (0.2-0.8 s on 2 cores) per distinct config, dataset and model
(benchmarks/data_check_grid.py).
"""
import argparse
import contextlib
import dataclasses
import io
import json
import os
import tempfile
import warnings
from typing import Sequence

from mmf.common.registry import registry
from mmf.utils.configuration import Configuration

from mmf_domainstudy.compat.input_checks import ConfigError
from mmf_domainstudy.datasets.data_check import MissingDataFiles, missing_files_message, run_context, run_data_files
from mmf_domainstudy.datasets.options import DATASET_OPTION_DEFAULTS

# Command-line keys that decide a run's data files, besides dataset_config.<name>.* .
FILE_DECIDING_KEYS = {"model", "dataset", "datasets", "run_type", "training.run_type", "env.data_dir", "env.user_dir"}
# dataset_config.<name>.<option>s that change samples, not files (the plugin's options and rc10's reading options).
SAMPLE_OPTIONS = set(DATASET_OPTION_DEFAULTS) | {"max_features", "fast_read", "return_features_info", "depth_first"}


@dataclasses.dataclass(frozen=True)
class RunCommand:
    """One run: its name and ``mmf_run``'s arguments.

    ``configs`` (a base config, then overlays merged in order, as ``includes:``) replaces
    any ``config=`` in ``opts``: a study checks its runs before writing their configs.
    """

    name: str
    opts: Sequence[str]
    configs: Sequence[str] = ()


def decides_files(opt):
    key = opt.split("=", 1)[0]
    if key in FILE_DECIDING_KEYS:
        return True
    parts = key.split(".")
    return parts[0] == "dataset_config" and len(parts) >= 3 and parts[2].split("[")[0] not in SAMPLE_OPTIONS


def _config_files(command):
    if command.configs:
        return tuple(os.path.abspath(path) for path in command.configs)
    given = [opt.split("=", 1)[1] for opt in command.opts if opt.startswith("config=")]
    return tuple(os.path.abspath(path) for path in given[-1:])


def _config_argument(config_files, folder):
    """``config=`` for MMF: the one file, or a file including them all in order."""
    if len(config_files) <= 1:
        return [f"config={path}" for path in config_files]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=folder, delete=False) as composed:
        json.dump({"includes": list(config_files)}, composed)  # json is yaml
    return [f"config={composed.name}"]


def build_config(opts):
    """MMF's config for ``opts``, built as ``mmf_run`` builds it (registered as the global config)."""
    # rc10 prints "Overriding option ..." per override and warns about the config's dotted keys and the device
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Configuration(argparse.Namespace(opts=list(opts), config_override=None)).get_config()


@contextlib.contextmanager
def _global_config_kept():
    """Building configs registers each as MMF's global config; put back the one that was there."""
    previous = registry.get("config", no_warning=True)
    try:
        yield
    finally:
        if previous is None:
            registry.unregister("config")
        else:
            registry.register("config", previous)


def data_files_of_runs(commands):
    """``{run name: (config, [DataFile])}``, one config build per distinct file-deciding command line."""
    by_command, files = {}, {}
    with tempfile.TemporaryDirectory(prefix="data_check_") as folder, _global_config_kept():
        for command in commands:
            config_files = _config_files(command)
            deciding = tuple(opt for opt in command.opts if not opt.startswith("config=") and decides_files(opt))
            key = (config_files, deciding)
            if key not in by_command:
                try:
                    config = build_config(_config_argument(config_files, folder) + list(deciding))
                    by_command[key] = (config, run_data_files(config))  # paths resolve against this config
                except ConfigError as error:
                    raise ConfigError(f"run {command.name}: {error}") from error
            files[command.name] = by_command[key]
    return files


def check_runs(commands):
    """Raise MissingDataFiles naming, once, every file any run needs and lacks, with the runs needing it.

    Returns ``{run name: [DataFile]}`` when nothing is missing.
    """
    checked = data_files_of_runs(commands)
    needed_by, missing, configs = {}, {}, {}
    for name, (config, files) in checked.items():
        for data_file in (f for f in files if not f.present):
            names = needed_by.setdefault(data_file.path, [])
            if name not in names:
                names.append(name)
            missing.setdefault((data_file.path, data_file.key), data_file)
            configs.setdefault(id(config), config)
    if missing:
        missing = list(missing.values())
        context = run_context(list(configs.values()), missing)
        if len(checked) > 1:
            lacking = len({name for names in needed_by.values() for name in names})
            context = f"{lacking} of {len(checked)} runs; {context}"
        message = missing_files_message(missing, context, needed_by if len(checked) > 1 else None)
        raise MissingDataFiles(message, missing)
    return {name: files for name, (_, files) in checked.items()}
