"""Unpack a local zoo entry where rc10 looks for downloaded models, marked as built.

rc10 keeps a zoo model in ``<env.data_dir>/models/<key>`` with a ``.built.json`` whose
``version`` must match the zoo's, else it downloads again. Writing that dir from the
local zoo (sha256 checked, members checked) means rc10's downloader has nothing to do.
The marker also records the artifact's sha256, so a re-exported key is unpacked anew.
"""
import datetime
import json
import os
import shutil
import tempfile

from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.zoo.archive import check_sha256, safe_extract
from mmf_domainstudy.zoo.errors import ZooError
from mmf_domainstudy.zoo.local_zoo import entry_sha256, existing_artifact, locked, require_entry

BUILT_MARKER = ".built.json"  # the file rc10's built()/mark_done() use
_CREATED_BY = "mmf_domainstudy.zoo"


def _read_marker(directory):
    try:
        with open(os.path.join(directory, BUILT_MARKER)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _is_current(directory, entry):
    marker = _read_marker(directory)
    return (
        marker is not None
        and marker.get("created_by") == _CREATED_BY
        and marker.get("version") == entry["version"]
        and marker.get("sha256") == entry_sha256(entry)
    )


def _extract_marked(tar_path, models_dir, entry):
    """A sibling dir holding the extracted artifact and its built marker."""
    staging = tempfile.mkdtemp(prefix=".extract-", dir=models_dir)
    try:
        safe_extract(tar_path, staging)
        marker = {
            "created_at": str(datetime.datetime.today()),
            "version": entry["version"],
            "sha256": entry_sha256(entry),
            "created_by": _CREATED_BY,
        }
        atomic_write_text(os.path.join(staging, BUILT_MARKER), json.dumps(marker))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _swap_in(staging, target):
    if not os.path.exists(target):
        os.replace(staging, target)
        return
    retired = tempfile.mkdtemp(prefix=".retired-", dir=os.path.dirname(target))
    os.replace(target, os.path.join(retired, "old"))
    os.replace(staging, target)
    shutil.rmtree(retired)


def materialize(key, models_dir, zoo=None):
    """Make ``<models_dir>/<key>`` hold the entry's files and return that dir.

    A dir there that the local zoo did not create (e.g. an upstream download under the
    same key) is never replaced: that is an error naming it.
    """
    entry = require_entry(key, zoo)
    target = os.path.join(models_dir, key)
    if _is_current(target, entry):
        return target
    os.makedirs(models_dir, exist_ok=True)
    with locked(os.path.join(models_dir, f".{key}.lock")):
        if _is_current(target, entry):
            return target
        marker = _read_marker(target)
        if os.path.exists(target) and (marker or {}).get("created_by") != _CREATED_BY:
            raise ZooError(
                f"{target} exists but was not unpacked from the local zoo; move it away "
                f"(it may be an upstream download of {key!r}) or register the artifact "
                "under another key."
            )
        tar_path = existing_artifact(key, entry, zoo)
        check_sha256(tar_path, entry_sha256(entry), f"zoo key {key!r}")
        _swap_in(_extract_marked(tar_path, models_dir, entry), target)
    return target
