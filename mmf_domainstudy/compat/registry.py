"""A tiny registry of compatibility shims.

Every shim has a one-line reason (the upstream change it answers), a detector
that says whether the running stack has the problem, and a fix. Shims run at
most once, only when detected, and the applied ones are recorded so that logs
and tests can say exactly what was changed.
"""
import dataclasses
import logging
from typing import Callable, Dict, List

logger = logging.getLogger(__name__)

BEFORE_MMF = "before_mmf"
AFTER_MMF = "after_mmf"


@dataclasses.dataclass
class Shim:
    name: str
    phase: str
    reason: str
    detect: Callable[[], bool]
    apply: Callable[[], None]


SHIMS: Dict[str, Shim] = {}
APPLIED: List[str] = []


def shim(name, phase, reason, detect):
    """Decorator registering ``fn`` as the fix of shim ``name``."""

    def register(fn):
        assert name not in SHIMS, f"duplicate shim {name}"
        SHIMS[name] = Shim(name, phase, reason, detect, fn)
        return fn

    return register


def apply_phase(phase):
    for item in SHIMS.values():
        if item.phase != phase or item.name in APPLIED:
            continue
        if item.detect():
            item.apply()
            APPLIED.append(item.name)
            logger.debug("compat shim %s applied: %s", item.name, item.reason)
