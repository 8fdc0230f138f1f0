"""Crash-safe writes: a reader sees the old file or the new one, never a torn one."""
import contextlib
import errno
import os
import shutil
import tempfile
import uuid

from mmf_domainstudy.utils.errors import BadInput

# Why a write can fail that the user must fix, and the fix.
_NO_ROOM = {errno.ENOSPC: "free space on that disk", errno.EDQUOT: "free space within your disk quota",
            errno.EFBIG: "raise the file-size limit (ulimit -f)"}
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class WriteFailedError(BadInput, OSError):
    """A file could not be written (disk full, read-only, no permission); the message names the fix."""


def _failed_write(error, errnos):
    """The OSError with one of ``errnos`` behind ``error`` (torch wraps them in RuntimeError), or None."""
    while error is not None and not isinstance(error, WriteFailedError):
        if isinstance(error, OSError) and error.errno in errnos:
            return error
        error = error.__cause__ or error.__context__
    return None


def _write_failed(error, directory, what, note="", elsewhere="write somewhere else"):
    if error.errno in _NO_ROOM:
        fix = f"{_NO_ROOM[error.errno]}, or {elsewhere}"
    else:
        fix = f"make {directory} writable, or {elsewhere}"
    failed = WriteFailedError(f"cannot write {what}: {os.strerror(error.errno)}; {fix}{note}")
    failed.errno = error.errno
    return failed


def check_writable_dir(directory, elsewhere="write somewhere else"):
    """Create ``directory`` if needed and prove a file can be written there, or raise WriteFailedError."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        if _failed_write(error, (*_NO_ROOM, *_NOT_WRITABLE)) is None:
            raise
        raise _write_failed(error, directory, f"in {directory}", elsewhere=elsewhere) from error


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temp file beside ``path``; on clean exit fsync it and rename over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was; a
    write that failed for want of room or permission becomes a WriteFailedError.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as error:
        if _failed_write(error, (*_NO_ROOM, *_NOT_WRITABLE)) is None:
            raise
        raise _write_failed(error, directory, path) from error
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        failure = _failed_write(error, _NO_ROOM)
        if failure is None:
            raise
        note = " (the file there before is unchanged)" if os.path.exists(path) else ""
        raise _write_failed(failure, directory, path, note) from error


def atomic_write_text(path, text):
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_copy(source, path):
    """``path`` atomically becomes a file with ``source``'s bytes: a hard link where the
    file system has them (nothing is written again), else a copy. A link is safe here
    because every write in this package replaces a file by rename, never in place, so
    a later write to one name leaves the other's bytes alone."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    link = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        os.link(source, link)
    except OSError:  # no hard links here (some network and FUSE file systems), or another disk
        with open(source, "rb") as original, atomic_open(path, "wb") as handle:
            shutil.copyfileobj(original, handle, 16 << 20)
        return
    try:
        os.replace(link, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        raise
