"""Register a downloaded zoo artifact (MMF's stock layout) in the local zoo.

The file's sha256 must equal the one the user gives, or the ``hashcode`` an MMF zoo yaml
publishes for it, before anything is unpacked; the user's file is never modified or
deleted. The zoo keeps its own copy, so the download may be removed afterwards.
"""
import hashlib
import os
import re
import warnings

import yaml

from mmf_domainstudy.utils.atomic import atomic_open
from mmf_domainstudy.zoo.archive import check_sha256
from mmf_domainstudy.zoo.artifact import check_artifact
from mmf_domainstudy.zoo.errors import ChecksumMismatchError, ZooError
from mmf_domainstudy.zoo.local_zoo import (
    add_entry,
    artifacts_dir,
    check_key_free,
    default_version,
    is_entry,
    key_architecture,
    make_entry,
    resource_list,
    select,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Upstream's "*.pretrained.coco" models saw COCO train+val images during pretraining.
_TRAIN_VAL_KEY = re.compile(r"\.pretrained\.coco(\.|$)")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")


def published_hash(zoo_yaml, zoo_key, file_name):
    """``(sha256, version)`` an MMF zoo yaml lists for ``file_name`` under ``zoo_key``.

    Like rc10, a key without its own version/resources falls back to its ``defaults``.
    """
    try:
        with open(zoo_yaml) as handle:
            tree = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ZooError(f"{zoo_yaml}: cannot read this zoo yaml ({error}).") from error
    node = select(tree, zoo_key)
    if isinstance(node, dict) and not is_entry(node):
        node = node.get("defaults")
    if not is_entry(node):
        raise ZooError(f"{zoo_yaml}: no entry with version and resources under {zoo_key!r}.")
    resources = resource_list(node)
    matching = [r for r in resources if r.get("file_name") == file_name]
    if not matching and len(resources) == 1:
        matching = resources
    if len(matching) != 1:
        raise ZooError(
            f"{zoo_yaml}: {zoo_key!r} lists files {[r.get('file_name') for r in resources]}; "
            f"none is named {file_name!r}. Rename the download to the published name."
        )
    sha256 = matching[0].get("hashcode")
    if not sha256:
        raise ZooError(
            f"{zoo_yaml}: {zoo_key!r} publishes no hashcode for {file_name!r}; pass the "
            "sha256 yourself with --sha256."
        )
    return str(sha256).lower(), str(node["version"])


def _archive_suffix(path):
    return next((s for s in _ARCHIVE_SUFFIXES if path.endswith(s)), ".tar")


def _copy_verified(source, destination, sha256):
    """Copy atomically; refuse the copy if the source changed while being read."""
    digest = hashlib.sha256()
    with atomic_open(destination, "wb") as out, open(source, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
        if digest.hexdigest() != sha256:
            raise ChecksumMismatchError(
                f"{source}: changed while being copied into the zoo (expected sha256 "
                f"{sha256}, read {digest.hexdigest()}); nothing was registered. Retry."
            )


def import_artifact(tar_path, key, sha256=None, zoo_yaml=None, zoo_key=None, version=None,
                    zoo=None, overwrite=False, trust_remote=False):
    """Verify ``tar_path`` and register it under ``key``; returns ``(key, entry)``.

    Give exactly one of ``sha256`` or ``zoo_yaml`` (an MMF models.yaml; the entry is
    looked up under ``zoo_key``, by default ``key``).
    """
    if not os.path.isfile(tar_path):
        raise ZooError(f"{tar_path}: file not found.")
    if (sha256 is None) == (zoo_yaml is None):
        raise ZooError(
            f"importing {tar_path}: give the expected sha256 (--sha256) or an MMF zoo yaml "
            "that publishes it (--zoo-yaml), exactly one of them."
        )
    published_version = None
    if zoo_yaml is not None:
        sha256, published_version = published_hash(
            zoo_yaml, zoo_key or key, os.path.basename(tar_path)
        )
    sha256 = sha256.strip().lower()
    if not _SHA256.match(sha256):
        raise ZooError(f"expected sha256 {sha256!r} for {tar_path} is not 64 hex digits.")
    if _TRAIN_VAL_KEY.search(zoo_key or key):
        warnings.warn(
            f"{zoo_key or key}: upstream's *.pretrained.coco models were pretrained on COCO "
            "train+val; evaluating one on VQA v2 val leaks val images into pretraining."
        )
    check_key_free(key, zoo, overwrite)
    check_sha256(tar_path, sha256, f"importing as {key!r}")
    architecture = key_architecture(key)
    check_artifact(tar_path, architecture, trust_remote=trust_remote)

    file_name = f"{key}.{sha256[:12]}{_archive_suffix(tar_path)}"
    _copy_verified(tar_path, os.path.join(artifacts_dir(zoo), file_name), sha256)
    entry = make_entry(
        file_name,
        sha256,
        version or published_version or default_version(),
        architecture,
        source=os.path.abspath(tar_path),
        trust_remote=trust_remote,
    )
    add_entry(key, entry, zoo, overwrite)
    return key, entry
