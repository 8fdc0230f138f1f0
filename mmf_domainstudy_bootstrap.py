"""Import hook installed by mmf-domainstudy's ``.pth`` file.

It costs nothing until something imports ``mmf``: then the compatibility layer
runs first, MMF imports, and the plugin registers its components, so the stock
``mmf_run`` (which imports mmf before any user_dir) sees them. Set
``MMF_DOMAINSTUDY_NO_HOOK=1`` to get MMF exactly as installed.
"""
import importlib.abc
import importlib.machinery
import os
import sys


class _ActivatingLoader(importlib.abc.Loader):
    def __init__(self, wrapped):
        self.wrapped = wrapped

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module):
        from mmf_domainstudy import activation

        activation.before_mmf()
        self.wrapped.exec_module(module)
        activation.activate()


class MMFImportHook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "mmf":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ActivatingLoader(spec.loader)
        return spec


def install():
    if os.environ.get("MMF_DOMAINSTUDY_NO_HOOK") == "1" or "mmf" in sys.modules:
        return
    if not any(isinstance(finder, MMFImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, MMFImportHook())


install()
