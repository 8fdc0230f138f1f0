"""Errors of the local zoo: each message names the file or key at fault and the fix.

All derive from ``ZooError`` (a ``BadInput``: the input is bad, not the code), so a
CLI can report any of them as one line without a traceback.
"""
from mmf_domainstudy.utils.errors import BadInput


class ZooError(BadInput, ValueError):
    """Bad zoo input: a run dir, key, zoo yaml, artifact or checkpoint."""


class ChecksumMismatchError(ZooError):
    """A file's sha256 differs from the one it was registered or published with."""


class UnsafeArchiveError(ZooError):
    """A tar member could write outside the extraction dir or is not a plain file."""


class UntrustedCheckpointError(ZooError):
    """A checkpoint needs arbitrary unpickling and the user did not trust it."""


class CorruptCheckpointError(ZooError):
    """A checkpoint cannot be read at all (truncated, damaged, not a checkpoint)."""


class ArchitectureMismatchError(ZooError):
    """Weights of one architecture offered where another is expected."""
