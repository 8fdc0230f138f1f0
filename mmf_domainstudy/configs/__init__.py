"""The yaml configs MMF's PyPI sdist does not ship (upstream issue #479), under ``configs/mmf/``.

They keep MMF's relative layout: ``configs/models/visual_bert/pretrain.yaml`` is
``configs/mmf/models/visual_bert/pretrain.yaml`` here. Only yaml lookups are
redirected (``compat/config_paths.py``); data paths resolve exactly as MMF resolves them.
"""
import os

BUNDLED_MMF_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mmf")


def bundled_config_path(relative_path):
    """Map MMF's ``configs/...`` path to the bundled copy, or None."""
    parts = os.path.normpath(relative_path).split(os.sep)
    if parts[0] != "configs":
        return None
    candidate = os.path.join(BUNDLED_MMF_CONFIGS, *parts[1:])
    return candidate if os.path.isfile(candidate) else None
