"""The local zoo: a directory holding an MMF-format ``models.yaml`` and its artifacts.

Entries nest like rc10's own zoo yaml, so a key is a dotted path to a node carrying
``version`` and ``resources`` (``file_name``, ``hashcode`` = sha256, ``url``). A key
starts with the architecture (``visual_bert.domain_study.vqa_p.full``) because rc10's
``from_pretrained`` and ``load_pretrained_model`` read the model name from its first
segment. Artifact urls are relative to the zoo dir, so a zoo can be copied elsewhere
(e.g. to a cluster) as a whole.
"""
import contextlib
import datetime
import fcntl
import os
import re

import yaml

from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.zoo.checkpoints import ARCHITECTURES
from mmf_domainstudy.zoo.errors import ZooError

ZOO_ENV = "MMF_DOMAINSTUDY_ZOO"
DEFAULT_ZOO = "~/.cache/mmf_domainstudy/zoo"
MODELS_YAML = "models.yaml"
ARTIFACTS_DIR = "artifacts"
# Names rc10 gives meaning to inside a zoo node; a key segment must not shadow them.
_RESERVED_SEGMENTS = {"version", "resources", "defaults", "zoo_requirements"}
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


def zoo_dir(path=None):
    """The zoo dir: ``path``, else ``$MMF_DOMAINSTUDY_ZOO``, else ``~/.cache/...``."""
    chosen = path or os.environ.get(ZOO_ENV) or DEFAULT_ZOO
    return os.path.abspath(os.path.expanduser(chosen))


def validate_key(key):
    """Refuse keys rc10 could not resolve or that would clash with zoo fields."""
    segments = key.split(".")
    bad = [s for s in segments if not _SEGMENT.match(s) or s in _RESERVED_SEGMENTS]
    if len(segments) < 2 or bad:
        raise ZooError(
            f"zoo key {key!r} is invalid: use dot-separated segments of letters, digits, "
            f"'_' or '-' (not {sorted(_RESERVED_SEGMENTS)}), at least two of them, e.g. "
            "'visual_bert.domain_study.vqa_p.full'."
        )
    if segments[0] not in ARCHITECTURES:
        raise ZooError(
            f"zoo key {key!r} must start with the architecture ({' or '.join(ARCHITECTURES)}): "
            "rc10 takes the model name from the key's first segment, e.g. "
            f"'visual_bert.{'.'.join(segments)}'."
        )


def key_architecture(key):
    return key.split(".")[0]


def _models_yaml(zoo):
    return os.path.join(zoo, MODELS_YAML)


def read_zoo(zoo=None):
    """The zoo yaml as a nested dict (empty when the zoo does not exist yet)."""
    path = _models_yaml(zoo_dir(zoo))
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as handle:
            tree = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ZooError(f"{path}: not valid yaml ({error}); fix or restore the file.") from error
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ZooError(f"{path}: expected a mapping of zoo keys, found {type(tree).__name__}.")
    return tree


def is_entry(node):
    return isinstance(node, dict) and "version" in node and "resources" in node


def iter_entries(tree, prefix=""):
    """``(key, entry)`` for every entry under ``tree``, in key order."""
    for name in sorted(tree):
        node = tree[name]
        key = f"{prefix}{name}"
        if is_entry(node):
            yield key, node
        elif isinstance(node, dict):
            yield from iter_entries(node, key + ".")


def select(tree, key):
    """The node at dotted ``key`` in a nested zoo dict, or None."""
    node = tree
    for segment in key.split("."):
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node


def find_entry(key, zoo=None):
    """The local zoo's entry for ``key``, or None."""
    node = select(read_zoo(zoo), key)
    return node if is_entry(node) else None


def require_entry(key, zoo=None):
    entry = find_entry(key, zoo)
    if entry is None:
        raise ZooError(
            f"zoo key {key!r} is not in the local zoo {_models_yaml(zoo_dir(zoo))}; "
            "`python tools/zoo.py list` shows the keys it has."
        )
    return entry


def _refuse_conflicts(tree, key, overwrite):
    segments = key.split(".")
    for depth in range(1, len(segments)):
        ancestor = ".".join(segments[:depth])
        if is_entry(select(tree, ancestor)):
            raise ZooError(
                f"zoo key {key!r} would nest under the existing entry {ancestor!r}; "
                "choose a key that is not an extension of another key."
            )
    node = select(tree, key)
    if is_entry(node) and not overwrite:
        raise ZooError(
            f"zoo key {key!r} already exists (sha256 {entry_sha256(node)}); pass "
            "--overwrite to replace the entry (its old artifact file is kept) or pick "
            "another key."
        )
    if node is not None and not is_entry(node):
        raise ZooError(
            f"zoo key {key!r} already groups other entries; choose a longer key."
        )


def check_key_free(key, zoo=None, overwrite=False):
    """Fail before any heavy work when ``key`` cannot be added."""
    validate_key(key)
    _refuse_conflicts(read_zoo(zoo), key, overwrite)


@contextlib.contextmanager
def locked(lock_path):
    """Hold an exclusive lock on ``lock_path`` so concurrent writers take turns."""
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_entry(key, entry, zoo=None, overwrite=False):
    """Insert ``entry`` under ``key`` and rewrite the zoo yaml atomically."""
    zoo = zoo_dir(zoo)
    validate_key(key)
    with locked(os.path.join(zoo, ".models.yaml.lock")):
        tree = read_zoo(zoo)
        _refuse_conflicts(tree, key, overwrite)
        *parents, leaf = key.split(".")
        node = tree
        for segment in parents:
            node = node.setdefault(segment, {})
        node[leaf] = entry
        atomic_write_text(_models_yaml(zoo), yaml.safe_dump(tree, sort_keys=True))


def make_entry(file_name, sha256, version, architecture, source, trust_remote):
    """A zoo node rc10 can read (version, resources) plus what the hooks and users need."""
    return {
        "version": version,
        "resources": [
            {
                "url": f"{ARTIFACTS_DIR}/{file_name}",
                "file_name": file_name,
                "hashcode": sha256,
                "compressed": True,
            }
        ],
        "architecture": architecture,
        "trust_remote": bool(trust_remote),
        "source": source,
        "created_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def default_version():
    return datetime.date.today().strftime("%Y_%m_%d")


def resource_list(entry):
    """rc10 accepts one resource mapping or a list of them."""
    resources = entry["resources"]
    return [resources] if isinstance(resources, dict) else list(resources)


def _single_resource(entry):
    resources = resource_list(entry)
    if len(resources) != 1:
        raise ZooError(
            f"local zoo entry with file(s) {[r.get('file_name') for r in resources]} must "
            "list exactly one resource."
        )
    return resources[0]


def entry_sha256(entry):
    return _single_resource(entry)["hashcode"]


def artifact_path(entry, zoo=None):
    """Absolute path of an entry's tar: ``file://`` urls and plain paths, relative ones
    taken from the zoo dir."""
    url = _single_resource(entry)["url"]
    path = url[len("file://"):] if url.startswith("file://") else url
    if "://" in path:
        raise ZooError(f"local zoo entry url {url!r} is not a local path; re-import the artifact.")
    return os.path.join(zoo_dir(zoo), os.path.expanduser(path))


def existing_artifact(key, entry, zoo=None):
    """The entry's tar path, or an error saying how to restore it."""
    path = artifact_path(entry, zoo)
    if not os.path.isfile(path):
        raise ZooError(f"{path}: artifact of zoo key {key!r} is missing; export or import it again.")
    return path


def artifacts_dir(zoo=None):
    return os.path.join(zoo_dir(zoo), ARTIFACTS_DIR)
