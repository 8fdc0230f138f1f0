"""Let rc10 resolve local zoo keys offline, through its own entry points.

rc10 resolves a zoo key in ``download_pretrained_model`` (yaml lookup, download into
``<env.data_dir>/models/<key>``, ``.built.json``) and reads it in
``load_pretrained_model`` (plain ``torch.load``, config from the key's first segment).
Both are imported by name into several modules, so each of those names is rebound.
Keys not in the local zoo, and file paths, go to rc10's functions unchanged.
``get_zoo_config`` is not touched: rc10 uses it for dataset downloads only.
"""
import functools
import os

from mmf_domainstudy.zoo.artifact import read_artifact_dir
from mmf_domainstudy.zoo.errors import ArchitectureMismatchError, ZooError
from mmf_domainstudy.zoo.local_zoo import MODELS_YAML, find_entry, key_architecture, zoo_dir
from mmf_domainstudy.zoo.materialize import materialize

_MARK = "_mmf_domainstudy_local_zoo"
# (module, attribute) pairs that hold rc10's resolver functions after `import mmf`.
_DOWNLOAD_NAMES = (
    ("mmf.utils.download", "download_pretrained_model"),
    ("mmf.utils.checkpoint", "download_pretrained_model"),
    ("mmf.models.base_model", "download_pretrained_model"),
    ("mmf.modules.encoders", "download_pretrained_model"),
)
_LOAD_NAMES = (
    ("mmf.models.base_model", "load_pretrained_model"),
    ("mmf.models.mmbt", "load_pretrained_model"),
)


def _models_dir():
    """Where rc10 keeps zoo models: ``<env.data_dir>/models``."""
    from mmf.utils.configuration import get_mmf_env
    from mmf.utils.general import get_absolute_path

    return os.path.join(get_absolute_path(get_mmf_env("data_dir")), "models")


def _require_in_rc10_zoo(model_name):
    """rc10 meets a key its zoo lacks with a bare TypeError; name both zoos instead."""
    from mmf.utils.configuration import get_mmf_env, load_yaml
    from omegaconf import OmegaConf

    rc10_zoo = get_mmf_env(key="model_zoo")
    if OmegaConf.select(load_yaml(rc10_zoo), model_name) is None:
        raise ZooError(
            f"zoo key {model_name!r} is in neither the local zoo "
            f"({os.path.join(zoo_dir(), MODELS_YAML)}) nor MMF's zoo ({rc10_zoo}). "
            "`python tools/zoo.py list` shows the local keys; export or import the model first."
        )


def _local_download(original):
    @functools.wraps(original)
    def download_pretrained_model(model_name, *args, **kwargs):
        if find_entry(model_name) is None:
            _require_in_rc10_zoo(model_name)
            return original(model_name, *args, **kwargs)
        from mmf.utils import distributed

        models_dir = _models_dir()
        if distributed.is_master():
            materialize(model_name, models_dir)
        distributed.synchronize()
        return os.path.join(models_dir, model_name)

    setattr(download_pretrained_model, _MARK, True)
    return download_pretrained_model


def _running_model():
    from mmf.common.registry import registry

    config = registry.get("config", no_warning=True)
    return config.get("model") if config else None


def _local_load(original, download, check_running_model):
    @functools.wraps(original)
    def load_pretrained_model(model_name_or_path, *args, **kwargs):
        entry = None if os.path.exists(model_name_or_path) else find_entry(model_name_or_path)
        if entry is None:
            return original(model_name_or_path, *args, **kwargs)
        architecture = key_architecture(model_name_or_path)
        running = _running_model() if check_running_model else None
        if running and running != architecture:
            raise ArchitectureMismatchError(
                f"zoo key {model_name_or_path!r} holds {architecture} weights but this "
                f"run's model is {running}; use a key starting with '{running}.'."
            )
        directory = download(model_name_or_path, *args, **kwargs)
        return read_artifact_dir(
            directory, architecture, trust_remote=entry.get("trust_remote", False)
        )

    setattr(load_pretrained_model, _MARK, True)
    return load_pretrained_model


def install_local_zoo_hooks():
    """Rebind rc10's zoo resolvers to consult the local zoo first; idempotent.

    Call once after ``import mmf``. ``mmf.utils.checkpoint.load_pretrained_model`` (used
    by ``checkpoint.resume_zoo``) also refuses a key whose architecture differs from the
    running config's ``model``; ``from_pretrained`` checks that itself.
    """
    import importlib

    download_module = importlib.import_module("mmf.utils.download")
    if getattr(download_module.download_pretrained_model, _MARK, False):
        return
    download = _local_download(download_module.download_pretrained_model)
    for module_name, attribute in _DOWNLOAD_NAMES:
        setattr(importlib.import_module(module_name), attribute, download)

    checkpoint_module = importlib.import_module("mmf.utils.checkpoint")
    original_load = checkpoint_module.load_pretrained_model
    checkpoint_module.load_pretrained_model = _local_load(original_load, download, True)
    plain_load = _local_load(original_load, download, False)
    for module_name, attribute in _LOAD_NAMES:
        setattr(importlib.import_module(module_name), attribute, plain_load)
