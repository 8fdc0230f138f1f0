"""Unpickling of feature stores and imdb files without running arbitrary code.

Feature stores and annotation files are downloaded from the internet; a plain
``pickle.loads`` on one of their records can execute any callable the file names.
The unpickler here resolves only the handful of globals that numpy arrays,
numpy scalars and plain Python containers need, and refuses everything else.
"""
import pickle

import numpy as np

from mmf_domainstudy.formats.errors import DataFormatError

try:
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray, numeric as _numeric

_NUMPY_GLOBALS = {
    "_reconstruct": _multiarray._reconstruct,
    "scalar": _multiarray.scalar,
    "_frombuffer": _numeric._frombuffer,
}
# numpy 1.x pickles name ``numpy.core.*``, numpy 2.x pickles ``numpy._core.*``.
_NUMPY_MODULES = {
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
    "numpy.core.numeric": ("_frombuffer",),
    "numpy._core.numeric": ("_frombuffer",),
}
_BUILTINS = {
    cls.__name__: cls
    for cls in (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float, bool, complex)
}

ALLOWED_GLOBALS = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [(module, name) for module, names in _NUMPY_MODULES.items() for name in names]
    + [(module, name) for module in ("builtins", "__builtin__") for name in _BUILTINS]
)


class RefusedPickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside ``ALLOWED_GLOBALS``."""


class RestrictedUnpickler(pickle.Unpickler):
    """Admits numpy arrays/scalars/dtypes and builtin containers, nothing else.

    ``_codecs.encode`` is admitted because protocol-2 pickles (old imdb files)
    spell every ``bytes`` value as a call to it; it only encodes strings.
    """

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedPickleError(f"global {module}.{name} is not allowed")
        if module == "numpy":
            return getattr(np, name)
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module in _NUMPY_MODULES:
            return _NUMPY_GLOBALS[name]
        return _BUILTINS[name]


def safe_load(handle, source):
    """Unpickle one object from an open binary file; ``source`` names it in errors."""
    try:
        return RestrictedUnpickler(handle).load()
    except RefusedPickleError as err:
        raise DataFormatError(
            f"{source}: refused to unpickle ({err}). Only numpy arrays and builtin "
            "containers are accepted, so this file was not written by MMF or by "
            "mmf_domainstudy; regenerate it with tools/extract_features.py or "
            "mmf_domainstudy.formats writers."
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as err:
        raise DataFormatError(
            f"{source}: corrupt pickle ({type(err).__name__}: {err}); the file is "
            "truncated or damaged: re-extract or re-download it."
        ) from None


class _MemoryReader:
    """A read-only file over a buffer without copying it first.

    ``io.BytesIO(memoryview)`` copies the whole record before unpickling even
    starts; here array payloads are copied once, by ``readinto``, into the
    arrays' own memory, so reading costs what MMF's ``pickle.loads`` costs.
    """

    __slots__ = ("_view", "_pos")

    def __init__(self, data):
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def read(self, size=-1):
        start = self._pos
        self._pos = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        return self._view[start : self._pos].tobytes()

    def readinto(self, buffer):
        size = min(len(buffer), len(self._view) - self._pos)
        buffer[:size] = self._view[self._pos : self._pos + size]
        self._pos += size
        return size

    def readline(self, size=-1):
        end = self._pos
        while end < len(self._view):
            chunk = self._view[end : end + 256].tobytes()
            newline = chunk.find(b"\n")
            if newline >= 0:
                end += newline + 1
                break
            end += len(chunk)
        return self.read(end - self._pos)


def safe_loads(data, source):
    """Unpickle ``data`` (bytes or memoryview); ``source`` names it in errors."""
    return safe_load(_MemoryReader(data), source)
