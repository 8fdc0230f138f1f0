"""MMF's yaml lookups find the configs the rc10 sdist does not ship (see ``mmf_domainstudy/configs``)."""
import os

from mmf_domainstudy.configs import BUNDLED_MMF_CONFIGS, bundled_config_path

from .registry import AFTER_MMF, shim


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
