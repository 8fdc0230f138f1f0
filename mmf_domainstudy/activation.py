"""The one place that turns the plugin on: shims before ``import mmf``, then after it, then registration.

Two ways in, one path: the ``.pth`` import hook runs ``before_mmf()``, lets MMF's
``__init__`` execute, then calls ``activate()``; an entry point calls ``activate()``
itself, whose ``import mmf`` then goes through the hook (if installed) or runs
directly after the before-import shims.
"""
_ACTIVE = False


def before_mmf():
    from mmf_domainstudy import compat

    compat.before_mmf()


def activate():
    global _ACTIVE
    if _ACTIVE:
        return
    _ACTIVE = True
    before_mmf()
    import mmf  # noqa: F401  (with the hook installed this re-enters activate(), which returns at once)

    from mmf_domainstudy import compat, registration

    compat.after_mmf()
    registration.register_all()
