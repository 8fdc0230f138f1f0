"""Bad input that rc10 meets late or cryptically, checked up front with one clear message.

rc10 only warns about an unknown model or dataset (then fails on an omegaconf
internal error, or exits 1 with the reason in the log file), silently accepts a
misspelled key in a yaml (the setting is just ignored), reports a misspelled
command-line key as a bare AttributeError, and meets a read-only save dir with a
traceback from its logger. Each check raises ConfigError (or WriteFailedError)
naming the input at fault and the fix; ``python -m mmf_domainstudy.run`` prints
those as one ``error:`` line.
"""
import difflib

from mmf_domainstudy.utils.errors import ConfigError

from .registry import AFTER_MMF, shim


# Keys of defaults.yaml under which any key is allowed; elsewhere defaults.yaml lists every key.
FREE_FORM_KEYS = {"model_config", "dataset_config", "optimizer", "scheduler", "checkpoint.pretrained_state_mapping"}
# Old keys that rc10's Configuration.upgrade() still accepts and moves to their new place.
LEGACY_KEYS = {
    "training.resume_file", "training.resume", "training.resume_best", "training.load_pretrained",
    "training.pretrained_state_mapping", "training.run_type",
}


def _did_you_mean(name, candidates, prefix=""):
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f" (did you mean {prefix}{match[0]}?)" if match else ""


def _known(kind, name, mapping_name):
    from mmf.common.registry import registry

    registered = sorted(registry.mapping[mapping_name])
    if name in registered:
        return
    raise ConfigError(
        f"{kind}={name!r} is not a registered {kind}{_did_you_mean(name, registered)}; "
        f"use one of: {', '.join(registered)}"
    )


def unknown_keys(config, reference, prefix=""):
    """``(dotted key, keys allowed beside it)`` for each key of ``config`` that ``reference`` lacks."""
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if dotted in FREE_FORM_KEYS or dotted in LEGACY_KEYS:
            continue
        if key not in reference:
            yield dotted, list(reference)
        elif isinstance(value, dict) and isinstance(reference[key], dict):
            yield from unknown_keys(value, reference[key], f"{dotted}.")


def _unknown_override(config, opts):
    """``(dotted key, its parent, the missing field, keys allowed there)`` for the first override naming a
    missing key."""
    for opt in opts:
        key = opt.split("=", 1)[0]
        key = "datasets" if key == "dataset" else key
        node, parts = config, key.split(".")
        for index, part in enumerate(parts):
            if "[" in part or not isinstance(node, dict):
                break
            if part not in node:
                return key, ".".join(parts[:index]), part, list(node)
            node = node[part]
    return None


def config_file_list(config_option):
    """``config=a.yaml,b.yaml``: the files in merge order (each later one overlays the earlier)."""
    if config_option is None:
        return []
    return [path.strip() for path in str(config_option).split(",") if path.strip()]


def dataset_names(datasets):
    return [name.strip() for name in str(datasets or "").split(",") if name.strip()]


def _named_by_config_or_command_line(configuration, given, key, example):
    """The model or datasets of a run: the command line's, else the config file's; they must agree.

    rc10 reads both only from the command line, although every experiment config names them.
    """
    from omegaconf import OmegaConf

    named = configuration._user_config.get(key) if configuration._user_config else None
    if OmegaConf.is_list(named):
        named = ",".join(named)
    if given is None:
        if not named:
            raise ConfigError(f"no {key.rstrip('s')} given: the config does not name one; "
                              f"add {example} to the command line")
        return named
    if named and dataset_names(given) != dataset_names(named):
        raise ConfigError(
            f"{key.rstrip('s')}={given} on the command line contradicts config {configuration.config_path}, "
            f"which sets {key}: {named}; drop {key.rstrip('s')}= from the command line or use a config for {given}"
        )
    return given


@shim(
    "clear_config_errors",
    AFTER_MMF,
    "rc10 warns about an unknown model or dataset and fails later on an unrelated error, ignores misspelled "
    "yaml keys and reports misspelled command-line keys as a bare AttributeError; it also reads model and "
    "dataset only from the command line (now also from the config) and takes one config file (now "
    "config=a.yaml,b.yaml overlays b on a)",
    detect=lambda: True,
)
def check_configs_up_front():
    from mmf.utils import configuration
    from omegaconf import OmegaConf

    Configuration = configuration.Configuration
    build_user_config = Configuration._build_user_config
    build_model_config = Configuration._build_model_config
    build_dataset_config = Configuration._build_dataset_config
    merge_with_dotlist = Configuration._merge_with_dotlist

    def _build_user_config(self, opts):
        paths = config_file_list(opts.config)
        self.config_path = opts.config
        if not paths:
            return build_user_config(self, opts)
        user_config = OmegaConf.create()
        for path in paths:
            try:
                user_config = OmegaConf.merge(user_config, configuration.load_yaml(path))
            except FileNotFoundError as error:
                raise ConfigError(f"config={path}: {error.filename} does not exist; fix the path") from error
        defaults = OmegaConf.to_container(self._default_config, resolve=False)
        for key, allowed in unknown_keys(OmegaConf.to_container(user_config, resolve=False), defaults):
            parent = key.rpartition(".")[0]
            raise ConfigError(
                f"config {opts.config} (or a file it includes) sets {key}, which is not a config key"
                f"{_did_you_mean(key.rpartition('.')[2], allowed, f'{parent}.' if parent else '')}; "
                "rc10 would silently ignore it: fix or remove it"
            )
        return user_config

    def _build_model_config(self, config):
        config.model = _named_by_config_or_command_line(self, config.model, "model", "model=visual_bert")
        _known("model", config.model, "model_name_mapping")
        return build_model_config(self, config)

    def _build_dataset_config(self, config):
        given = config.datasets or config.dataset
        config.datasets = _named_by_config_or_command_line(self, given, "datasets", "dataset=vqa2")
        for name in dataset_names(config.datasets):
            _known("dataset", name, "builder_name_mapping")
        return build_dataset_config(self, config)

    def _merge_with_dotlist(self, config, opts):
        try:
            return merge_with_dotlist(self, config, opts)
        except AttributeError as error:
            unknown = _unknown_override(OmegaConf.to_container(config, resolve=False), opts or [])
            if unknown is None:
                raise
            key, parent, field, allowed = unknown
            raise ConfigError(
                f"{key}=... on the command line: {parent or 'the config'} has no key {field!r}"
                f"{_did_you_mean(field, allowed, f'{parent}.' if parent else '')}; "
                "MMF only overrides keys that exist: fix the name"
            ) from error

    Configuration._build_user_config = _build_user_config
    Configuration._build_model_config = _build_model_config
    Configuration._build_dataset_config = _build_dataset_config
    Configuration._merge_with_dotlist = _merge_with_dotlist


# What each training-length key must be for a training run to do any update, and its fix.
TRAINING_LENGTH = {
    "training.max_updates": ("update", "set training.max_updates to the number of updates to run, or set "
                                       "training.max_epochs (max_updates is then not used)"),
    "training.max_epochs": ("epoch", "set training.max_epochs to at least 1, or to null to train for "
                                     "training.max_updates"),
}


def check_run_trains(config):
    """A training run must do at least one update; rc10 accepts max_updates <= 0, trains nothing and
    evaluates whatever checkpoint the save dir holds, rewriting that run's config.yaml and metrics.json."""
    if "train" not in str(config.run_type):
        return
    if config.training.max_epochs is not None:  # rc10 then trains by epochs and ignores max_updates
        key, value = "training.max_epochs", config.training.max_epochs
    else:
        key, value = "training.max_updates", config.training.max_updates
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1:
        return
    unit, fix = TRAINING_LENGTH[key]
    raise ConfigError(
        f"{key}={value}: a training run needs at least 1 {unit}; {fix}; to evaluate without training, "
        "use run_type=val"
    )


@shim(
    "no_update_runs",
    AFTER_MMF,
    "rc10 accepts training.max_updates <= 0, trains nothing, evaluates a stale checkpoint and rewrites the "
    "earlier run's config.yaml; refuse it before anything is written",
    detect=lambda: True,
)
def check_training_length_before_logging():
    check_after_build_config(check_run_trains)


@shim(
    "writable_save_dir",
    AFTER_MMF,
    "rc10's logger meets a read-only or full env.save_dir with a traceback; check it before anything is written",
    detect=lambda: True,
)
def check_save_dir_before_logging():
    from mmf.utils.configuration import get_mmf_env

    from mmf_domainstudy.utils.atomic import check_writable_dir

    def check_save_dir(config):
        for key in ("save_dir", "log_dir"):
            if get_mmf_env(key=key):
                check_writable_dir(get_mmf_env(key=key), elsewhere=f"set env.{key} to a writable folder")

    check_after_build_config(check_save_dir)


def check_after_build_config(check):
    """Run ``check(config)`` on each run's final config, before MMF's logger writes anything.

    The checks nest in the order they are applied, the last applied running last (the
    save-dir check, which creates env.save_dir, is applied last). mmf_cli.run binds
    build_config by name when it is imported; the stock ``mmf_run`` activates the plugin
    from inside that import (its ``import mmf``), before the binding, so patching the source
    module suffices there. mmf_cli.run is rebound too only when it is already fully imported.
    """
    import sys

    from mmf.utils import build

    build_config = build.build_config

    def build_config_then_check(configuration, *args, **kwargs):
        config = build_config(configuration, *args, **kwargs)
        check(config)
        return config

    build.build_config = build_config_then_check
    cli_run = sys.modules.get("mmf_cli.run")
    if getattr(cli_run, "build_config", None) is build_config:
        cli_run.build_config = build_config_then_check
