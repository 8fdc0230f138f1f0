"""Compatibility layer: MMF 1.0.0rc10 on today's Python, torch and transformers.

``before_mmf()`` must run before the first ``import mmf`` (the package's import
hook does it); ``after_mmf()`` right after. Each shim is applied only when its
problem is detected; ``applied_shims()`` lists what changed. See SHIMS for the
reasons, one line each.
"""
# Registration order is application order: torchvision first, since transformers imports it.
from . import torchvision_ops  # noqa: F401,I001
from . import legacy_imports, devices, mmf_fixes, config_paths  # noqa: F401,E402,I001
# Shims that check a run's config before anything is written nest in this order; the save-dir check
# (input_checks, which creates env.save_dir) must come after the data-file and metric-name checks.
from . import zoo_resolvers, command_line_values, data_files, metrics  # noqa: F401,E402,I001
from . import input_checks, input_files, one_line_errors  # noqa: F401,E402,I001
from .registry import AFTER_MMF, APPLIED, BEFORE_MMF, SHIMS, apply_phase


def before_mmf():
    apply_phase(BEFORE_MMF)


def after_mmf():
    apply_phase(AFTER_MMF)


def applied_shims():
    return list(APPLIED)


def describe_shims():
    return {name: item.reason for name, item in SHIMS.items()}
