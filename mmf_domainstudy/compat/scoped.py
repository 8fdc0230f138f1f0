"""Scoped rebinding of one rc10 name, for one call.

rc10's BaseTrainer calls some functions inline (``build_model``, ``Checkpoint``,
``_add_extra_args_for_dataloader``). The ``domain_study`` trainer makes it call the
plugin's versions for the duration of the call that needs them, instead of copying
rc10's methods; ``SWAPS_USED`` records each swap made in this process, so the
trainer's log can name them.
"""
import contextlib

SWAPS_USED = {}  # "mmf.module.name" -> "plugin.module.function", in first-use order


def describe(function):
    return f"{function.__module__}.{function.__qualname__.replace('.<locals>', '')}"


@contextlib.contextmanager
def swapped(module, name, replacement):
    """``module.name`` is ``replacement`` inside the block, the original again after it (even on error)."""
    original = getattr(module, name)
    SWAPS_USED.setdefault(f"{module.__name__}.{name}", describe(replacement))
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)
