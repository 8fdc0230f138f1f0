"""Check that local zoo entries still hold what was registered and load as rc10 needs."""
from mmf_domainstudy.zoo.archive import check_sha256
from mmf_domainstudy.zoo.artifact import check_artifact
from mmf_domainstudy.zoo.local_zoo import (
    entry_sha256,
    existing_artifact,
    key_architecture,
    require_entry,
)


def verify_entry(key, zoo=None):
    """sha256, safe members, layout, loadable checkpoint, architecture; raises on the
    first problem and returns a summary otherwise."""
    entry = require_entry(key, zoo)
    tar_path = existing_artifact(key, entry, zoo)
    sha256 = check_sha256(tar_path, entry_sha256(entry), f"zoo key {key!r}")
    summary = check_artifact(
        tar_path, key_architecture(key), trust_remote=entry.get("trust_remote", False)
    )
    return dict(summary, key=key, sha256=sha256, path=tar_path)
