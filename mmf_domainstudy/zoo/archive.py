"""Zoo tars: hashing, deterministic packing and extraction that cannot escape its dir.

rc10 unpacks zoo tars with ``shutil.unpack_archive``, which follows whatever paths and
links a tar carries. Here every member is checked before a single byte is written, and
only plain files at the top level are accepted, because that is the only place rc10's
``load_pretrained_model`` looks for the checkpoint and its yaml.
"""
import hashlib
import os
import posixpath
import tarfile

from mmf_domainstudy.utils.atomic import atomic_open
from mmf_domainstudy.zoo.errors import ChecksumMismatchError, UnsafeArchiveError, ZooError

CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt")
# rc10 globs "*.yaml" only; a ".yml" would be silently ignored by it.
CONFIG_SUFFIX = ".yaml"
_CHUNK = 1 << 20


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, expected, what):
    """Raise naming ``path`` with both hashes when its content is not ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{path}: sha256 mismatch for {what}: expected {expected}, actual {actual}. "
            "Nothing was deleted; replace the file with the right one (or export / "
            "import it again) and retry."
        )
    return actual


def write_artifact_tar(tar_path, files):
    """Pack ``{member name: source path}`` with fixed metadata, so equal inputs give
    an equal sha256 whoever exports them and whenever."""
    with atomic_open(tar_path, "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size = os.path.getsize(files[name])
                info.mode = 0o644
                info.mtime = 0
                with open(files[name], "rb") as source:
                    tar.addfile(info, source)


def _member_problem(member):
    """Why a member is unsafe to extract, or None."""
    name = member.name
    if posixpath.isabs(name) or name.startswith("\\"):
        return "has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "climbs out of the target dir with '..'"
    if member.issym():
        return f"is a symlink (to {member.linkname!r})"
    if member.islnk():
        return f"is a hardlink (to {member.linkname!r})"
    if member.isdev():
        return "is a device or fifo"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file"
    return None


def checked_members(tar, tar_path):
    """The tar's regular files as ``{name: member}``, after refusing every unsafe or
    misplaced member; nothing is extracted here."""
    files = {}
    for member in tar.getmembers():
        problem = _member_problem(member)
        if problem:
            raise UnsafeArchiveError(
                f"{tar_path}: member {member.name!r} {problem}; refusing to extract "
                "anything from this archive. Only plain files are allowed in a zoo tar."
            )
        name = posixpath.normpath(member.name)
        if member.isdir() and name == ".":
            continue
        if member.isdir() or "/" in name or name == ".":
            raise ZooError(
                f"{tar_path}: member {member.name!r} is not a file at the top level; a "
                "zoo tar must hold its files there (rc10 looks nowhere else). Repack "
                "it with `tar -C <dir> -cf <tar> <files>`."
            )
        if name in files:
            raise UnsafeArchiveError(
                f"{tar_path}: member {member.name!r} appears twice; the second copy "
                "would overwrite the first. Refusing to extract anything."
            )
        files[name] = member
    return files


def artifact_layout(names, source):
    """``(checkpoint name, yaml name or None)`` of a zoo artifact's files.

    rc10 requires exactly one checkpoint and at most one yaml; ``source`` names the tar
    or dir in the error.
    """
    checkpoints = sorted(n for n in names if n.endswith(CHECKPOINT_SUFFIXES))
    configs = sorted(n for n in names if n.endswith(CONFIG_SUFFIX))
    if len(checkpoints) != 1:
        raise ZooError(
            f"{source}: a zoo artifact holds exactly one checkpoint "
            f"({'|'.join('*' + s for s in CHECKPOINT_SUFFIXES)}); found {checkpoints or 'none'}."
        )
    if len(configs) > 1:
        raise ZooError(
            f"{source}: a zoo artifact holds at most one {CONFIG_SUFFIX} file; found "
            f"{configs}. rc10 would not know which config to use."
        )
    return checkpoints[0], (configs[0] if configs else None)


def _open_tar(tar_path):
    try:
        return tarfile.open(tar_path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ZooError(
            f"{tar_path}: not a readable tar archive ({error}); the download may be "
            "truncated: compare its sha256 with the published one."
        ) from error


def safe_extract(tar_path, target_dir):
    """Extract a zoo tar's top-level files into the existing, empty ``target_dir``.

    Returns ``(checkpoint name, yaml name or None)``. Every member is checked before
    anything is written, so a refused archive leaves ``target_dir`` empty.
    """
    with _open_tar(tar_path) as tar:
        try:
            files = checked_members(tar, tar_path)
            layout = artifact_layout(files, tar_path)
            for name, member in files.items():
                source = tar.extractfile(member)
                with source, open(os.path.join(target_dir, name), "xb") as out:
                    for block in iter(lambda: source.read(_CHUNK), b""):
                        out.write(block)
        except (tarfile.TarError, EOFError) as error:
            raise ZooError(
                f"{tar_path}: the archive is damaged or truncated ({error}); compare "
                "its sha256 with the published one and download it again."
            ) from error
    return layout
