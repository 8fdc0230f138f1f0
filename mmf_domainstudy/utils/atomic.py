"""Crash-safe writes: a reader sees the old file or the new one, never a torn one."""
import contextlib
import os
import tempfile


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temp file beside ``path``; on clean exit fsync it and rename over ``path``.

    On any exception the temp file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_torch_save(obj, path):
    import torch

    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
