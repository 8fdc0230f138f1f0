"""Content digests of MMF config files, following ``includes:`` as MMF rc10 does.

A run's identity holds the digest of its config, so editing a config (or a file
it includes) reruns exactly the runs that use it. The digest is over the parsed
yaml, so comments and formatting never trigger a rerun.
"""
import hashlib
import importlib.machinery
import json
from pathlib import Path

import yaml

from mmf_domainstudy.configs import bundled_config_path
from mmf_domainstudy.utils.errors import ConfigError


def mmf_package_root():
    """MMF's package folder, found without importing mmf (its import is slow and patched)."""
    spec = importlib.machinery.PathFinder.find_spec("mmf")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_include(include, including_file):
    """Where MMF finds an include: under its package root, in the bundle, then beside the includer."""
    root = mmf_package_root()
    bundled = bundled_config_path(include)
    candidates = [root / include if root else None, bundled and Path(bundled), Path(including_file).parent / include]
    for candidate in candidates:
        if candidate and candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"{including_file}: include {include!r} not found (looked under MMF's package, the plugin's bundled "
        f"configs and {Path(including_file).parent}). Fix the path in 'includes:'."
    )


def read_config(path):
    try:
        content = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found.")
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid yaml: {error}")
    return {} if content is None else content


def config_digest(path, cache=None, _stack=()):
    """sha256 of a config's parsed content and, recursively, of everything it includes."""
    path = Path(path).resolve()
    cache = {} if cache is None else cache
    if path in _stack:
        chain = " -> ".join(str(p) for p in _stack + (path,))
        raise ConfigError(f"{path}: includes itself ({chain}). Remove the cycle.")
    if path not in cache:
        content = read_config(path)
        includes = content.get("includes", []) if isinstance(content, dict) else []
        if not isinstance(includes, list):
            raise ConfigError(f"{path}: 'includes' must be a list of paths, got {includes!r}.")
        included = [config_digest(resolve_include(i, path), cache, _stack + (path,)) for i in includes]
        canonical = json.dumps({"content": content, "includes": included}, sort_keys=True, default=str)
        cache[path] = hashlib.sha256(canonical.encode()).hexdigest()
    return cache[path]
