"""``.npy`` files that may hold pickled objects, read without unrestricted pickle."""
import os

import numpy as np

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.safe_pickle import safe_load
from mmf_domainstudy.utils.atomic import atomic_open

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _read_header(handle, path, what, fix):
    """``(shape, fortran_order, dtype)`` from the open ``.npy`` file's header."""
    if os.fstat(handle.fileno()).st_size == 0:
        raise DataFormatError(f"{what} {path} is empty (0 bytes: an interrupted copy or download?); {fix}.")
    try:
        version = np.lib.format.read_magic(handle)
        return _HEADER_READERS[version](handle)
    except (ValueError, KeyError, EOFError) as err:
        raise DataFormatError(f"{what} {path} is not a readable .npy file ({err}); {fix}.") from None


def _open_npy(path, what, fix):
    if not os.path.isfile(path):
        raise DataFormatError(f"{what} {path} does not exist; {fix}.")
    return open(path, "rb")


def npy_shape(path, what="file", fix="check the path"):
    """The array shape a ``.npy`` header declares, read without loading the array."""
    path = os.fspath(path)
    with _open_npy(path, what, fix) as handle:
        return _read_header(handle, path, what, fix)[0]


def load_npy(path, what="file", fix="check the path"):
    """Load a ``.npy``; object arrays go through the restricted unpickler.

    ``what`` and ``fix`` word the error for a missing file, e.g.
    ``what="annotation file", fix="run tools/prepare_easy_vqa.py"``.
    """
    path = os.fspath(path)
    with _open_npy(path, what, fix) as handle:
        shape, fortran_order, dtype = _read_header(handle, path, what, fix)
        if not dtype.hasobject:
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
        array = safe_load(handle, source=path)
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise DataFormatError(f"{what} {path}: pickled payload does not match its .npy header; {fix}.")
    return array


def save_npy(path, array):
    """Atomically write ``array`` (object arrays pickled, as ``np.save`` does)."""
    with atomic_open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=True)


def object_array(items):
    """A 1-d object array of ``items``; ``np.array`` would broadcast nested lists."""
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    return array
