"""MMF's yaml configs, which the rc10 sdist does not ship (upstream issue #479).

The project bundles its own under ``mmf_domainstudy/configs/mmf/`` with MMF's
relative layout (``configs/models/visual_bert/pretrain.yaml`` is found at
``mmf/models/visual_bert/pretrain.yaml``). Only yaml lookups are redirected;
data paths resolve exactly as MMF resolves them.
"""
import os

from .registry import AFTER_MMF, shim

BUNDLED_MMF_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "mmf")


def bundled_config_path(relative_path):
    """Map MMF's ``configs/...`` path to the bundled copy, or None."""
    parts = os.path.normpath(relative_path).split(os.sep)
    if parts[0] != "configs":
        return None
    candidate = os.path.join(BUNDLED_MMF_CONFIGS, *parts[1:])
    return candidate if os.path.isfile(candidate) else None


def _mmf_ships_no_defaults():
    import mmf.utils.configuration as configuration

    return not os.path.isfile(configuration.get_default_config_path())


@shim(
    "bundled_mmf_configs",
    AFTER_MMF,
    "the mmf 1.0.0rc10 sdist ships no yaml configs (defaults, models, datasets, zoo)",
    detect=_mmf_ships_no_defaults,
)
def look_up_configs_in_bundle():
    import mmf.utils.configuration as configuration

    mmf_get_absolute_path = configuration.get_absolute_path

    def get_absolute_path(paths):
        resolved = mmf_get_absolute_path(paths)
        if isinstance(paths, str) and not os.path.exists(resolved):
            return bundled_config_path(paths) or resolved
        return resolved

    configuration.get_absolute_path = get_absolute_path
    configuration.get_default_config_path = lambda: os.path.join(BUNDLED_MMF_CONFIGS, "defaults.yaml")
