"""mmf-domainstudy: which data should a vision-and-language model pretrain on?

Importing the package makes MMF 1.0.0rc10 work on today's stack and registers
every plugin component (datasets, trainer, models, zoo hooks) with MMF's
registry, so MMF's own APIs and ``mmf_run`` can be used directly afterwards.
"""
import sys

from mmf_domainstudy import compat

__version__ = "0.1.0"

_ACTIVE = False


def activate():
    """Run the after-import shims and register the plugin's components, once."""
    global _ACTIVE
    if _ACTIVE:
        return
    _ACTIVE = True
    compat.after_mmf()
    from mmf_domainstudy import registration
    from mmf_domainstudy.zoo import install_local_zoo_hooks

    install_local_zoo_hooks()

    registration.register_all()


def _hook_is_loading_mmf():
    bootstrap = sys.modules.get("mmf_domainstudy_bootstrap")
    return bootstrap is not None and bootstrap.MMF_LOADING


compat.before_mmf()
if not _hook_is_loading_mmf():  # otherwise the hook activates us once mmf is loaded
    import mmf  # noqa: E402,F401

    activate()
